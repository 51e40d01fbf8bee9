"""The portable file format: one zstd-compressed binary COPY stream per table.

Data goes through the database connection (asyncpg's ``copy_from_table`` and
``copy_to_table`` in PostgreSQL's binary COPY format), never through ``pg_dump``/``psql``, so
snapshots need no client binaries and move between server versions (binary COPY of these
column types is stable across versions). zstd frames carry their own checksum; the manifest
adds a SHA-256 and the exact size of every file, checked before anything is restored.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import asyncpg
import zstandard

from perfkit.snapshot.errors import CorruptSnapshotError
from perfkit.snapshot.manifest import TableFile
from perfkit.snapshot.parallel import spread

#: zstd level: 3 is zstd's default and a good speed/size balance for COPY data.
LEVEL = 3
CHUNK = 1 << 20
SUFFIX = ".copy.zst"


def file_name(table: str) -> str:
    return f"{table}{SUFFIX}"


async def dump_table(
    conn: asyncpg.Connection, table: str, directory: Path, *, level: int = LEVEL
) -> TableFile:
    """COPY ``table`` out in binary, compressing and hashing on the way to ``directory``."""
    path = directory / file_name(table)
    cobj = zstandard.ZstdCompressor(level=level, write_checksum=True).compressobj()
    digest = hashlib.sha256()
    raw = 0
    written = 0
    with path.open("wb") as fh:

        async def sink(chunk: bytes) -> None:
            nonlocal raw, written
            raw += len(chunk)
            out = cobj.compress(chunk)
            if out:
                fh.write(out)
                digest.update(out)
                written += len(out)

        status = await conn.copy_from_table(table, output=sink, format="binary")
        tail = cobj.flush()
        fh.write(tail)
        digest.update(tail)
        written += len(tail)
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
) -> list[TableFile]:
    """Dump ``tables`` (largest first) over several connections that share one snapshot.

    The caller makes the connections see the same data (``pg_export_snapshot`` /
    ``SET TRANSACTION SNAPSHOT``); each takes the next table from a shared queue.
    """
    done: dict[str, TableFile] = {}

    async def dump(conn: asyncpg.Connection, table: str) -> None:
        if progress:
            progress(f"writing {table}")
        done[table] = await dump_table(conn, table, directory, level=level)

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
    path = directory / entry.file
    status = await conn.copy_to_table(
        into or entry.table,
        source=_decompressed(path, label=entry.file),
        format="binary",
        freeze=freeze or None,
    )
    return _copied_rows(status)


async def _decompressed(path: Path, *, label: str) -> AsyncIterator[bytes]:
    dobj = zstandard.ZstdDecompressor().decompressobj()
    with path.open("rb") as fh:
        while block := fh.read(CHUNK):
            try:
                out = dobj.decompress(block)
            except zstandard.ZstdError as exc:
                raise CorruptSnapshotError(path.parent.name, reason=f"{label}: {exc}") from None
            if out:
                yield out
            await asyncio.sleep(0)
    if not dobj.eof:
        raise CorruptSnapshotError(path.parent.name, reason=f"{label} ends mid-stream")


def file_digest(path: Path) -> tuple[int, str]:
    """(size in bytes, SHA-256 hex) of a file."""
    with path.open("rb") as fh:
        digest = hashlib.file_digest(fh, "sha256")
        return fh.tell(), digest.hexdigest()


def verify_files(directory: Path, entries: Sequence[TableFile], *, label: str) -> None:
    """Check every data file's presence, exact size and SHA-256, or raise one clear error."""
    for entry in entries:
        path = directory / entry.file
        if not path.is_file():
            raise CorruptSnapshotError(label, reason=f"{entry.file} is missing")
        size = path.stat().st_size
        if size != entry.bytes:
            how = "truncated" if size < entry.bytes else "longer than recorded"
            raise CorruptSnapshotError(
                label, reason=f"{entry.file} is {how} ({size} bytes, expected {entry.bytes})"
            )
        _, sha = file_digest(path)
        if sha != entry.sha256:
            raise CorruptSnapshotError(label, reason=f"{entry.file} fails its SHA-256 check")


def _copied_rows(status: str) -> int:
    try:
        return int(status.rsplit(" ", 1)[-1])
    except (ValueError, AttributeError):
        return -1
