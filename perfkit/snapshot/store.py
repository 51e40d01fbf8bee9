"""The snapshot directory: atomic writes, the per-scale "latest" pointer, listing and pruning.

Layout under ``snapshots.directory`` (scales.yaml)::

    .perfkit-snapshots             perfkit's marker: this folder is perfkit's
    <scale>/
      LATEST                       the id of the scale's newest snapshot (replaced atomically)
      20260209-101530-a1b2/        one snapshot: manifest.json + one <table>.copy.zst per table
      .tmp-20260209-101530-a1b2-4242/   being written by process 4242 (never listed as valid)

A snapshot is written into a ``.tmp-*`` folder, flushed to disk, then renamed into place in
one step, and only then does ``LATEST`` move. A crash at any point leaves either the old state
or a ``.tmp-*`` folder that nothing reads and ``perfkit prune`` removes. Deleting works the
other way round: rename to ``.del-*`` first, then remove, so a half-deleted snapshot never
looks valid.

**Ownership.** The folder is perfkit's only when it carries the marker, which perfkit writes
when it first writes into a folder that is new or empty. A non-empty folder without it (a
shared folder, say) is refused with :class:`~perfkit.errors.SnapshotDirectoryError`: perfkit
does not read, write or delete there. Inside, symbolic links are never followed: a link is
listed as broken and never removed.

**Authenticity.** Every manifest is signed (:mod:`.manifest`) with the project's snapshot key:
32 random bytes in ``<state_dir>/snapshot.key``, mode 0600, made on the first write. The
marker records which key signs the folder's snapshots. Only a snapshot whose signature holds
is a :class:`Snapshot`; any other is a :class:`BrokenSnapshot` (``untrusted`` when only the
signature fails), which nothing restores and ``prune`` never deletes: perfkit deletes only
what it can prove it wrote. A snapshot from elsewhere becomes trusted through
``perfkit trust`` (:func:`perfkit.snapshot.listing.trust_snapshot`).

Over 400 lines: the store is the one place that touches snapshot files, so every file-safety
rule (ownership marker, signatures, no links, regular files only) is enforced here and
nowhere else.

Over 500 lines: the on-disk format's one reader and writer (atomic writes, the latest pointer,
signing, listing, leftovers); split, each half would need the other's invariants.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import shutil
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from perfkit.errors import SnapshotDirectoryError, SnapshotKeyError
from perfkit.snapshot.errors import CorruptSnapshotError, SnapshotNotFoundError
from perfkit.snapshot.manifest import (
    DATA_SUFFIX,
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    SCALE_NAME,
    SCHEMA_NAME,
    Manifest,
    ManifestFile,
    read_manifest,
)

if TYPE_CHECKING:
    from perfkit.run import Run

LATEST = "LATEST"
MARKER = ".perfkit-snapshots"
MARKER_FORMAT = "perfkit-snapshots"
KEY_NAME = "snapshot.key"
KEY_BYTES = 32
_ID = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{4}$")
_TEMP = re.compile(r"^\.(tmp|del)-(?P<id>\d{8}-\d{6}-[0-9a-f]{4})-(?P<pid>\d{1,10})$")
_MANIFEST_TMP = re.compile(r"\.manifest\.json\.\d+\.tmp")  # see write_manifest
_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


class UntrustedSnapshotError(CorruptSnapshotError):
    """A snapshot whose manifest is well-formed but not proven written by this project.

    ``snapshot`` is its label, ``reason`` why its signature does not hold, ``snapshot_id``
    its id (the hint names the trust step with it).
    """

    def __init__(self, snapshot: str, *, reason: str, scale: str, snapshot_id: str) -> None:
        CorruptSnapshotError.__init__(self, snapshot, reason=reason, scale=scale)
        self.message = f"snapshot {snapshot} is untrusted: {reason}; nothing was restored"
        self.hint = (
            f"if you know where it came from, check and sign it: `perfkit trust --scale {scale} "
            f"--snapshot {snapshot_id}`; else make a new one: `perfkit snapshot --scale {scale}`"
        )
        self.args = (self.message,)
        self.snapshot_id = snapshot_id


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
    """A folder that looks like a snapshot but whose manifest is unreadable, damaged or not
    proven to be this project's (``untrusted``: well-formed, but its signature fails)."""

    path: Path
    scale: str
    id: str
    reason: str
    created_at: datetime
    untrusted: bool = False

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
    """One snapshot directory. Cheap to make; holds no open files.

    ``key_file`` is the project's snapshot key (:meth:`for_run`: ``<state_dir>/snapshot.key``)
    used when this store first claims the folder; afterwards the folder's marker names its
    key. Without either, the key sits beside the folder (``<directory>/../snapshot.key``,
    which is ``<state_dir>/snapshot.key`` for the default ``.perfkit/snapshots``).
    ``tables``, when given, are the only table names a manifest may hold (the application's
    schema).
    """

    def __init__(
        self,
        directory: Path,
        *,
        key_file: Path | None = None,
        tables: Sequence[str] | None = None,
    ) -> None:
        self.directory = directory
        self.key_file = key_file
        self.tables = frozenset(tables) if tables is not None else None
        self._key: bytes | None = None

    @classmethod
    def for_run(cls, run: Run, *, tables: Sequence[str] | None = None) -> SnapshotStore:
        """The configured snapshot directory, this project's key, the run's application's
        tables (``tables``, when the caller knows them without loading it)."""
        return cls(
            run.cfg.snapshots.directory,
            key_file=run.cfg.state_dir / KEY_NAME,
            tables=run.app.all_tables if tables is None else tables,
        )

    def scale_dir(self, scale: str) -> Path:
        return self.directory / scale

    # -- ownership and the key -------------------------------------------------------------

    @property
    def marker(self) -> Path:
        return self.directory / MARKER

    def owned(self) -> bool:
        """True when the folder carries perfkit's marker; False when it is missing or empty
        (nothing to read). A non-empty folder without the marker is refused."""
        try:
            info = self.directory.stat()
        except FileNotFoundError:
            return False
        if not stat.S_ISDIR(info.st_mode):
            raise SnapshotDirectoryError(str(self.directory), reason="it is not a folder")
        if self._read_marker() is not None:
            return True
        with os.scandir(self.directory) as children:
            empty = next(children, None) is None
        if not empty:
            raise SnapshotDirectoryError(
                str(self.directory), reason=f"it is not empty and has no {MARKER} marker"
            )
        return False

    def claim(self, *, adopt: bool = False) -> bool:
        """Make sure the folder is perfkit's before writing: a new or empty folder gets the
        marker (naming the key that signs its snapshots); any other must carry it already.

        ``adopt`` (the explicit trust step only) also marks a folder that holds nothing but
        what perfkit writes: scale folders of snapshot folders, ``LATEST`` and leftovers
        (snapshots copied in by hand, or made by a perfkit from before the marker).
        Returns whether this call marked the folder."""
        try:
            if self.owned():
                return False
        except SnapshotDirectoryError:
            if not adopt or self._read_marker() is not None or not _perfkit_shaped(self.directory):
                raise
        self.directory.mkdir(parents=True, exist_ok=True)
        key = self.key_file or self.directory.parent / KEY_NAME
        body = {"format": MARKER_FORMAT, "key_file": str(key.absolute())}
        try:
            _write_new(self.marker, (json.dumps(body, indent=2) + "\n").encode(), mode=0o644)
        except FileExistsError:  # claimed by another process meanwhile
            return False
        _fsync_dir(self.directory)
        return True

    def _unclaim(self, scale: str) -> None:
        """Undo :meth:`claim` after a failed first write: the folder is left as it was found
        (empty), unless something else arrived meanwhile."""
        with contextlib.suppress(OSError):
            self.scale_dir(scale).rmdir()  # only when empty
        with contextlib.suppress(OSError), os.scandir(self.directory) as children:
            if [c.name for c in children] == [MARKER]:
                self.marker.unlink()

    def _read_marker(self) -> dict[str, str] | None:
        """The marker's content ({} for an empty one), None when there is none. A marker
        that is not a regular file of this user, or not perfkit's, is refused."""
        try:
            data = _read_regular(self.marker, limit=4096)
        except FileNotFoundError:
            return None
        except _NotRegular as exc:
            raise SnapshotDirectoryError(
                str(self.directory), reason=f"its {MARKER} marker {exc.what}"
            ) from None
        if data.owner != os.geteuid():
            raise SnapshotDirectoryError(
                str(self.directory), reason=f"its {MARKER} marker belongs to another user"
            )
        if not data.content.strip():
            return {}
        try:
            body = json.loads(data.content)
        except ValueError:
            body = None
        if (
            not isinstance(body, dict)
            or body.get("format") != MARKER_FORMAT
            or not isinstance(body.get("key_file", ""), str)
        ):
            raise SnapshotDirectoryError(
                str(self.directory), reason=f"its {MARKER} marker is not perfkit's"
            )
        return {"key_file": body["key_file"]} if body.get("key_file") else {}

    def key_path(self) -> Path:
        """The key file that signs this folder's snapshots (see the class docstring)."""
        recorded = (self._read_marker() or {}).get("key_file")
        if recorded:
            path = Path(recorded)
            if not path.is_absolute() or path.name != KEY_NAME or "\0" in recorded:
                raise SnapshotDirectoryError(
                    str(self.directory), reason=f"its {MARKER} marker names no usable key"
                )
            return path
        return self.key_file or self.directory.parent / KEY_NAME

    def key(self, *, create: bool = False) -> bytes | None:
        """The snapshot key (made, 0600, when ``create`` and there is none); None when there
        is none. A key others could read or replace is refused."""
        if self._key is not None:
            return self._key
        path = self.key_path()
        inside = self.directory.resolve()
        if inside == path.resolve() or inside in path.resolve().parents:
            raise SnapshotKeyError(
                str(path),
                reason="it lies inside the snapshot folder whose snapshots it vouches for",
                hint=f"{self.marker} must name this project's key: <state dir>/{KEY_NAME}",
            )
        try:
            data = _read_regular(path, limit=KEY_BYTES + 1)
        except FileNotFoundError:
            if not create:
                return None
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            with contextlib.suppress(FileExistsError):  # made by another process meanwhile
                _write_new(path, secrets.token_bytes(KEY_BYTES), mode=0o600)
            return self.key(create=False)
        except _NotRegular as exc:
            raise SnapshotKeyError(
                str(path), reason=exc.what, hint="remove it; the next snapshot makes a new key"
            ) from None
        if data.owner != os.geteuid() or data.mode & 0o077:
            raise SnapshotKeyError(
                str(path),
                reason="others could read or replace it",
                hint=f"make it yours and private (chmod 600 {path}), or remove it and "
                "re-snapshot (snapshots signed with it become untrusted)",
            )
        if len(data.content) != KEY_BYTES:
            raise SnapshotKeyError(
                str(path),
                reason=f"it does not hold {KEY_BYTES} bytes",
                hint="remove it and re-snapshot (snapshots signed with it become untrusted)",
            )
        self._key = data.content
        return self._key

    # -- writing ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def building(self, scale: str, snapshot_id: str) -> Iterator[SnapshotBuilder]:
        """A private folder to write a snapshot into; removed unless it was published."""
        if not SCALE_NAME.fullmatch(scale) or not _ID.fullmatch(snapshot_id):
            raise ValueError(f"not a scale and snapshot id: {scale!r}, {snapshot_id!r}")  # a bug
        claimed = self.claim()
        try:
            self.key(create=True)
            parent = self._made_scale_dir(scale)
            tmp = parent / f".tmp-{snapshot_id}-{os.getpid()}"
            tmp.mkdir()
        except BaseException:
            if claimed:
                self._unclaim(scale)
            raise
        builder = SnapshotBuilder(self, scale=scale, snapshot_id=snapshot_id, tmp=tmp)
        try:
            yield builder
        finally:
            if not builder.published:
                shutil.rmtree(tmp, ignore_errors=True)
                if claimed:  # a failed first write leaves the folder as it was
                    self._unclaim(scale)

    def set_latest(self, scale: str, snapshot_id: str) -> None:
        """Point the scale's ``LATEST`` at ``snapshot_id`` (write beside, then rename)."""
        if not _ID.fullmatch(snapshot_id):
            raise ValueError(f"not a snapshot id: {snapshot_id!r}")  # a bug, not input
        self.claim()
        parent = self._made_scale_dir(scale)
        tmp = parent / f".{LATEST}.{os.getpid()}.tmp"
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        _write_new(tmp, (snapshot_id + "\n").encode(), mode=0o644)
        tmp.replace(parent / LATEST)
        _fsync_dir(parent)

    def write_manifest(self, path: Path, manifest: Manifest) -> Snapshot:
        """Replace the manifest of the snapshot folder ``path`` by ``manifest``, signed with
        this project's key (written beside, then renamed over). What ``perfkit trust`` does
        after its checks; nothing else rewrites a published manifest."""
        if path.parent.parent != self.directory or not _is_real_dir(path):
            raise ValueError(f"{path} is not a snapshot folder of {self.directory}")  # a bug
        if manifest.id != path.name or manifest.scale != path.parent.name:
            raise ValueError("manifest does not belong to this snapshot")  # a bug, not input
        self.claim()
        key = self.key(create=True)
        tmp = path / f".{MANIFEST_NAME}.{os.getpid()}.tmp"
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        _write_new(tmp, manifest.to_json(key=key).encode(), mode=0o644)
        tmp.replace(path / MANIFEST_NAME)
        _fsync_dir(path)
        return Snapshot(path, manifest)

    # -- reading ---------------------------------------------------------------------------

    def scales(self) -> list[str]:
        """The scale folders: real folders (not links) named like a scale."""
        if not self.owned():
            return []
        return sorted(
            p.name
            for p in self.directory.iterdir()
            if SCALE_NAME.fullmatch(p.name) and _is_real_dir(p)
        )

    def entries(self, scale: str | None = None) -> list[Entry]:
        """Every snapshot folder of ``scale`` (or of all scales), newest first.

        A symbolic link named like a snapshot is listed as broken (never followed)."""
        out: list[Entry] = []
        for name in [scale] if scale else self.scales():
            parent = self._real_scale_dir(name)
            if parent is None:
                continue
            for path in parent.iterdir():
                if not _ID.fullmatch(path.name):
                    continue
                if path.is_symlink():
                    reason = "it is a symbolic link (perfkit does not follow links)"
                    out.append(BrokenSnapshot(path, name, path.name, reason, _mtime(path)))
                elif _is_real_dir(path):
                    out.append(self._read(path, name))
        out.sort(key=lambda e: (e.created_at, e.path.name), reverse=True)
        return out

    def snapshots(self, scale: str | None = None) -> list[Snapshot]:
        """The readable snapshots of ``scale`` (or of all scales), newest first."""
        return [e for e in self.entries(scale) if isinstance(e, Snapshot)]

    def entry(self, scale: str, snapshot_id: str) -> Entry:
        """The folder of snapshot ``snapshot_id`` of ``scale``, readable or not."""
        parent = self._real_scale_dir(scale) if _ID.fullmatch(snapshot_id) else None
        path = parent / snapshot_id if parent else None
        if path is None or not (path.is_symlink() or _is_real_dir(path)):
            raise SnapshotNotFoundError(scale, snapshot_id, where=str(self.directory))
        if path.is_symlink():
            reason = "it is a symbolic link (perfkit does not follow links)"
            return BrokenSnapshot(path, scale, snapshot_id, reason, _mtime(path))
        return self._read(path, scale)

    def get(self, scale: str, snapshot_id: str) -> Snapshot:
        """The snapshot ``snapshot_id`` of ``scale``; a damaged or untrusted manifest is
        refused here."""
        return _usable(self.entry(scale, snapshot_id))

    def latest_id(self, scale: str) -> str | None:
        parent = self._real_scale_dir(scale)
        if parent is None:
            return None
        try:
            text = _read_regular(parent / LATEST, limit=64).content.decode().strip()
        except (OSError, _NotRegular, UnicodeDecodeError):
            return None
        return text if _ID.fullmatch(text) else None

    def latest(self, scale: str, *, strict: bool = False) -> Snapshot | None:
        """The snapshot ``LATEST`` names, else the newest readable one, else None.

        With ``strict`` a damaged snapshot that ``LATEST`` names is an error rather than a
        reason to fall back to an older one (what ``restore`` wants).
        """
        pointed = self.latest_id(scale)
        parent = self._real_scale_dir(scale)
        if pointed and parent is not None and _is_real_dir(parent / pointed):
            entry = self._read(parent / pointed, scale)
            if isinstance(entry, Snapshot):
                return entry
            if strict:
                _usable(entry)
        found = self.snapshots(scale)
        return found[0] if found else None

    def leftovers(self, scale: str | None = None) -> list[Leftover]:
        """``.tmp-*``/``.del-*`` folders whose writing process no longer runs, and that hold
        nothing but what perfkit writes there (data files and a manifest): proof enough
        that perfkit made them."""
        out: list[Leftover] = []
        for name in [scale] if scale else self.scales():
            parent = self._real_scale_dir(name)
            if parent is None:
                continue
            for path in parent.iterdir():
                m = _TEMP.fullmatch(path.name)
                if (
                    m
                    and _is_real_dir(path)
                    and _only_snapshot_files(path)
                    and not _alive(int(m["pid"]))
                ):
                    out.append(Leftover(path=path, scale=name))
        return out

    # -- deleting --------------------------------------------------------------------------

    def remove(self, path: Path) -> bool:
        """Delete a snapshot or leftover folder of this store: rename it out of sight first,
        then remove. Returns whether it is gone; anything that is not a real folder of this
        store (a symbolic link, say) is left alone and False is returned."""
        if path.parent.parent != self.directory or not _is_real_dir(path):
            return False
        if not path.name.startswith("."):
            doomed = path.with_name(f".del-{path.name}-{os.getpid()}")
            path.rename(doomed)
            path = doomed
        shutil.rmtree(path, ignore_errors=True)
        return not os.path.lexists(path)

    def _real_scale_dir(self, scale: str) -> Path | None:
        """The scale's folder when it is a real folder (never a link) of an owned store."""
        if not SCALE_NAME.fullmatch(scale) or not self.owned():
            return None
        path = self.scale_dir(scale)
        return path if _is_real_dir(path) else None

    def _made_scale_dir(self, scale: str) -> Path:
        """The scale's folder, made if needed, in a folder :meth:`claim` made perfkit's."""
        if not SCALE_NAME.fullmatch(scale):
            raise ValueError(f"not a scale name: {scale!r}")  # a bug: scales.yaml checks names
        path = self.scale_dir(scale)
        with contextlib.suppress(FileExistsError):
            path.mkdir()
        if not _is_real_dir(path):
            raise SnapshotDirectoryError(
                str(self.directory), reason=f"{scale} in it is not a folder perfkit made"
            )
        return path

    def _read(self, path: Path, scale: str) -> Entry:
        mtime = _mtime(path)

        def broken(reason: str, *, untrusted: bool = False) -> BrokenSnapshot:
            return BrokenSnapshot(path, scale, path.name, reason, mtime, untrusted=untrusted)

        try:
            parsed = load_manifest(path, source=f"{scale}/{path.name}")
        except CorruptSnapshotError as exc:
            return broken(exc.reason)
        manifest = parsed.manifest
        if manifest.id != path.name or manifest.scale != scale:
            return broken(f"manifest.json names {manifest.scale}/{manifest.id}, not this folder")
        if self.tables is not None:
            unknown = [t.table for t in manifest.tables if t.table not in self.tables]
            if unknown:
                return broken(
                    f"manifest.json names table {unknown[0]}, which the application's schema "
                    "does not have"
                )
        problem = parsed.trust_problem(self.key())
        if problem is not None:
            return broken(f"untrusted: {problem}", untrusted=True)
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
        """Write the manifest (signed with the project's key), flush everything, rename into
        place, then move ``LATEST``."""
        if manifest.id != self.snapshot_id or manifest.scale != self.scale:
            raise ValueError("manifest does not belong to this snapshot")  # a bug, not input
        key = self.store.key(create=True)
        with (self.dir / MANIFEST_NAME).open("w", encoding="utf-8") as fh:
            fh.write(manifest.to_json(key=key))
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


