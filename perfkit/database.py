"""The test database as one handle: its URL, its server's admin connection, and the
whole-database operations.

A command makes one :class:`Database` for its target (``Database(url)``) and hands it to each
step: steps never rebuild URLs. ``async with db.admin() as admin`` opens the server's
maintenance database (``postgres``) once and gives an :class:`Admin` whose methods are the
database-admin operations: exists, create, clone, drop, swap, comment, terminate.

Restores never load into the target in place: they build a *staging* database beside it and
swap the two names in one transaction (``ALTER DATABASE ... RENAME`` is transactional), so an
interrupted or failed restore leaves the previous database as it was. Names of perfkit's
helper databases are derived from the target, so leftovers of a killed run are recognised and
removed by the next one. A template's *ready spare* (:func:`ready_spare_name`,
:mod:`perfkit.snapshot.spares`) is a helper of the template: a full clone kept for the next
restore, recognised, kept and removed by the same rules.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import asyncpg

from perfkit.db import ServerPin, connection
from perfkit.env.base import CREATED_BY_PERFKIT
from perfkit.errors import DatabaseEnvError
from perfkit.sqlnames import quote_ident
from perfkit.urls import SecretUrl, database_name, with_database

#: The server's maintenance database, where whole-database operations run.
MAINTENANCE_DB = "postgres"


class Database:
    """One database on one server, as a command's steps see it.

    Every connection it opens (:meth:`connect`, :meth:`admin`, and those of the handles
    :meth:`other` makes) is checked where it arrived (:mod:`perfkit.db`): in the database its
    URL names, on the server where the first of them arrived (:attr:`pin`). So the database
    the safety checks approved on the admin connection is the one written to.
    """

    def __init__(self, url: str, *, pin: ServerPin | None = None) -> None:
        self.url = SecretUrl(url)
        #: The database's name: what the URL's path names (:func:`perfkit.urls.database_name`
        #: refuses a URL that names a database, host, port or user anywhere else).
        self.name = database_name(url)
        #: The server every connection of this handle and its :meth:`other` handles reaches.
        self.pin = pin if pin is not None else ServerPin()

    def __repr__(self) -> str:  # the URL masks its password in repr
        return f"Database({self.url!r})"

    @classmethod
    def of(cls, target: str | Database) -> Database:
        """``target`` itself when it is a handle, else a handle for the URL."""
        return target if isinstance(target, Database) else cls(target)

    def other(self, name: str) -> Database:
        """Another database on the same server, with the same credentials."""
        return Database(with_database(self.url, name), pin=self.pin)

    @property
    def admin_url(self) -> SecretUrl:
        return with_database(self.url, MAINTENANCE_DB)

    @contextlib.asynccontextmanager
    async def connect(self, *, timeout: float = 10.0) -> AsyncIterator[asyncpg.Connection]:
        """A connection to this database, closed on exit."""
        async with connection(self.url, timeout=timeout, pin=self.pin) as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def admin(self, *, timeout: float = 10.0) -> AsyncIterator[Admin]:
        """The server's admin connection, with the database-admin operations."""
        async with connection(self.admin_url, timeout=timeout, pin=self.pin) as conn:
            yield Admin(conn)


#: PostgreSQL's identifier limit (NAMEDATALEN - 1).
MAX_NAME = 63
_HELPER_MARK = "__pk"
_ROOM = 16  # "__pk" + kind (3 letters) + "_" + 6 hex digits, and 2 to spare


def helper_name(target: str, kind: str) -> str:
    """A unique helper-database name for ``target``: ``<target>__pk<kind>_<random>``."""
    if len(kind) > 5:
        raise ValueError("helper kind too long")  # a bug, not input
    return f"{helper_prefix(target)}{kind}_{secrets.token_hex(3)}"


def helper_prefix(target: str) -> str:
    """What every helper database of ``target`` starts with."""
    return _fit(target, _ROOM) + _HELPER_MARK


def _fit(name: str, room: int) -> str:
    keep = MAX_NAME - room
    raw = name.encode()
    return raw[:keep].decode(errors="ignore") if len(raw) > keep else name


