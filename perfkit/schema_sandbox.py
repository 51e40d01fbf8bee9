"""Where a schema is built: a scratch database on perfkit's server, and the role a schema
source runs as.

A *scratch database* (``<test db>__pksch_<hex>``) is made from ``template0``, marked as
perfkit's, and dropped afterwards. Models are built there by perfkit's own connection (their
DDL is perfkit's). A SQL file or migrations are the application's code, so they run as a
*build role* perfkit creates for the purpose, named like the scratch database:

* ``LOGIN``, but ``NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS``, a member
  of no role, with a random password (sent as a SCRAM verifier, so the server's log never
  holds it) that expires an hour after the build's time limit, reaching the server through
  the same host and port as perfkit's own URL; its sessions commit without waiting for the
  disk (``synchronous_commit = off``: the database is thrown away);
* owning only the scratch database, and with it ``public`` (PostgreSQL 15 and later make a
  database's owner the owner of ``public``). PostgreSQL 13 and later let a database's owner
  install *trusted* extensions, such as ``pg_trgm``, ``citext`` or ``btree_gin``.

So PostgreSQL itself refuses what a superuser's file could do to the whole cluster: roles,
databases and tablespaces, ``ALTER SYSTEM``, settings of or comments on other databases
(perfkit's "created by perfkit" marker among them), untrusted languages and extensions,
``COPY ... TO PROGRAM`` and reading the server's files. What the role may change beyond its
database belongs to the role (its own settings) and is dropped with it. An object it came to
own elsewhere (PostgreSQL 14 and older let everyone create in another database's ``public``)
makes dropping the role fail: the build then fails, naming it, and the role is left for the
user to clean.

A killed build's database and role are recognised by their names and perfkit's marks (the
database's comment, the role's :data:`BUILD_ROLE_COMMENT`) and removed by the next build of the
same test database, and by ``perfkit prune``. While a build runs, its role keeps a connection
open on its scratch database, so no other command takes the database for a leftover; builds of
one test database make and drop their databases, and the leftovers, under one advisory lock
(released once that connection is open), so two never drop one database at once.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar
from urllib.parse import quote, urlencode

import asyncpg

from perfkit.config import Config
from perfkit.database import Admin, Database, helper_name, helper_prefix
from perfkit.db import connect
from perfkit.errors import ConfigError, DatabaseEnvError, PerfkitError
from perfkit.locks import lock_key
from perfkit.sqlnames import quote_ident
from perfkit.text import clipped
from perfkit.urls import SecretUrl, parse_url

T = TypeVar("T")

#: The comment on every build role; only roles that carry it are ever dropped.
BUILD_ROLE_COMMENT = "created by perfkit: schema build role"
#: How a scratch database (and its build role) is named: ``<target>__pksch_<6 hex>``.
_SCRATCH = re.compile(r"__pksch_[0-9a-f]{6}$")
#: Query parameters that say who connects to which database: the build role's URL names its own.
_IDENTITY_PARAMS = frozenset({"dbname", "database", "user", "password", "service", "passfile"})


async def in_scratch_database(
    cfg: Config,
    build: Callable[[Database], Awaitable[T]],
    *,
    db: Database,
    as_build_role: bool = False,
    seconds: float = 600.0,
) -> T:
    """``build(scratch)`` on a new empty database beside ``db`` (perfkit's test database),
    dropped afterwards.

    With ``as_build_role`` the handle ``build`` gets connects as the build role (see the
    module docstring), allowed ``seconds`` for the build; otherwise as perfkit's own user."""
    target = db
    name = helper_name(target.name, "sch")
    source = str(cfg.source)
    try:
        scratch, held = await _make(target, name, as_build_role=as_build_role, seconds=seconds)
        try:
            result = await build(scratch)
        finally:
            if held is not None:
                await held.close()
    except BaseException:
        await _remove(target, name, as_build_role=as_build_role, source=source, quietly=True)
        raise
    await _remove(target, name, as_build_role=as_build_role, source=source, quietly=False)
    return result


async def _remove(
    target: Database, name: str, *, as_build_role: bool, source: str, quietly: bool
) -> None:
    """Drop scratch database ``name`` and its build role. Only a role that came to own
    objects elsewhere is an error (:func:`_drop_role`), and not ``quietly``."""
    try:
        async with target.admin() as admin, _cleaning(admin, target.name, locked=as_build_role):
            await admin.drop_quietly(name)
            if as_build_role:
                await _drop_role(admin, name, source=source)
    except ConfigError:
        if not quietly:
            raise
    except (PerfkitError, OSError):
        pass  # the server went away: the next build, or perfkit prune, removes them


@contextlib.asynccontextmanager
async def _cleaning(admin: Admin, target: str, *, locked: bool = True) -> AsyncIterator[None]:
    """Hold (``locked``) the advisory lock under which builds for ``target`` make their
    scratch databases and drop them and leftovers: two never drop one database at once."""
    if not locked:
        yield
        return
    key = lock_key(helper_prefix(target) + "sch")
    await admin.conn.execute("SELECT pg_advisory_lock($1)", key)
    try:
        yield
    finally:
        with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError):
            await admin.conn.execute("SELECT pg_advisory_unlock($1)", key)


