"""The snapshot directory: atomic writes, the per-scale "latest" pointer, listing and pruning.

Layout under ``snapshots.directory`` (scales.yaml)::

    <scale>/
      LATEST                       the id of the scale's newest snapshot (replaced atomically)
      20260209-101530-a1b2/        one snapshot: manifest.json + one <table>.copy.zst per table
      .tmp-20260209-101530-a1b2-4242/   being written by process 4242 (never listed as valid)

A snapshot is written into a ``.tmp-*`` folder, flushed to disk, then renamed into place in
one step, and only then does ``LATEST`` move. A crash at any point leaves either the old state
or a ``.tmp-*`` folder that nothing reads and ``invoke prune`` removes. Deleting works the
other way round: rename to ``.del-*`` first, then remove, so a half-deleted snapshot never
looks valid.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from perfkit.snapshot.errors import CorruptSnapshotError, SnapshotNotFoundError
from perfkit.snapshot.manifest import MANIFEST_NAME, Manifest

LATEST = "LATEST"
_ID = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{4}$")
_TEMP = re.compile(r"^\.(tmp|del)-(?P<id>.+)-(?P<pid>\d+)$")


@dataclass(frozen=True)
class Snapshot:
    """A published snapshot whose manifest parsed (its data files are checked on restore)."""

    path: Path
    manifest: Manifest

    @property
    def id(self) -> str:
        return self.manifest.id

    @property
    def scale(self) -> str:
        return self.manifest.scale

    @property
    def created_at(self) -> datetime:
        return self.manifest.created_at

    @property
    def label(self) -> str:
        return f"{self.scale}/{self.id}"


@dataclass(frozen=True)
class BrokenSnapshot:
    """A folder that looks like a snapshot but whose manifest is unreadable or damaged."""

    path: Path
    scale: str
    id: str
    reason: str
    created_at: datetime

    @property
    def label(self) -> str:
        return f"{self.scale}/{self.id}"


Entry = Snapshot | BrokenSnapshot


@dataclass(frozen=True)
class Leftover:
    """A ``.tmp-*`` or ``.del-*`` folder of a process that is gone (a crash's remains)."""

    path: Path
    scale: str


def new_snapshot_id(now: datetime | None = None) -> str:
    """A sortable, unique id: UTC date and time plus four random hex digits."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


class SnapshotStore:
    """One snapshot directory. Cheap to make; holds no open files."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def scale_dir(self, scale: str) -> Path:
        return self.directory / scale

    # -- writing ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def building(self, scale: str, snapshot_id: str) -> Iterator[SnapshotBuilder]:
        """A private folder to write a snapshot into; removed unless it was published."""
        parent = self.scale_dir(scale)
        parent.mkdir(parents=True, exist_ok=True)
        tmp = parent / f".tmp-{snapshot_id}-{os.getpid()}"
        tmp.mkdir()
        builder = SnapshotBuilder(self, scale=scale, snapshot_id=snapshot_id, tmp=tmp)
        try:
            yield builder
        finally:
            if not builder.published:
                shutil.rmtree(tmp, ignore_errors=True)

    def set_latest(self, scale: str, snapshot_id: str) -> None:
        """Point the scale's ``LATEST`` at ``snapshot_id`` (write beside, then rename)."""
        parent = self.scale_dir(scale)
        tmp = parent / f".{LATEST}.{os.getpid()}.tmp"
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(snapshot_id + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(parent / LATEST)
        _fsync_dir(parent)

    # -- reading ---------------------------------------------------------------------------

    def scales(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(p.name for p in self.directory.iterdir() if p.is_dir() and p.name[0] != ".")

    def entries(self, scale: str | None = None) -> list[Entry]:
        """Every snapshot folder of ``scale`` (or of all scales), newest first."""
        out: list[Entry] = []
        for name in [scale] if scale else self.scales():
            parent = self.scale_dir(name)
            if not parent.is_dir():
                continue
            for path in parent.iterdir():
                if path.is_dir() and _ID.match(path.name):
                    out.append(self._read(path, name))
        out.sort(key=lambda e: (e.created_at, e.path.name), reverse=True)
        return out

    def snapshots(self, scale: str | None = None) -> list[Snapshot]:
        """The readable snapshots of ``scale`` (or of all scales), newest first."""
        return [e for e in self.entries(scale) if isinstance(e, Snapshot)]

    def get(self, scale: str, snapshot_id: str) -> Snapshot:
        """The snapshot ``snapshot_id`` of ``scale``; a damaged manifest is refused here."""
        path = self.scale_dir(scale) / snapshot_id
        if not _ID.match(snapshot_id) or not path.is_dir():
            raise SnapshotNotFoundError(scale, snapshot_id, where=str(self.directory))
        entry = self._read(path, scale)
        if isinstance(entry, BrokenSnapshot):
            raise CorruptSnapshotError(entry.label, reason=entry.reason, scale=scale)
        return entry

    def latest_id(self, scale: str) -> str | None:
        try:
            text = (self.scale_dir(scale) / LATEST).read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return text if _ID.match(text) else None

    def latest(self, scale: str, *, strict: bool = False) -> Snapshot | None:
        """The snapshot ``LATEST`` names, else the newest readable one, else None.

        With ``strict`` a damaged snapshot that ``LATEST`` names is an error rather than a
        reason to fall back to an older one (what ``restore`` wants).
        """
        pointed = self.latest_id(scale)
        if pointed and (self.scale_dir(scale) / pointed).is_dir():
            entry = self._read(self.scale_dir(scale) / pointed, scale)
            if isinstance(entry, Snapshot):
                return entry
            if strict:
                raise CorruptSnapshotError(entry.label, reason=entry.reason, scale=scale)
        found = self.snapshots(scale)
        return found[0] if found else None

    def leftovers(self, scale: str | None = None) -> list[Leftover]:
        """``.tmp-*``/``.del-*`` folders whose writing process no longer runs."""
        out: list[Leftover] = []
        for name in [scale] if scale else self.scales():
            parent = self.scale_dir(name)
            if not parent.is_dir():
                continue
            for path in parent.iterdir():
                m = _TEMP.match(path.name)
                if m and path.is_dir() and not _alive(int(m["pid"])):
                    out.append(Leftover(path=path, scale=name))
        return out

    # -- deleting --------------------------------------------------------------------------

    def remove(self, path: Path) -> None:
        """Delete a snapshot or leftover folder: rename it out of sight first, then remove."""
        if path.name.startswith("."):
            shutil.rmtree(path, ignore_errors=True)
            return
        doomed = path.with_name(f".del-{path.name}-{os.getpid()}")
        path.rename(doomed)
        shutil.rmtree(doomed, ignore_errors=True)

    def _read(self, path: Path, scale: str) -> Entry:
        mtime = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        manifest_path = path / MANIFEST_NAME
        try:
            text = manifest_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return BrokenSnapshot(path, scale, path.name, "manifest.json is missing", mtime)
        except (OSError, UnicodeDecodeError) as exc:
            return BrokenSnapshot(path, scale, path.name, f"manifest.json unreadable: {exc}", mtime)
        try:
            manifest = Manifest.from_json(text, source=f"{scale}/{path.name}")
        except CorruptSnapshotError as exc:
            return BrokenSnapshot(path, scale, path.name, exc.reason, mtime)
        if manifest.id != path.name or manifest.scale != scale:
            reason = f"manifest.json names {manifest.scale}/{manifest.id}, not this folder"
            return BrokenSnapshot(path, scale, path.name, reason, mtime)
        return Snapshot(path, manifest)


class SnapshotBuilder:
    """The folder a snapshot is being written into; :meth:`publish` makes it visible."""

    def __init__(self, store: SnapshotStore, *, scale: str, snapshot_id: str, tmp: Path) -> None:
        self.store = store
        self.scale = scale
        self.snapshot_id = snapshot_id
        self.dir = tmp
        self.published = False

    def publish(self, manifest: Manifest, *, make_latest: bool = True) -> Snapshot:
        """Write the manifest, flush everything, rename into place, then move ``LATEST``."""
        if manifest.id != self.snapshot_id or manifest.scale != self.scale:
            raise ValueError("manifest does not belong to this snapshot")  # a bug, not input
        with (self.dir / MANIFEST_NAME).open("w", encoding="utf-8") as fh:
            fh.write(manifest.to_json())
            fh.flush()
            os.fsync(fh.fileno())
        for path in self.dir.iterdir():
            if path.name != MANIFEST_NAME:
                _fsync_file(path)
        _fsync_dir(self.dir)
        final = self.store.scale_dir(self.scale) / self.snapshot_id
        self.dir.rename(final)
        self.published = True
        _fsync_dir(final.parent)
        if make_latest:
            self.store.set_latest(self.scale, self.snapshot_id)
        return Snapshot(final, manifest)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        _fsync_file(path)