@dataclass(frozen=True)
class Admin:
    """The server's admin connection and the whole-database operations on it."""

    conn: asyncpg.Connection

    async def server_version_num(self) -> int:
        return int(await self.conn.fetchval("SHOW server_version_num"))

    async def exists(self, name: str) -> bool:
        return bool(await self.conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))

    async def comment_of(self, name: str) -> str | None:
        value = await self.conn.fetchval(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1", name
        )
        return None if value is None else str(value)

    async def set_comment(self, name: str, comment: str) -> None:
        await self.conn.execute(_comment_sql(name, comment))

    async def terminate(self, name: str) -> int:
        """End every other session connected to database ``name``; returns how many."""
        return int(
            await self.conn.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
        )

    async def create_empty(self, name: str) -> None:
        """A new database from ``template0``, marked as perfkit's."""
        await self.conn.execute(f"CREATE DATABASE {quote_ident(name)} TEMPLATE template0")
        await self.set_comment(name, CREATED_BY_PERFKIT)

    async def clone(
        self, *, source: str, name: str, strategy: str | None = None, polite: bool = False
    ) -> None:
        """``CREATE DATABASE name TEMPLATE source`` after ending the source's sessions.

        ``strategy`` (``FILE_COPY`` or ``WAL_LOG``) applies on PostgreSQL 15 and later and is
        ignored before. Cloning fails while anyone is connected to ``source``, so its sessions are
        ended first; a session that sneaks in between is ended and the clone retried.
        ``polite`` (a background chore): end no session, try once; a session on ``source``
        makes it fail (``asyncpg.ObjectInUseError``).
        """
        clause = ""
        if strategy and await self.server_version_num() >= 150000:
            clause = f" STRATEGY {strategy}"
        sql = f"CREATE DATABASE {quote_ident(name)} TEMPLATE {quote_ident(source)}{clause}"

        async def attempt() -> None:
            await self.terminate(source)
            await self.conn.execute(sql)

        if polite:
            await self.conn.execute(sql)
        else:
            await _while_in_use(
                attempt,
                DatabaseEnvError(
                    f"database {source!r} stayed in use; cannot clone it",
                    hint="close the sessions connected to it and try again",
                ),
            )
        await self.set_comment(name, CREATED_BY_PERFKIT)

    async def drop(self, name: str) -> None:
        """Drop ``name`` if it exists, ending its sessions (and clearing a template flag) first.

        The flag is cleared only on a template: ``ALTER DATABASE`` on a database an
        interrupted ``DROP DATABASE`` left invalid ends the session (FATAL) on PostgreSQL
        15.4 and later, and such a database is never a template."""
        template = await self.conn.fetchval(
            "SELECT datistemplate FROM pg_database WHERE datname = $1", name
        )
        if template is None:
            return
        if template:
            await self.conn.execute(f"ALTER DATABASE {quote_ident(name)} IS_TEMPLATE false")
        if await self.server_version_num() >= 130000:
            await self.conn.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")
        else:  # pragma: no cover - PostgreSQL 12 and older
            await self.terminate(name)
            await self.conn.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)}")

    async def drop_quietly(self, name: str) -> None:
        """Best-effort :func:`drop` for cleanup paths (the connection may be gone)."""
        with contextlib.suppress(asyncpg.PostgresError, OSError, asyncpg.InterfaceError):
            await self.drop(name)

    async def swap(
        self,
        *,
        target: str,
        staging: str,
        keep_old_as: str | None = None,
        comment: str | None = None,
        reopen: bool = False,
    ) -> str | None:
        """Make ``staging`` become ``target`` in one transaction; returns the old database's new
        name (``keep_old_as``, else a fresh helper name), or None when ``target`` did not exist.

        ``keep_old_as`` may be ``staging``'s own name (the two databases trade places).
        ``comment``, when given, replaces ``staging``'s comment in the same transaction (a ready
        spare's mark goes as it becomes the target), and ``reopen`` allows connections to it
        again (a spare is sealed like a template). Other sessions on both are ended first (a
        rename needs the database idle); one that connects in between makes the rename fail,
        and the swap is retried.
        """
        old = (keep_old_as or helper_name(target, "old")) if await self.exists(target) else None
        parked = helper_name(target, "tmp")
        steps = []  # sent as one query: PostgreSQL runs them as one transaction, all or nothing
        if comment is not None:
            steps.append(_comment_sql(staging, comment))
        if reopen:
            steps.append(f"ALTER DATABASE {quote_ident(staging)} WITH ALLOW_CONNECTIONS true")
        source = staging
        if old == staging:
            steps.append(_rename_sql(staging, parked))
            source = parked
        if old:
            steps.append(_rename_sql(target, old))
            steps.append(_comment_sql(old, CREATED_BY_PERFKIT))  # a helper now
        steps.append(_rename_sql(source, target))

        async def attempt() -> None:
            await self.conn.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = ANY($1::text[]) AND pid <> pg_backend_pid()",
                [target, staging] if old else [staging],
            )
            await self.conn.execute(";\n".join(steps))

        await _while_in_use(
            attempt,
            DatabaseEnvError(
                f"database {target!r} stayed in use; the restored copy was not swapped in",
                hint="close the sessions connected to it (the application, psql) and retry",
            ),
        )
        return old

    async def ready_spares(self, template: str) -> list[str]:
        """The ready spares of ``template`` on the server (every project's, finished or not)."""
        rows = await self.conn.fetch(
            "SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY 1",
            ready_spares_prefix(template),
        )
        owner = _fit(template, _ROOM)
        names = [str(r["datname"]) for r in rows]
        return [n for n in names if is_ready_spare_name(n) and helper_owner(n) == owner]

    async def leftovers(self, target: str | None = None) -> list[str]:
        """perfkit's helper databases left by killed runs, of ``target`` (None: of any
        database), that nobody is connected to; a spare whose database exists is kept (the
        next restore loads into it), and so is a ready spare whose template exists.

        A helper is recognised by its exact name shape (:func:`helper_owner`) and by
        perfkit's comment, or by no comment at all: ``CREATE DATABASE`` cannot share a
        transaction with its ``COMMENT``, so a run killed while a clone was being made leaves
        an unmarked copy, and that copy must not outlive it. A ready spare's comment starts
        with :data:`SPARE_MARK`; a spare without it was never finished.
        """
        rows = await self.conn.fetch(  # of a target: its helpers, and itself (is it there?)
            "SELECT d.datname, starts_with(coalesce(c.comment, ''), $2) AS ready, "
            "(coalesce(c.comment, $1) = $1 OR starts_with(c.comment, $2)) "
            "AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname) "
            "AS candidate "
            "FROM pg_database d, shobj_description(d.oid, 'pg_database') AS c(comment) "
            "WHERE $3::text IS NULL OR d.datname = $3 OR starts_with(d.datname, $4) "
            "ORDER BY 1",
            CREATED_BY_PERFKIT,
            SPARE_MARK,
            target,
            None if target is None else helper_prefix(target),
        )
        owners = {
            _fit(str(r["datname"]), _ROOM) for r in rows if helper_owner(str(r["datname"])) is None
        }
        out = []
        for row in rows:
            name = str(row["datname"])
            if not row["candidate"]:
                continue
            owner = helper_owner(name)
            if owner is None or (target is not None and owner != _fit(target, _ROOM)):
                continue
            if row["ready"] and not is_ready_spare_name(name):
                continue  # a spare's mark on another name: not perfkit's doing
            if target is not None and name == spare_name(target):
                continue  # the target's own spare: the next restore loads into it
            if (name == spare_name(owner) or row["ready"]) and owner in owners:
                continue  # a spare of a database (a ready one: of a template) that exists
            out.append(name)
        return out