class BuildRoleError(DatabaseEnvError):
    """The server would not let perfkit create the build role (no CREATEROLE)."""


async def _make(
    target: Database, name: str, *, as_build_role: bool, seconds: float
) -> tuple[Database, asyncpg.Connection | None]:
    """The scratch database ``name`` beside ``target``, and (``as_build_role``) its role: the
    handle that reaches it as the build will, and (for a build role) a connection of the role
    that keeps the database in use until the build ends. Cleaning a killed build's leftovers
    and making a new database hold one advisory lock per target, released only once that
    connection is open: a concurrent build never takes another's new database for a leftover."""
    try:
        async with target.admin() as admin:
            if not as_build_role:
                await admin.create_empty(name)
                return target.other(name), None
            async with _cleaning(admin, target.name):
                await drop_leftovers(admin, target.name)
                await admin.create_empty(name)
                password = secrets.token_urlsafe(24)
                await _create_role(admin, name, password=password, seconds=seconds)
                url = role_url(target.url, role=name, password=password, database=name)
                held = await connect(url, pin=target.pin)  # the server the checks reached
            return Database(url, pin=target.pin), held
    except BuildRoleError:
        raise
    except DatabaseEnvError as exc:
        raise DatabaseEnvError(
            f"{exc.message} (perfkit builds the schema there to read it)", hint=exc.hint
        ) from None
    except asyncpg.PostgresError as exc:  # no CREATEDB on an external server, say
        raise DatabaseEnvError(
            f"cannot create {name!r} to build the schema in: {type(exc).__name__}: "
            f"{clipped(str(exc), limit=160)}",
            hint="perfkit needs CREATEDB on this server, or (for models) a test database it "
            "may write tables into",
        ) from None


async def _create_role(admin: Admin, name: str, *, password: str, seconds: float) -> None:
    """The build role ``name``, marked, made the owner of database ``name``."""
    conn = admin.conn
    role = quote_ident(name)
    try:
        until = await conn.fetchval(
            "SELECT (now() + make_interval(secs => $1))::text", seconds + 3600
        )
        superuser = await conn.fetchval(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
        )
        async with conn.transaction():  # the role and its mark, or neither
            await conn.execute(
                f"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION "
                f"NOBYPASSRLS PASSWORD {_literal(scram_verifier(password))} "
                f"VALID UNTIL {_literal(str(until))}"
            )
            await conn.execute(f"COMMENT ON ROLE {role} IS {_literal(BUILD_ROLE_COMMENT)}")
            # The database is thrown away: a commit need not wait for the disk. A file runs
            # one statement (one commit) at a time, migrations commit per revision.
            await conn.execute(f"ALTER ROLE {role} SET synchronous_commit = off")
            if not superuser:  # CREATEROLE: handing a database to a role needs its membership
                await conn.execute(f"GRANT {role} TO CURRENT_USER")
        await conn.execute(f"ALTER DATABASE {role} OWNER TO {role}")
    except asyncpg.PostgresError as exc:
        raise BuildRoleError(
            f"cannot create role {name!r} to build the schema as: "
            f"{type(exc).__name__}: {clipped(str(exc), limit=160)}",
            hint="perfkit runs a schema file or migrations as a role of its own, not as a "
            "superuser: it needs CREATEROLE (or a superuser) on this server",
        ) from None


