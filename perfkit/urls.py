"""Database URLs: build them, convert them for SQLAlchemy, and mask their passwords.

Every URL perfkit prints, logs, stores in a report or puts in an exception goes through
:func:`mask_url`. Only ``invoke db-url`` prints the password, because scripts need it.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlsplit

_SCHEME = re.compile(r"^postgres(?:ql)?(?:\+\w+)?://", re.IGNORECASE)
_PASSWORD_IN_URL = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s]*)(?=@)", re.I)


class SecretUrl(str):
    """A URL string whose ``repr`` masks the password.

    It is an ordinary ``str`` everywhere else; only ``repr`` -- what tracebacks, pytest's
    failure reports and debug logs show -- hides the secret.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(mask_url(str(self)))


def make_url(*, user: str, password: str, host: str, port: int, database: str) -> SecretUrl:
    """A libpq-style ``postgresql://`` URL with every part quoted."""
    return SecretUrl(
        f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}"
        f"@{host}:{port}/{quote(database, safe='')}"
    )


def mask_url(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``; works inside longer text too."""
    return _PASSWORD_IN_URL.sub(lambda m: m.group("head") + "***", url)


def mask_text(text: str, *secrets: str) -> str:
    """``text`` with URLs masked and each of ``secrets`` (and its URL quoting) replaced."""
    out = mask_url(text)
    for secret in secrets:
        if secret:
            out = out.replace(secret, "***").replace(quote(secret, safe=""), "***")
    return out


def is_postgres_url(url: str) -> bool:
    return bool(_SCHEME.match(url))


def to_asyncpg(url: str) -> str:
    """The URL as asyncpg's ``connect(dsn=...)`` takes it (no SQLAlchemy driver suffix)."""
    return re.sub(r"^postgres(?:ql)?(?:\+\w+)?://", "postgresql://", url, flags=re.I)


def to_sqlalchemy(url: str) -> str:
    """The URL with SQLAlchemy's ``postgresql+asyncpg`` driver."""
    return re.sub(r"^postgres(?:ql)?(?:\+\w+)?://", "postgresql+asyncpg://", url, flags=re.I)


def database_name(url: str) -> str:
    """The database a URL names (``postgres`` when it names none, as libpq does for user)."""
    path = urlsplit(to_asyncpg(url)).path.lstrip("/")
    return unquote(path) or "postgres"


def with_database(url: str, database: str) -> SecretUrl:
    """The same server and credentials, another database."""
    parts = urlsplit(to_asyncpg(url))
    return SecretUrl(parts._replace(path="/" + quote(database, safe="")).geturl())


def password_of(url: str) -> str | None:
    pw = urlsplit(to_asyncpg(url)).password
    return unquote(pw) if pw else None