#: The kinds of helper databases: a restore's new copy, the swapped-out old one, a parked
#: name during a swap, a template's source, a scratch database a schema source is built in
#: (:mod:`perfkit.schema_sandbox`), a template's ready spare (:func:`ready_spare_name`), and
#: the spare.
HELPER_KINDS = ("new", "old", "tmp", "src", "sch", "rdy")
#: What a ready spare's comment starts with; :mod:`perfkit.snapshot.spares` writes it (and the
#: rest) only once the spare is complete.
SPARE_MARK = "perfkit spare "
_READY_KIND = "rdy"
_HELPER_SHAPE = re.compile(
    r"^(?P<owner>.+)"
    + re.escape(_HELPER_MARK)
    + r"(?:(?P<kind>"
    + "|".join(HELPER_KINDS)
    + r")_[0-9a-f]{6}|spare)$"
)
#: Throw-away clones for destructive tests (:func:`perfkit.snapshot.prepare.cloned_database`).
CLONE_PREFIX = "perfkit_clone_"
_CLONE_SHAPE = re.compile(r"^" + re.escape(CLONE_PREFIX) + r".{1,36}_[0-9a-f]{8}$")


def helper_kind(name: str) -> str | None:
    """The kind of perfkit's helper database ``name`` (one of :data:`HELPER_KINDS`, or
    ``spare``); None when it is none of them."""
    if _CLONE_SHAPE.match(name):
        return None
    found = _HELPER_SHAPE.match(name)
    return None if found is None else (found["kind"] or "spare")