def role_url(url: str, *, role: str, password: str, database: str) -> SecretUrl:
    """``url``'s server (hosts, ports and connection options) reached as ``role``, in
    ``database``: ``postgresql://`` with no driver."""
    parsed = parse_url(url)
    hosts = ",".join(
        (f"[{host}]" if ":" in host else host) + (f":{port}" if port else "")
        for host, port in parsed.hosts
    )
    params = [(key, value) for key, value in parsed.params if key not in _IDENTITY_PARAMS]
    query = "?" + urlencode(params) if params else ""
    return SecretUrl(
        f"postgresql://{quote(role, safe='')}:{quote(password, safe='')}@{hosts}"
        f"/{quote(database, safe='')}{query}"
    )


def scram_verifier(password: str, *, iterations: int = 4096) -> str:
    """``password`` as PostgreSQL stores it for SCRAM-SHA-256 (RFC 5802, RFC 7677): what
    ``CREATE ROLE ... PASSWORD`` may be given instead of the password itself."""
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    stored = hashlib.sha256(client_key).digest()
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored)}:{b64(server_key)}"


async def _drop_role(admin: Admin, name: str, *, source: str) -> None:
    """Drop build role ``name`` (its database is gone), quietly; a role that came to own
    something in another database is a :class:`ConfigError` naming it."""
    with contextlib.suppress(asyncpg.PostgresError):
        await admin.conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", name
        )
    try:
        await admin.conn.execute(f"DROP ROLE IF EXISTS {quote_ident(name)}")
    except asyncpg.DependentObjectsStillExistError as exc:
        where = getattr(exc, "detail", None) or str(exc)
        raise ConfigError(
            f"the schema source made objects outside its scratch database, owned by role "
            f"{name!r}: {clipped(where.replace(chr(10), '; '), limit=200)}",
            source=source,
            key_path="app.schema",
            hint=f"in each database named, run DROP OWNED BY {quote_ident(name)}; then DROP "
            f"ROLE {quote_ident(name)}",
        ) from None
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
        pass  # the next build, or perfkit prune, removes it


async def leftover_roles(admin: Admin) -> list[str]:
    """Build roles of killed runs: marked, named like a scratch database that no longer
    exists, and with no session."""
    rows = await admin.conn.fetch(
        "SELECT r.rolname FROM pg_roles r "
        "WHERE shobj_description(r.oid, 'pg_authid') = $1 "
        "AND NOT EXISTS (SELECT 1 FROM pg_database d WHERE d.datname = r.rolname) "
        "AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.usename = r.rolname) "
        "ORDER BY 1",
        BUILD_ROLE_COMMENT,
    )
    return [str(r["rolname"]) for r in rows if _SCRATCH.search(str(r["rolname"]))]


async def drop_leftover_roles(admin: Admin) -> list[str]:
    """Drop :func:`leftover_roles`; the ones really dropped."""
    dropped = []
    for name in await leftover_roles(admin):
        with contextlib.suppress(asyncpg.PostgresError):
            await admin.conn.execute(f"DROP ROLE IF EXISTS {quote_ident(name)}")
            dropped.append(name)
    return dropped


async def drop_leftovers(admin: Admin, target: str) -> None:
    """Remove what killed builds for ``target`` left: scratch databases nobody is connected
    to, then build roles whose database is gone (of any target)."""
    for name in await admin.leftovers(target):
        if _SCRATCH.search(name):
            await admin.drop_quietly(name)
    await drop_leftover_roles(admin)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
