"""The environment a schema's migrations run in: nothing of the caller's that names a database.

``app.schema.migrations`` is the application's own command (``alembic upgrade head``); its
``env.py`` reads a database URL from wherever its authors chose. It must reach only the scratch
database perfkit made for it, whatever the caller's shell holds. So the command does not
inherit the caller's environment. It gets:

* what tools need to run: ``PATH``, ``HOME``, the user's name, the temporary folder, the
  locale (``LANG``, ``LANGUAGE``, ``LC_*``, ``TZ``), ``PYTHONPATH`` and ``VIRTUAL_ENV``, and
  libpq's settings that choose no server (SSL, timeouts, client encoding);
* ``app.env`` (a value the caller's environment sets wins, as at import);
* every database variable perfkit knows of, pointed at the scratch database: the ones
  ``app.database_env`` lists (a URL on ``app.driver``), ``DATABASE_URL``,
  ``TEST_DATABASE_URL`` and ``PERFORMANCE_TEST_DATABASE_URL`` (keeping the caller's scheme,
  e.g. ``postgresql+psycopg2://``, when it set one), and libpq's ``PGHOST``, ``PGPORT``,
  ``PGDATABASE``, ``PGUSER`` and ``PGPASSWORD``. Every other ``PG*`` variable that could
  choose a server (``PGSERVICE``, ``PGHOSTADDR``, ``PGOPTIONS``...) is left out, even from
  ``app.env``, and ``PGPASSFILE`` and ``PGSERVICEFILE`` name the null device: a URL written
  into the migrations' own code finds no stored password to reach another server with.

Then every value that reads as a PostgreSQL URL or a libpq keyword/value string
(``host=... dbname=...``) is pointed at the scratch database in the same form. A value that
holds a PostgreSQL URL perfkit cannot read one way (a password with a bare ``@``, a URL inside
other text) is refused: :class:`MigrationsEnvError` names the variable, never its value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

from perfkit.config import URL_ENV_VARS
from perfkit.errors import ConfigError, UrlError
from perfkit.urls import ParsedUrl, is_postgres_url, parse_conninfo, parse_url, with_driver

#: Variables the command inherits from the caller, as they are.
INHERITED = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "TMPDIR",
        "TMP",
        "TEMP",
        "LANG",
        "LANGUAGE",
        "TZ",
        "PYTHONPATH",
        "VIRTUAL_ENV",
        "SYSTEMROOT",  # Windows: Python cannot start without it
        # libpq settings that choose no server
        "PGSSLMODE",
        "PGSSLROOTCERT",
        "PGSSLCERT",
        "PGSSLKEY",
        "PGSSLCRL",
        "PGSSLCRLDIR",
        "PGGSSENCMODE",
        "PGCONNECT_TIMEOUT",
        "PGCLIENTENCODING",
    }
)
#: URL variables perfkit knows of besides ``app.database_env``.
URL_VARIABLES = ("DATABASE_URL", *URL_ENV_VARS)
#: Keywords that make a keyword/value string choose a database or server.
_CHOOSING = frozenset({"host", "hostaddr", "port", "dbname", "user", "service", "passfile"})
_ANY_POSTGRES_URL = re.compile(r"postgres(?:ql)?(?:\+\w+)?://", re.IGNORECASE)


class MigrationsEnvError(ConfigError):
    """A variable the migrations would get names a database perfkit cannot repoint.

    ``variable`` is its name; its value is never shown."""

    def __init__(self, variable: str, *, source: str, key_path: str, reason: str) -> None:
        super().__init__(
            f"{variable} {reason}, so perfkit cannot point it at the scratch database; "
            "the migrations were not run",
            source=source,
            key_path=key_path,
            hint=f"fix or remove {variable} (perfkit sets the database variables it knows of "
            "itself: list the one your migrations read in app.database_env)",
        )
        self.variable = variable


def migrations_environment(
    *,
    caller: Mapping[str, str],
    app_env: Mapping[str, str],
    database_env: Sequence[str],
    url: str,
    driver: str,
    source: str,
) -> dict[str, str]:
    """The environment the migrations command runs in (see the module docstring); ``url`` is
    the scratch database's, with the credentials the command may use."""
    target = parse_url(url, source="the scratch database's URL")
    env = {k: v for k, v in caller.items() if k in INHERITED or k.startswith("LC_")}
    env.update({name: caller.get(name, value) for name, value in app_env.items()})
    for name in [n for n in env if n.startswith("PG") and n not in INHERITED]:
        del env[name]  # PGSERVICE, PGHOSTADDR, PGOPTIONS...: they choose a server
    for name in sorted(env):
        key_path = f"app.env.{name}" if name in app_env else "app.schema.migrations"
        env[name] = _repointed(name, env[name], target, url, source=source, key_path=key_path)
    for name in URL_VARIABLES:
        given = caller.get(name, app_env.get(name, ""))
        env[name] = _as_url(url, given) if is_postgres_url(given) else with_driver(url, driver)
    env.update(dict.fromkeys(database_env, str(with_driver(url, driver))))
    env.update(_libpq_variables(target))
    env.update(PGPASSFILE=os.devnull, PGSERVICEFILE=os.devnull)
    return env