def lock_owner(name: str) -> str:
    """The database whose perfkit lock guards the helper ``name``: a ready spare's own (its
    build and the restore that takes it hold it) and a swapped-out target's own (the
    background build drops it, :mod:`perfkit.snapshot.spare_build`), else its owner's (or
    ``name`` itself when it is no helper)."""
    if is_ready_spare_name(name) or helper_kind(name) == "old":
        return name
    return helper_owner(name) or name


def helper_owner(name: str) -> str | None:
    """The (shortened) target a helper database belongs to, or None when ``name`` is not
    shaped like one of perfkit's helpers or test clones (a clone is its own owner)."""
    if _CLONE_SHAPE.match(name):
        return name
    found = _HELPER_SHAPE.match(name)
    return found["owner"] if found else None


async def _while_in_use(
    attempt: Callable[[], Awaitable[None]], gave_up: DatabaseEnvError, *, seconds: float = 10.0
) -> None:
    """Run ``attempt`` until no session is in the way (PostgreSQL's "object in use": a session
    that connected between ending the others and the statement), for up to ``seconds``."""
    deadline = time.monotonic() + seconds
    delay = 0.005  # a session that was just closed is usually gone within milliseconds
    while True:
        try:
            await attempt()
            return
        except asyncpg.ObjectInUseError:
            if time.monotonic() > deadline:
                raise gave_up from None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)


def _comment_sql(name: str, comment: str) -> str:
    literal = "'" + comment.replace("'", "''") + "'"
    return f"COMMENT ON DATABASE {quote_ident(name)} IS {literal}"


def _rename_sql(old: str, new: str) -> str:
    return f"ALTER DATABASE {quote_ident(old)} RENAME TO {quote_ident(new)}"


def spare_name(target: str) -> str:
    """The target's *spare*: the previous database, emptied, reused by the next restore."""
    return helper_prefix(target) + "spare"


def ready_spare_name(template: str, owner: str) -> str:
    """The *ready spare* of ``template`` kept for the project ``owner`` (a hex digest,
    :func:`perfkit.snapshot.template.owner_of`): ``<template>__pkrdy_<owner's first 6>``, a
    helper of the template, so one project's spare never takes the name of another's."""
    if not re.fullmatch(r"[0-9a-f]{6,}", owner):
        raise ValueError("a spare's owner is a hex digest")  # a bug, not input
    return f"{ready_spares_prefix(template)}{owner[:6]}"


def ready_spares_prefix(template: str) -> str:
    """What the name of every ready spare of ``template`` starts with, whoever owns it."""
    return f"{helper_prefix(template)}{_READY_KIND}_"


def is_ready_spare_name(name: str) -> bool:
    """Whether ``name`` has the shape of a template's ready spare."""
    owner = helper_owner(name)
    return owner is not None and name.startswith(ready_spares_prefix(owner))


#: Anything in a database besides what ``template0`` has, once perfkit's tables are dropped.
_EXTRAS_SQL = """
SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%')
     + (SELECT count(*) FROM pg_namespace
        WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'public')
          AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp%')
     + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public')
     + (SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = 'public')
     + (SELECT count(*) FROM pg_extension WHERE extname <> 'plpgsql')
     + (SELECT count(*) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
        WHERE d.datname = current_database())
"""


async def empty_database(conn: asyncpg.Connection, drop_sql: list[str]) -> bool:
    """Run ``drop_sql`` (perfkit's tables) and tell whether the database is now as empty as a
    new one. Dropping tables needs no checkpoint, unlike ``DROP DATABASE`` on PostgreSQL 15,
    which flushes every dirty buffer of the server: that is why restores reuse a spare."""
    for stmt in drop_sql:
        await conn.execute(stmt)
    return int(await conn.fetchval(_EXTRAS_SQL)) == 0
