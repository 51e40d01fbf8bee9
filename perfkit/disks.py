"""A full disk, said the way a user can act on: which device, which file, what was kept.

A write that fails with ``ENOSPC`` (or ``EDQUOT``) carries no hint of where the space ran
out; :func:`device_of` finds the filesystem a path is on (its mount point, and the device
``/proc/self/mounts`` names for it), and :class:`DiskFullError` is the one line the front
ends print: ``no space left on <device> while writing <file>``.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from perfkit.errors import PerfkitError

#: The errors that mean "the disk (or the user's quota) is full".
FULL = (errno.ENOSPC, errno.EDQUOT)
MOUNTS = Path("/proc/self/mounts")
HINT = (
    "free some space, or move snapshots and results to a larger disk "
    "(PERFKIT_SNAPSHOT_DIR, PERFKIT_RESULTS_DIR, PERFKIT_STATE_DIR)"
)


class DiskFullError(PerfkitError):
    """A write ran out of space. ``device`` is the filesystem (as :func:`device_of` names
    it), ``path`` the file being written, ``kept`` whether the half-written output may
    remain (False when the writer removed it before raising)."""

    def __init__(self, *, device: str, path: str, kept: bool) -> None:
        outcome = "" if kept else "; nothing was kept"
        super().__init__(f"no space left on {device} while writing {path}{outcome}", hint=HINT)
        self.device = device
        self.path = path
        self.kept = kept


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` is an ``OSError`` saying the disk or the quota is full."""
    return isinstance(exc, OSError) and exc.errno in FULL


def disk_full(path: str | os.PathLike[str], *, kept: bool) -> DiskFullError:
    """The :class:`DiskFullError` for a failed write of ``path``."""
    return DiskFullError(device=device_of(path), path=str(path), kept=kept)


def device_of(path: str | os.PathLike[str]) -> str:
    """The filesystem ``path`` is on: ``<device> (<mount point>)``, e.g. ``/dev/sda1
    (/home)`` or ``tmpfs (/tmp/x)``; the mount point alone when the device is unknown. The
    path need not exist any more (a removed half-written file): its nearest existing folder
    tells."""
    mount = _mount_point(Path(path).absolute())
    source = _mount_sources().get(str(mount))
    return f"{source} ({mount})" if source and source != str(mount) else str(mount)


def _mount_point(path: Path) -> Path:
    here = next((p for p in (path, *path.parents) if os.path.lexists(p)), Path("/"))
    try:
        device = here.stat().st_dev
        while here != here.parent and here.parent.stat().st_dev == device:
            here = here.parent
    except OSError:
        pass
    return here


def _mount_sources() -> dict[str, str]:
    """Mount point -> device, from ``/proc/self/mounts`` (the last mount of a point wins, as
    the kernel stacks them); empty where there is no such file."""
    try:
        lines = MOUNTS.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return {}
    out: dict[str, str] = {}
    for line in lines:
        fields = line.split()
        if len(fields) >= 2:
            out[_unescape(fields[1])] = _unescape(fields[0])
    return out


def _unescape(field: str) -> str:
    """``/proc/mounts`` writes a space as ``\\040`` (and tab, newline, backslash alike)."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field