def load_manifest(path: Path, *, source: str) -> ManifestFile:
    """Read and check the manifest of the snapshot folder ``path`` (a regular file, read
    without following links or blocking); any problem is a :class:`CorruptSnapshotError`."""
    try:
        raw = _read_regular(path / MANIFEST_NAME, limit=MAX_MANIFEST_BYTES)
        text = raw.content.decode("utf-8")
    except FileNotFoundError:
        raise CorruptSnapshotError(source, reason="manifest.json is missing") from None
    except _NotRegular as exc:
        raise CorruptSnapshotError(source, reason=f"manifest.json {exc.what}") from None
    except UnicodeDecodeError:
        raise CorruptSnapshotError(source, reason="manifest.json is not UTF-8 text") from None
    except OSError as exc:
        reason = f"manifest.json unreadable: {exc.strerror}"
        raise CorruptSnapshotError(source, reason=reason) from None
    return read_manifest(text, source=source)


def _usable(entry: Entry) -> Snapshot:
    """The entry as a :class:`Snapshot`, or the error that says why it cannot be used."""
    if isinstance(entry, Snapshot):
        return entry
    if entry.untrusted:
        raise UntrustedSnapshotError(
            entry.label,
            reason=entry.reason.removeprefix("untrusted: "),
            scale=entry.scale,
            snapshot_id=entry.id,
        )
    raise CorruptSnapshotError(entry.label, reason=entry.reason, scale=entry.scale)


