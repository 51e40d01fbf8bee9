"""The portable file format: one zstd-compressed binary COPY stream per table.

Data goes through the database connection (asyncpg's ``copy_from_table`` and
``copy_to_table`` in PostgreSQL's binary COPY format), never through ``pg_dump``/``psql``, so
snapshots need no client binaries and move between server versions (binary COPY of these
column types is stable across versions). zstd frames carry their own checksum; the manifest
adds a SHA-256 and the exact size of every file, checked before anything is restored.

Reading trusts nothing the manifest says about the disk: a data file is a plain name inside
the snapshot folder, opened without following links and without blocking (a FIFO is refused,
never waited on), and only a regular file is read. Decompression is streamed in bounded
pieces and stops as soon as the output passes the size the manifest declares, so a small
file that would expand to gigabytes costs a few megabytes at most.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import io
import os
import stat
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import asyncpg
import zstandard

from perfkit.snapshot.errors import CorruptSnapshotError
from perfkit.snapshot.manifest import DATA_SUFFIX, TableFile
from perfkit.snapshot.parallel import spread

#: zstd level: 3 is zstd's default and a good speed/size balance for COPY data.
LEVEL = 3
CHUNK = 1 << 20
SUFFIX = DATA_SUFFIX
#: The largest zstd window a data file may ask for (level 3 uses at most 2 MiB; level 19, 8).
MAX_WINDOW = 1 << 25


def file_name(table: str) -> str:
    return f"{table}{SUFFIX}"


async def dump_table(
    conn: asyncpg.Connection,
    table: str,
    directory: Path,
    *,
    level: int = LEVEL,
    timeout: float | None = None,
) -> TableFile:
    """COPY ``table`` out in binary, compressing and hashing on the way to ``directory``.

    ``timeout`` bounds the whole COPY (asyncpg's own deadline). A write that fails (a full
    disk) ends the COPY at once: the connection is terminated, so the server stops sending
    and rolls its read-only transaction back, and the write's ``OSError`` is raised naming
    the file. (Raising from asyncpg's output callback instead would leave the protocol
    half-way through a cancelled COPY, which asyncpg 0.32 reports as a failed
    ``data_received()`` with two tracebacks.)
    """
    path = directory / file_name(table)
    cobj = zstandard.ZstdCompressor(level=level, write_checksum=True).compressobj()
    digest = hashlib.sha256()
    raw = 0
    written = 0
    failed: OSError | None = None
    try:
        with path.open("wb") as fh:

            async def sink(chunk: bytes) -> None:
                nonlocal raw, written, failed
                if failed is not None:
                    return
                raw += len(chunk)
                out = cobj.compress(chunk)
                if out:
                    try:
                        fh.write(out)
                    except OSError as exc:
                        failed = exc
                        conn.terminate()
                        return
                    digest.update(out)
                    written += len(out)

            try:
                status = await conn.copy_from_table(
                    table, output=sink, format="binary", timeout=timeout
                )
            except Exception:
                if failed is None:
                    raise
            if failed is not None:
                raise failed
            tail = cobj.flush()
            fh.write(tail)
            digest.update(tail)
            written += len(tail)
    except OSError as exc:
        if exc.filename is None and not isinstance(exc, ConnectionError | TimeoutError):
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise
    return TableFile(
        table=table,
        file=path.name,
        rows=_copied_rows(status),
        bytes=written,
        raw_bytes=raw,
        sha256=digest.hexdigest(),
    )


async def dump_tables(
    connections: Sequence[asyncpg.Connection],
    tables: Sequence[str],
    directory: Path,
    *,
    level: int = LEVEL,
    progress: Callable[[str], None] | None = None,
    timeout: float | None = None,
) -> list[TableFile]:
    """Dump ``tables`` (largest first) over several connections that share one snapshot.

    The caller makes the connections see the same data (``pg_export_snapshot`` /
    ``SET TRANSACTION SNAPSHOT``); each takes the next table from a shared queue.
    ``timeout`` bounds each table's COPY (:func:`dump_table`). On the first failure the
    other COPYs are cancelled; the caller ends the connections.
    """
    done: dict[str, TableFile] = {}

    async def dump(conn: asyncpg.Connection, table: str) -> None:
        if progress:
            progress(f"writing {table}")
        done[table] = await dump_table(conn, table, directory, level=level, timeout=timeout)

    await spread(connections, tables, dump)
    return [done[t] for t in tables]


async def load_table(
    conn: asyncpg.Connection,
    entry: TableFile,
    directory: Path,
    *,
    into: str | None = None,
    freeze: bool = False,
) -> int:
    """Stream one file into its table (or into ``into``, a table of the same columns);
    returns the rows the server copied. ``freeze`` needs the table made in this transaction."""
    source = _decompressed(directory, entry, label=directory.name)
    status = await conn.copy_to_table(
        into or entry.table, source=source, format="binary", freeze=freeze or None
    )
    return _copied_rows(status)


async def _decompressed(directory: Path, entry: TableFile, *, label: str) -> AsyncIterator[bytes]:
    with open_data_file(directory, entry.file, label=label) as fh:
        for piece in decompressed(fh, entry, label=label):
            yield piece
            await asyncio.sleep(0)


def decompressed(fh: BinaryIO, entry: TableFile, *, label: str) -> Iterator[bytes]:
    """The COPY stream of ``entry``'s open file, in pieces of at most :data:`CHUNK` bytes.

    Stops with :class:`CorruptSnapshotError` as soon as the output passes ``entry.raw_bytes``
    (the size the manifest declares: it never reads more than one byte beyond it), and when
    it ends short of it. Memory stays bounded whatever the file expands to.
    """
    dctx = zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW)
    total = 0
    with dctx.stream_reader(fh, read_size=1 << 16, closefd=False) as reader:
        while True:
            try:
                piece = reader.read(min(CHUNK, entry.raw_bytes - total + 1))  # 1 byte too many
            except zstandard.ZstdError as exc:
                reason = f"{entry.file} is not a valid zstd stream ({str(exc)[:80]})"
                raise CorruptSnapshotError(label, reason=reason) from None
            if not piece:
                break
            total += len(piece)
            if total > entry.raw_bytes:
                raise CorruptSnapshotError(
                    label,
                    reason=f"{entry.file} expands to more than the {entry.raw_bytes} bytes its "
                    "manifest declares (stopped there)",
                )
            yield piece
    if total != entry.raw_bytes:
        raise CorruptSnapshotError(
            label,
            reason=f"{entry.file} expands to {total} bytes, its manifest declares "
            f"{entry.raw_bytes} (it ends mid-stream)",
        )


def check_stream(directory: Path, entry: TableFile, *, label: str) -> None:
    """Decompress ``entry``'s file to nowhere: it must expand to exactly ``raw_bytes``."""
    with open_data_file(directory, entry.file, label=label) as fh:
        for _ in decompressed(fh, entry, label=label):
            pass


