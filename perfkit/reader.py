"""A login role that can only read: what ``perf_session`` connects as on a scale's shared data.

The shared data must not be written by a test, whatever its statements say. A session setting
(``default_transaction_read_only``, ``SET TRANSACTION READ ONLY`` at each transaction's start)
is undone by one statement (``SET TRANSACTION READ WRITE``); a role's privileges are not.
perfkit keeps one login role per server, :data:`READER_ROLE` (``perfkit_reader``): no
superuser, no CREATEDB, no CREATEROLE, no replication, no inherited membership, and, on the
test database, ``CONNECT``, ``USAGE`` on schema ``public`` and ``SELECT`` on its tables, nothing
else. A write through it fails with "permission denied", even after ``SET TRANSACTION READ
WRITE``; it cannot ``SET ROLE`` back to the URL's user either (it is no member of it).
``perf_session`` still starts each transaction READ ONLY, so a write usually fails earlier,
saying so.

Its password is derived from the test database URL's own (an HMAC), so every process that can
reach the database computes the same one and no file holds it; only its SCRAM verifier is sent
to the server, never the password itself. :func:`ensure_reader` is idempotent (run it after
each restore: a restored database has only the grants its template had).

Making the role needs ``CREATEROLE`` (or a superuser), as perfkit's own server has. Without it
(a managed server's limited user), or with a URL without a password, :func:`ensure_reader`
returns None and callers fall back to read-only transactions on the URL's user; the check
before each measurement still finds what a write changed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from urllib.parse import quote, urlsplit

import asyncpg

from perfkit.database import Database
from perfkit.datagen.changes import READER_ROLE
from perfkit.locks import lock_key
from perfkit.sqlnames import quote_ident
from perfkit.urls import SecretUrl, password_of, to_asyncpg

#: PBKDF2 iterations of the SCRAM verifier (PostgreSQL's default, ``scram_iterations``).
SCRAM_ITERATIONS = 4096


def reader_password(url: str) -> str | None:
    """The reader's password for the server of ``url``: derived from the URL's password (None
    when it has none)."""
    secret = password_of(url)
    if not secret:
        return None
    return hmac.new(secret.encode(), b"perfkit reader role", hashlib.sha256).hexdigest()


def scram_verifier(password: str, *, salt: bytes | None = None) -> str:
    """The ``SCRAM-SHA-256$...`` verifier PostgreSQL stores for ``password`` (RFC 5802/7677;
    ``ALTER ROLE ... PASSWORD`` takes it as is, so the password never reaches the server)."""
    salt = salt if salt is not None else os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, SCRAM_ITERATIONS)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${SCRAM_ITERATIONS}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def as_reader(url: str, password: str) -> SecretUrl:
    """``url`` with the reader's user and password instead of its own."""
    parts = urlsplit(to_asyncpg(url))
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{quote(READER_ROLE, safe='')}:{quote(password, safe='')}@{host}"
    return SecretUrl(parts._replace(netloc=netloc).geturl())


async def ensure_reader(db: Database) -> SecretUrl | None:
    """Make (or refresh) the reader role and its grants on ``db``; its URL, or None when the
    URL's user may not make roles or the URL has no password (module docstring)."""
    password = reader_password(db.url)
    if password is None:
        return None
    literal = "'" + scram_verifier(password) + "'"
    role = quote_ident(READER_ROLE)
    options = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS"
    async with db.connect() as conn:
        try:
            async with conn.transaction():  # one at a time (pytest-xdist workers, say)
                await conn.execute(
                    "SELECT pg_advisory_xact_lock($1)", lock_key(f"role {READER_ROLE}")
                )
                if not await conn.fetchval(
                    "SELECT 1 FROM pg_roles WHERE rolname = $1", READER_ROLE
                ):
                    await conn.execute(f"CREATE ROLE {role} {options} PASSWORD {literal}")
                await conn.execute(f"ALTER ROLE {role} {options} PASSWORD {literal}")
                await conn.execute(f"GRANT CONNECT ON DATABASE {quote_ident(db.name)} TO {role}")
                await conn.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
                await conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
        except asyncpg.InsufficientPrivilegeError:
            return None
    return as_reader(db.url, password)
