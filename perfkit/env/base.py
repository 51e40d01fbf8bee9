"""What every database environment offers, and the helpers they share."""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from perfkit.db import connection
from perfkit.sqlnames import quote_ident
from perfkit.text import human_bytes
from perfkit.urls import mask_url, with_database

#: The comment perfkit puts on databases it creates; safety checks look for it.
CREATED_BY_PERFKIT = "created by perfkit: test database"


@dataclass(frozen=True)
class ServerStatus:
    """What ``db-status`` reports. ``url`` holds the password: print :attr:`masked_url`."""

    backend: str
    running: bool
    url: str
    version: str | None = None
    data_bytes: int | None = None
    started: bool = False
    details: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    @property
    def masked_url(self) -> str:
        return mask_url(self.url)

    def rows(self) -> list[tuple[str, str]]:
        """Label/value pairs for a terminal table; the password is masked."""
        out = [
            ("backend", self.backend),
            ("state", "running" if self.running else "stopped"),
            ("url", self.masked_url),
            ("server version", self.version or "-"),
            ("data size", human_bytes(self.data_bytes) if self.data_bytes is not None else "-"),
        ]
        return out + list(self.details)


class Environment(Protocol):
    """A place where the dedicated PostgreSQL runs: native, docker or external."""

    backend: str

    def url(self) -> str:
        """The URL of the test database, password included (callers mask it)."""
        ...

    async def up(self) -> ServerStatus:
        """Make the server run and the test database exist; idempotent."""
        ...

    async def down(self, *, remove_data: bool = False) -> str:
        """Stop the server (and delete its data when asked); returns what was done."""
        ...

    async def status(self) -> ServerStatus:
        """Report without changing anything."""
        ...


async def ensure_database(url: str, *, timeout: float = 10.0) -> bool:
    """Create the URL's database (marked as perfkit's) if missing; True when it was created.

    Only a database this call CREATEs gets the mark: an existing one (the user's, or one made
    concurrently) is left exactly as it is, so the safety rule never trusts a database perfkit
    did not make."""
    from asyncpg import DuplicateDatabaseError

    from perfkit.urls import database_name

    name = database_name(url)
    async with connection(with_database(url, "postgres"), timeout=timeout) as conn:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        ident = quote_ident(name)
        try:
            await conn.execute(f"CREATE DATABASE {ident}")
        except DuplicateDatabaseError:
            return False
        await conn.execute(f"COMMENT ON DATABASE {ident} IS '{CREATED_BY_PERFKIT}'")
        return True


async def server_facts(
    url: str, *, timeout: float = 5.0, settings: Sequence[str] = ()
) -> tuple[str, int]:
    """(server version, total size of all databases in bytes) over a real connection; with
    ``settings``, :func:`server_facts_and_settings` (one round trip)."""
    version, size, _ = await server_facts_and_settings(url, timeout=timeout, settings=settings)
    return version, size


async def server_facts_and_settings(
    url: str, *, timeout: float = 5.0, settings: Sequence[str] = ()
) -> tuple[str, int, dict[str, str]]:
    """(server version, total size of all databases in bytes, each of ``settings`` as
    ``current_setting`` shows it) in one query over one connection."""
    async with connection(with_database(url, "postgres"), timeout=timeout) as conn:
        row = await conn.fetchrow(
            "SELECT current_setting('server_version') AS version, "
            "(SELECT sum(pg_database_size(datname))::bigint FROM pg_database) AS size, "
            "ARRAY(SELECT current_setting(s) FROM unnest($1::text[]) AS s) AS shown",
            list(settings),
        )
        shown = dict(zip(settings, row["shown"], strict=True))
        return str(row["version"]), int(row["size"] or 0), shown


def read_password(path: Path) -> str | None:
    """The password in ``path``, or ``None`` when there is none yet; never creates anything."""
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def read_or_create_password(path: Path) -> str:
    """The server password kept in a 0600 file beside perfkit's state; made once."""
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(24)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(password + "\n")
    tmp.replace(path)
    return password