def is_plain_name(name: str) -> bool:
    """A name of a file directly inside a folder: no separators, no ``..``, not hidden."""
    return bool(name) and "/" not in name and "\0" not in name and not name.startswith(".")


def open_data_file(directory: Path, name: str, *, label: str) -> io.BufferedReader:
    """Open ``directory/name`` for reading only when it is a regular file of that very name.

    ``name`` must be a plain name; neither the folder nor the file may be a symbolic link;
    the open never blocks (a FIFO opens at once and is then refused by ``fstat``). Anything
    else is a :class:`CorruptSnapshotError` that says what was found.
    """
    if not is_plain_name(name):
        raise CorruptSnapshotError(
            label, reason=f"{name!r:.60} is not a plain file name inside the snapshot folder"
        )
    nofollow = os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        folder = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | nofollow)
    except OSError as exc:
        raise CorruptSnapshotError(
            label, reason=f"its folder cannot be opened: {_why(exc)}"
        ) from None
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | nofollow, dir_fd=folder)
    except FileNotFoundError:
        raise CorruptSnapshotError(label, reason=f"{name} is missing") from None
    except OSError as exc:
        raise CorruptSnapshotError(label, reason=f"{name} {_why(exc)}") from None
    finally:
        os.close(folder)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise CorruptSnapshotError(
                label, reason=f"{name} is not a regular file (perfkit reads nothing else)"
            )
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _why(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "is a symbolic link (perfkit does not follow links)"
    if exc.errno == errno.ENXIO:
        return "is not a regular file (perfkit reads nothing else)"
    return f"cannot be read ({exc.strerror})"


def file_digest(path: Path) -> tuple[int, str]:
    """(size in bytes, SHA-256 hex) of a regular file (links and FIFOs are refused)."""
    with open_data_file(path.parent, path.name, label=path.parent.name) as fh:
        digest = hashlib.file_digest(fh, "sha256")
        return fh.tell(), digest.hexdigest()


def verify_files(directory: Path, entries: Sequence[TableFile], *, label: str) -> None:
    """Check every data file's presence, exact size and SHA-256, or raise one clear error.

    Each file is checked through one descriptor: what is measured is what is hashed."""
    for entry in entries:
        with open_data_file(directory, entry.file, label=label) as fh:
            size = os.fstat(fh.fileno()).st_size
            if size != entry.bytes:
                how = "truncated" if size < entry.bytes else "longer than recorded"
                raise CorruptSnapshotError(
                    label, reason=f"{entry.file} is {how} ({size} bytes, expected {entry.bytes})"
                )
            sha = hashlib.file_digest(fh, "sha256").hexdigest()
        if sha != entry.sha256:
            raise CorruptSnapshotError(label, reason=f"{entry.file} fails its SHA-256 check")


def _copied_rows(status: str) -> int:
    try:
        return int(status.rsplit(" ", 1)[-1])
    except (ValueError, AttributeError):
        return -1