class _NotRegular(Exception):
    """A path that is a link, a FIFO, a folder or a device: never read."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


@dataclass(frozen=True)
class _Read:
    content: bytes
    owner: int
    mode: int


def _read_regular(path: Path, *, limit: int) -> _Read:
    """The content of a small regular file, opened without following a link and without
    blocking (a FIFO opens at once and is refused); at most ``limit`` bytes are read.

    Raises FileNotFoundError when there is nothing there, :class:`_NotRegular` for anything
    that is not a regular file (or is larger than ``limit``)."""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _NotRegular("is a symbolic link (perfkit does not follow links)") from None
        if exc.errno == errno.ENXIO:
            raise _NotRegular("is not a regular file") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _NotRegular("is not a regular file")
        if info.st_size > limit:
            raise _NotRegular(f"is larger than {limit} bytes")
        os.set_blocking(fd, True)
        content = os.read(fd, limit + 1)
        if len(content) > limit:
            raise _NotRegular(f"is larger than {limit} bytes")
        return _Read(content=content, owner=info.st_uid, mode=stat.S_IMODE(info.st_mode))
    finally:
        os.close(fd)


def _write_new(path: Path, data: bytes, *, mode: int) -> None:
    """Create ``path`` (never through a link, never over an existing file), write, flush.

    A write that fails (a full disk) removes the file it created and raises naming it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except OSError as exc:
        os.close(fd)
        with contextlib.suppress(OSError):
            path.unlink()
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    os.close(fd)


