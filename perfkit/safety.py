"""The safety rule: writing and destructive operations only touch databases that are clearly
for tests.

Names are read as *parts*, never as substrings: a name is split at every character that is not
a letter or a digit, between letters and digits, and where the case changes
(``keikakun_test_performance`` -> ``keikakun``, ``test``, ``performance``; ``TestDB`` ->
``Test``, ``DB``; ``myapp-perf`` -> ``myapp``, ``perf``). ``safety.test_database_pattern`` (a
regular expression, default ``test|perf``) must match one whole part, case-insensitively
(``re.fullmatch``): ``perf_test`` and ``TestDB`` look like test databases, ``app_latest``,
``contest`` and ``superfast`` do not. ``safety.production_pattern`` (default
``prod|production|live``) is read the same way: a name with such a part is refused whatever else
it says (``production_perf_copy``).

The rule, :func:`check_name`:

- the explicit override (``--confirm-database NAME``, repeating the exact name) allows anything;
- a name with a production part is refused;
- *replacing or dropping* an existing database (a restore, a template clone swapped in) needs a
  database that perfkit created -- its comment says so -- whatever its name;
- *writing tables* into a database (a seed) needs one that perfkit created or whose name has a
  test part.

Anything else is refused with :class:`~perfkit.errors.UnsafeTargetError`. perfkit's comment
(:data:`~perfkit.env.base.CREATED_BY_PERFKIT`) is put only on databases perfkit itself creates.
"""

from __future__ import annotations

import re
from typing import Literal

import asyncpg

from perfkit.config import Config
from perfkit.env.base import CREATED_BY_PERFKIT
from perfkit.errors import UnsafeTargetError

OVERRIDE_FLAG = "--confirm-database"

#: A name's parts: an acronym before a capitalised word (``HTTP`` in ``HTTPServer``), a word
#: (``Test``, ``test``), an upper-case run (``DB``), a run of digits, a run of other letters.
_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+|[^\W\d_A-Za-z]+")

Rule = Literal["production", "not_created", "name", "confirmation"]


def name_parts(name: str) -> list[str]:
    """The parts the safety rule reads in ``name`` (see the module docstring)."""
    return _PART.findall(name)


def _has_part(name: str, pattern: str) -> bool:
    regex = re.compile(pattern, re.IGNORECASE)
    return any(regex.fullmatch(part) for part in name_parts(name))


def is_test_name(name: str, cfg: Config) -> bool:
    """Whether a whole part of ``name`` matches ``safety.test_database_pattern``."""
    return _has_part(name, cfg.safety.test_database_pattern)


def is_production_name(name: str, cfg: Config) -> bool:
    """Whether a whole part of ``name`` matches ``safety.production_pattern``."""
    return _has_part(name, cfg.safety.production_pattern)


def check_name(
    name: str,
    cfg: Config,
    *,
    confirm: str | None = None,
    created: bool | None = None,
    destructive: bool = True,
) -> None:
    """Refuse to touch database ``name`` unless the safety rule allows it.

    ``created`` is what :func:`created_by_perfkit` found: True (perfkit's comment), False (the
    database exists without it), None (no such database, or not looked up: nothing existing is
    at stake). ``destructive`` (the default) means the database itself is replaced or dropped:
    an existing one must then be perfkit's. ``destructive=False`` is for writing tables into
    it (seeding): perfkit's, or a name with a test part. ``confirm`` equal to ``name`` allows
    anything.
    """
    if confirm is not None and confirm == name:
        return
    rule = _refusal(name, cfg, created=created, destructive=destructive)
    if rule is None:
        return
    if confirm is not None:
        rule, reason = "confirmation", f"the confirmation names {confirm!r}, not this database"
    else:
        reason = _reason(rule, name, cfg)
    raise UnsafeTargetError(name, reason=reason, rule=rule)


def _refusal(name: str, cfg: Config, *, created: bool | None, destructive: bool) -> Rule | None:
    """Which part of the rule refuses ``name`` (None: it is allowed)."""
    if is_production_name(name, cfg):
        return "production"
    if created:
        return None
    if destructive and created is False:
        return "not_created"
    return None if is_test_name(name, cfg) else "name"


def _reason(rule: Rule, name: str, cfg: Config) -> str:
    if rule == "production":
        parts = [p for p in name_parts(name) if _has_part(p, cfg.safety.production_pattern)]
        return (
            f"its name says production ({', '.join(repr(p) for p in parts)} matches "
            f"safety.production_pattern {cfg.safety.production_pattern!r})"
        )
    if rule == "not_created":
        return (
            "it would be replaced, and perfkit did not create it (its comment does not say so), "
            "so its name alone is not enough"
        )
    return (
        "it was not created by perfkit and no part of its name "
        f"({', '.join(repr(p) for p in name_parts(name)) or 'none'}) matches "
        f"safety.test_database_pattern {cfg.safety.test_database_pattern!r}"
    )


async def created_by_perfkit(conn: asyncpg.Connection, name: str) -> bool | None:
    """Whether the database ``name`` carries perfkit's creation comment; None when there is no
    such database (what :func:`check_name` takes as ``created``)."""
    row = await conn.fetchrow(
        "SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database "
        "WHERE datname = $1",
        name,
    )
    if row is None:
        return None
    return bool(row["comment"] == CREATED_BY_PERFKIT)


async def ensure_test_database(
    conn: asyncpg.Connection, cfg: Config, *, confirm: str | None = None
) -> str:
    """Check that tables may be written into the database ``conn`` is connected to (the rule
    for seeding: ``destructive=False``); return its name or raise."""
    name = str(await conn.fetchval("SELECT current_database()"))
    created = await created_by_perfkit(conn, name)
    check_name(name, cfg, confirm=confirm, created=created, destructive=False)
    return name