def _repointed(
    name: str, value: str, target: ParsedUrl, url: str, *, source: str, key_path: str
) -> str:
    """``value``, pointed at the target when it reads as a connection; refused when it holds
    a PostgreSQL URL that cannot be read one way."""
    kind = connection_kind(value)
    if kind == "url":
        try:
            parse_url(value, source=f"environment {name}")
        except UrlError:
            raise MigrationsEnvError(
                name,
                source=source,
                key_path=key_path,
                reason="holds a PostgreSQL URL that can be read more than one way",
            ) from None
        return _as_url(url, value)
    if kind == "keywords":
        return keyword_string(target)
    if _ANY_POSTGRES_URL.search(value):
        raise MigrationsEnvError(
            name,
            source=source,
            key_path=key_path,
            reason="holds a PostgreSQL URL inside other text",
        )
    return value


def connection_kind(value: str) -> Literal["url", "keywords"] | None:
    """``url`` for a PostgreSQL URL, ``keywords`` for a libpq keyword/value string that
    chooses a server or database (``host=db dbname=shop``, read by
    :func:`perfkit.urls.parse_conninfo`), else None."""
    if is_postgres_url(value.strip()):
        return "url"
    keywords = parse_conninfo(value)
    if keywords is not None and keywords.keys() & _CHOOSING:
        return "keywords"
    return None


def _as_url(url: str, like: str) -> str:
    """``url`` with ``like``'s scheme (``postgres://``, ``postgresql+psycopg2://``...)."""
    scheme = like.strip().split("://", 1)[0]
    return scheme + "://" + url.split("://", 1)[1]


def keyword_string(target: ParsedUrl) -> str:
    """``target`` as a libpq keyword/value string."""
    pairs = _libpq_pairs(target)
    return " ".join(f"{key}={_quoted(value)}" for key, value in pairs)


def _libpq_pairs(target: ParsedUrl) -> Iterable[tuple[str, str]]:
    hosts = ",".join(host for host, _ in target.hosts)
    ports = ",".join(str(port or "") for _, port in target.hosts).strip(",")
    for key, value in (
        ("host", hosts),
        ("port", ports),
        ("dbname", target.database or ""),
        ("user", target.user or ""),
        ("password", target.password or ""),
    ):
        if value:
            yield key, value


def _libpq_variables(target: ParsedUrl) -> dict[str, str]:
    names = {
        "host": "PGHOST",
        "port": "PGPORT",
        "dbname": "PGDATABASE",
        "user": "PGUSER",
        "password": "PGPASSWORD",
    }
    return {names[key]: value for key, value in _libpq_pairs(target)}


def _quoted(value: str) -> str:
    if value and not re.search(r"[\s'\\]", value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