def _is_real_dir(path: Path) -> bool:
    """A folder itself, not a symbolic link to one."""
    try:
        return stat.S_ISDIR(path.lstat().st_mode)
    except OSError:
        return False


def _only_snapshot_files(path: Path) -> bool:
    """Whether ``path`` holds nothing but regular files perfkit writes into a snapshot."""
    try:
        with os.scandir(path) as children:
            for child in children:
                written = (
                    child.name in (MANIFEST_NAME, SCHEMA_NAME)
                    or (child.name.endswith(DATA_SUFFIX) and not child.name.startswith("."))
                    or _MANIFEST_TMP.fullmatch(child.name) is not None
                )
                if not written or not child.is_file(follow_symlinks=False):
                    return False
    except OSError:
        return False
    return True


def _perfkit_shaped(directory: Path) -> bool:
    """Whether ``directory`` holds only what perfkit writes (see :meth:`SnapshotStore.claim`)."""
    try:
        for scale in directory.iterdir():
            if not SCALE_NAME.fullmatch(scale.name) or not _is_real_dir(scale):
                return False
            for child in scale.iterdir():
                if child.name == LATEST or re.fullmatch(r"\.LATEST\.\d+\.tmp", child.name):
                    ok = child.is_file() and not child.is_symlink()
                else:
                    named = _ID.fullmatch(child.name) or _TEMP.fullmatch(child.name)
                    ok = bool(named) and _is_real_dir(child) and _only_snapshot_files(child)
                if not ok:
                    return False
    except OSError:
        return False
    return True


def _mtime(path: Path) -> datetime:
    try:
        return datetime.fromtimestamp(path.lstat().st_mtime, UTC)
    except OSError:
        return datetime.fromtimestamp(0, UTC)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # no such process (or no such pid at all)
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
