"""Parsed YAML kept by the hash of its text, so that a command whose scales.yaml has not changed
imports no YAML parser.

PyYAML's import is about 12 ms, and ``perfkit db-status`` may take 150 in all; a parsed
scales.yaml unpickles in 30 µs. :func:`perfkit.yamlfile.read_yaml` asks :func:`get` first and
hands what it parsed to :func:`put`. Only successful parses are kept: an error is found again by
parsing.

**Where.** ``$PERFKIT_CACHE_DIR`` (empty: no cache at all), else
``$XDG_CACHE_HOME/perfkit``, else ``~/.cache/perfkit``; in ``yaml/``, one file per text, named
by a hash of the text, of perfkit's version and of the parser's files (a new PyYAML or a new
perfkit never reads an old entry). At most :data:`MAX_ENTRIES`: a write beyond that removes
the oldest.

**Trust.** An entry is a pickle, trusted as Python trusts ``__pycache__``: it is read only when
the file and its folder belong to this user and nobody else may write to them, and never
through a symbolic link. Anything wrong with the cache (a read-only home, a full disk, a
corrupt, foreign or vanished entry, two commands writing at once) means the text is parsed as
if there were no cache, silently; an entry is written to a temporary file and renamed into
place, so a reader never sees half of one.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import stat
from pathlib import Path
from typing import Any, Final

#: What :func:`get` returns when the cache does not hold the text (``None`` is a document).
MISSING: Final = object()
#: Entries kept; a write beyond that removes the oldest.
MAX_ENTRIES = 64
_SUFFIX = ".pickle"


def cache_dir() -> Path | None:
    """Where entries go (see the module docstring), or None when ``PERFKIT_CACHE_DIR`` is set
    empty (or no home folder can be found)."""
    chosen = os.environ.get("PERFKIT_CACHE_DIR")
    if chosen is not None:
        return Path(chosen).expanduser() / "yaml" if chosen.strip() else None
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "perfkit" / "yaml"
    try:
        return Path.home() / ".cache" / "perfkit" / "yaml"
    except (RuntimeError, KeyError, OSError):  # no home to be found: no cache
        return None


def get(text: str) -> Any:
    """The tree parsed from ``text`` before, a new copy, or :data:`MISSING`."""
    entry = _entry(text)
    if entry is None:
        return MISSING
    try:
        fd = os.open(entry, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return MISSING
    try:
        if not (_private(os.fstat(fd)) and _private(entry.parent.lstat())):
            return MISSING
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return pickle.load(fh)  # noqa: S301 - this user's own private file (see above)
    except Exception:
        return MISSING
    finally:
        os.close(fd)


def put(text: str, tree: Any) -> None:
    """Keep ``tree`` as what ``text`` parses to; a failure to keep it changes nothing."""
    entry = _entry(text)
    if entry is None:
        return
    try:
        entry.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _private(entry.parent.lstat()):
            return
        blob = pickle.dumps(tree, protocol=pickle.HIGHEST_PROTOCOL)
        tmp = entry.with_name(f".{entry.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(blob)
            tmp.replace(entry)
        finally:
            tmp.unlink(missing_ok=True)
        _prune(entry.parent)
    except Exception:  # noqa: S110 - no cache is a slower run, never a failed one
        pass


def _entry(text: str) -> Path | None:
    folder = cache_dir()
    if folder is None:
        return None
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=20)
    digest.update(_parser_version())
    return folder / f"{digest.hexdigest()}{_SUFFIX}"


@functools.cache
def _parser_version() -> bytes:
    """perfkit's version and the identity (size, time) of the parser's files: a new PyYAML or
    a changed perfkit never reads an entry an old one wrote."""
    import importlib.util

    import perfkit

    parts = [perfkit.__version__]
    yaml_spec = importlib.util.find_spec("yaml")
    for origin in (Path(__file__).with_name("yamlparse.py"), yaml_spec and yaml_spec.origin):
        try:
            info = Path(origin).stat() if origin else None
        except OSError:
            info = None
        parts.append(f"{info.st_size}:{info.st_mtime_ns}" if info else "-")
    return "|".join(parts).encode()


def _private(info: os.stat_result) -> bool:
    """Owned by this user, and writable by nobody else."""
    return info.st_uid == os.geteuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _prune(folder: Path) -> None:
    entries = sorted(folder.glob(f"*{_SUFFIX}"), key=lambda p: p.stat().st_mtime_ns)
    for old in entries[: max(0, len(entries) - MAX_ENTRIES)]:
        old.unlink(missing_ok=True)
