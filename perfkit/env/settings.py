"""``database.settings`` against the server: known names, accepted values, applied for real.

scales.yaml's server settings are checked where PostgreSQL itself decides:

- **names** against the server's own list (``pg_settings``, or, before the native server
  starts, ``postgres --describe-config`` of the very binaries that will run it). An unknown
  name is a :class:`~perfkit.errors.ConfigError` naming ``database.settings.<name>``, with a
  "did you mean" from that list. Names with a dot (``auto_explain.log_min_duration``) belong
  to extensions and are PostgreSQL placeholders until one loads: they are let through.
- **values** by PostgreSQL's own parser (``postgres -C ... -c name=value``, native), so a
  unit, range or enum mistake reads exactly as PostgreSQL words it.
- **applied**: the native backend reloads the server and restarts it for settings that need
  a restart (:mod:`perfkit.env.native`); docker and external servers are compared with what
  they run (:func:`compare_running`) and differences are reported, never changed.

The settings perfkit owns (``listen_addresses``, ``port``, ...) are refused when the config is
loaded: :func:`perfkit.config.server_setting_owned`. One perfkit *shares*:
``shared_preload_libraries``. perfkit's native server preloads ``pg_stat_statements`` (when
its binaries ship it) for the server's own statement figures; a user's list is merged with it,
never replaced by it nor replacing it (:func:`merged_preload`).
"""

from __future__ import annotations

import asyncio
import difflib
import math
import re
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from perfkit.db import connection
from perfkit.errors import ConfigError

if TYPE_CHECKING:
    import asyncpg

#: Memory units PostgreSQL accepts, in bytes; time units, in milliseconds.
_MEMORY = {"B": 1, "kB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
_TIME = {"us": 0.001, "ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}
_NUMBER = re.compile(r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-z]*)\s*")
_TRUE = ("on", "true", "yes", "1")
_FALSE = ("off", "false", "no", "0")


#: The setting perfkit and the user share: both lists are preloaded.
PRELOAD = "shared_preload_libraries"
#: What perfkit's native server adds to it, when the binaries ship it.
STATEMENTS_LIBRARY = "pg_stat_statements"
#: Settings whose value is a list of libraries (compared item by item).
_LIBRARY_LISTS = frozenset({PRELOAD, "session_preload_libraries", "local_preload_libraries"})


def key_path(name: str) -> str:
    """Where a setting lives in scales.yaml."""
    return f"database.settings.{name}"


def is_placeholder(name: str) -> bool:
    """A ``prefix.name`` setting: an extension's, unknown to the server until it loads."""
    return "." in name


def check_names(settings: Mapping[str, str], known: Collection[str], *, source: str) -> None:
    """Raise :class:`ConfigError` for the first name the server does not know (any case),
    suggesting the closest known one."""
    lowered = {k.lower() for k in known}
    for name in settings:
        if is_placeholder(name) or name.lower() in lowered:
            continue
        raise unknown_setting(name, known, source=source)


def unknown_setting(name: str, known: Collection[str], *, source: str) -> ConfigError:
    """The error for a setting name PostgreSQL does not know, with a "did you mean"."""
    close = difflib.get_close_matches(name.lower(), sorted(known), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ConfigError(
        f"PostgreSQL has no setting {name!r}.{hint}",
        source=source,
        key_path=key_path(name),
        hint="see `SELECT name FROM pg_settings`, or the PostgreSQL documentation",
        suggestion=close[0] if close else None,
    )


def rejected_value(name: str, value: str, reason: str, *, source: str) -> ConfigError:
    """The error for a value PostgreSQL refuses (``reason`` is PostgreSQL's own words)."""
    return ConfigError(
        f"PostgreSQL refuses {value!r}: {reason}",
        source=source,
        key_path=key_path(name),
    )


# --------------------------------------------------------------------------------------------
# shared_preload_libraries: the user's list and perfkit's, merged


def library_list(value: str) -> list[str] | None:
    """The items of a PostgreSQL library list as the server splits it (its
    ``SplitDirectoriesString``): comma-separated, whitespace around an item dropped, a
    double-quoted item taken as written (``""`` for a quote). None when PostgreSQL would
    refuse the syntax (an empty item, an unclosed quote), and then preload nothing at all."""
    items: list[str] = []
    i, n = 0, len(value)
    while i < n and value[i].isspace():
        i += 1
    if i == n:
        return items
    while True:
        if i == n:
            return None  # a comma with nothing after it
        if value[i] == '"':
            chars: list[str] = []
            i += 1
            while True:
                if i >= n:
                    return None
                if value[i] == '"':
                    if i + 1 < n and value[i + 1] == '"':
                        chars.append('"')
                        i += 2
                        continue
                    i += 1
                    break
                chars.append(value[i])
                i += 1
            item = "".join(chars)
        else:
            start = i
            while i < n and value[i] != ",":
                i += 1
            item = value[start:i].strip()
            if not item:
                return None
        while i < n and value[i].isspace():
            i += 1
        items.append(item)
        if i == n:
            return items
        if value[i] != ",":
            return None
        i += 1
        while i < n and value[i].isspace():
            i += 1


def _library_literal(item: str) -> str:
    """One list item as the server reads it back: double-quoted when it must be."""
    if item and not any(ch in item for ch in ',"') and item == item.strip():
        return item
    return '"' + item.replace('"', '""') + '"'


def _same_library(item: str, name: str) -> bool:
    """Whether list item ``item`` loads library ``name`` (``$libdir/name``, ``name.so``)."""
    return item.removeprefix("$libdir/").removesuffix(".so") == name


def merged_preload(
    settings: Mapping[str, str], *, statements_library: bool, source: str
) -> dict[str, str]:
    """``settings`` with ``shared_preload_libraries`` (under any spelling of its name) as one
    key: the user's libraries in the user's order, each once, then ``pg_stat_statements``
    when ``statements_library`` and the user did not list it. Without a list of the user's,
    the setting is perfkit's alone. A list PostgreSQL cannot read is a :class:`ConfigError`
    (the server would preload nothing, and say so only in its log)."""
    merged = {k: v for k, v in settings.items() if k.lower() != PRELOAD}
    libraries: list[str] = []
    for name, value in settings.items():
        if name.lower() != PRELOAD:
            continue
        items = library_list(value)
        if items is None:
            raise ConfigError(
                f"not a list PostgreSQL can read: {value!r}",
                source=source,
                key_path=key_path(name),
                hint="libraries separated by commas, e.g. auto_explain, pg_stat_statements",
            )
        libraries += [item for item in dict.fromkeys(items) if item not in libraries]
    if statements_library and not any(_same_library(i, STATEMENTS_LIBRARY) for i in libraries):
        libraries.append(STATEMENTS_LIBRARY)
    if libraries:
        merged[PRELOAD] = ", ".join(_library_literal(item) for item in libraries)
    return merged


# --------------------------------------------------------------------------------------------
# what a running server says


@dataclass(frozen=True)
class Running:
    """One row of ``pg_settings``: what the server runs with, and how to read a value."""

    name: str
    setting: str
    unit: str | None
    vartype: str
    context: str
    pending_restart: bool
    #: The value as ``SHOW`` prints it (``2GB`` rather than 262144 x 8kB).
    shown: str = ""


async def running_settings(conn: asyncpg.Connection) -> dict[str, Running]:
    """Every setting the server knows, by lower-case name (a fresh snapshot of ``pg_settings``)."""
    rows = await conn.fetch(
        "SELECT name, setting, unit, vartype, context, pending_restart, "
        "current_setting(name) AS shown FROM pg_settings"
    )
    return {
        str(r["name"]).lower(): Running(
            name=str(r["name"]),
            setting=str(r["setting"]),
            unit=r["unit"],
            vartype=str(r["vartype"]),
            context=str(r["context"]),
            pending_restart=bool(r["pending_restart"]),
            shown=str(r["shown"]),
        )
        for r in rows
    }


@dataclass(frozen=True)
class Difference:
    """A configured setting the server does not run with."""

    name: str
    wanted: str
    running: str
    pending_restart: bool = False

    def describe(self) -> str:
        shown = self.running if self.running != "" else "''"
        return f"{key_path(self.name)} is {self.wanted!r} in scales.yaml, the server runs {shown}"


def compare_running(
    settings: Mapping[str, str], running: Mapping[str, Running]
) -> tuple[list[str], list[Difference]]:
    """(names the server does not know, settings it runs with another value)."""
    unknown: list[str] = []
    differ: list[Difference] = []
    for name, wanted in settings.items():
        row = running.get(name.lower())
        if row is None:
            if not is_placeholder(name):
                unknown.append(name)
            continue
        if not same_value(wanted, row):
            differ.append(Difference(name, wanted, row.shown, pending_restart=row.pending_restart))
    return unknown, differ


def same_value(wanted: str, row: Running) -> bool:
    """Whether ``wanted`` (as written in scales.yaml) means what the server runs with.

    Numbers are compared in the setting's unit (``2GB`` = 262144 x 8kB), booleans and enums by
    meaning, library lists item by item (``a, b`` = ``a,b``), other strings exactly. A value
    that cannot be read counts as different.
    """
    if row.name.lower() in _LIBRARY_LISTS:
        wanted_items = library_list(wanted)
        return wanted_items is not None and wanted_items == library_list(row.setting)
    if row.vartype == "bool":
        value = _bool(wanted)
        return value is not None and value == _bool(row.setting)
    if row.vartype == "enum":
        return wanted.strip().lower() == row.setting.lower()
    if row.vartype in ("integer", "real"):
        want = _in_unit(wanted, row.unit)
        have = _in_unit(row.setting, None)
        if want is None or have is None:
            return False
        if row.vartype == "integer":
            return round(want) == round(have)
        return math.isclose(want, have, rel_tol=1e-9, abs_tol=1e-12)
    return wanted == row.setting


def _bool(text: str) -> bool | None:
    low = text.strip().lower()
    if low in ("o", ""):
        return None  # ambiguous for PostgreSQL too
    if any(word.startswith(low) for word in _TRUE):
        return True
    if any(word.startswith(low) for word in _FALSE):
        return False
    return None


def _in_unit(text: str, unit: str | None) -> float | None:
    """``text`` (a number with an optional unit) as a number of ``unit`` (``8kB``, ``ms``...);
    without a unit in ``text`` the number is already in ``unit``."""
    found = _NUMBER.fullmatch(text)
    if found is None:
        return None
    number, suffix = float(found.group(1)), found.group(2)
    if not suffix:
        return number
    base_unit = _unit_size(unit)
    if base_unit is None:
        return None
    table, size = base_unit
    if suffix not in table:
        return None
    return number * table[suffix] / size


def _unit_size(unit: str | None) -> tuple[dict[str, float], float] | None:
    """(the table of units of that kind, the size of ``unit`` in it): ``8kB`` -> memory, 8192."""
    if not unit:
        return None
    found = re.fullmatch(r"(\d*)\s*([A-Za-z]+)", unit)
    if found is None:
        return None
    count = int(found.group(1) or 1)
    name = found.group(2)
    for table in (_MEMORY, _TIME):
        if name in table:
            return {k: float(v) for k, v in table.items()}, count * float(table[name])
    return None


async def report_running(
    url: str, settings: Mapping[str, str], *, source: str, strict: bool
) -> list[tuple[str, str]]:
    """Compare ``settings`` with what the server at ``url`` runs; change nothing.

    Unknown names raise :class:`ConfigError` when ``strict`` (a server perfkit manages), and
    are reported otherwise. Returns ``("warning", text)`` rows for a status table.
    """
    if not settings:
        return []
    async with connection(url) as conn:
        running = await running_settings(conn)
    unknown, differ = compare_running(settings, running)
    if unknown and strict:
        raise unknown_setting(unknown[0], [r.name for r in running.values()], source=source)
    rows = [("warning", f"{key_path(n)}: the server has no such setting") for n in unknown]
    rows += [("warning", d.describe()) for d in differ]
    return rows


# --------------------------------------------------------------------------------------------
# applying them on perfkit's own server

#: How long a reload may take to reach this session.
RELOAD_DEADLINE_S = 10.0


async def reload_and_wait(conn: asyncpg.Connection) -> None:
    """``pg_reload_conf()``, then wait (with a deadline) until this session has re-read the
    files too, so that what it reports next (``pending_restart``) is the new state."""
    before = await conn.fetchval("SELECT pg_conf_load_time()")
    await conn.fetchval("SELECT pg_reload_conf()")
    deadline = time.monotonic() + RELOAD_DEADLINE_S
    while await conn.fetchval("SELECT pg_conf_load_time()") <= before:
        if time.monotonic() > deadline:
            raise ConfigError(
                f"the server did not re-read its configuration within {RELOAD_DEADLINE_S:g} s",
                source="the server",
                key_path="database.settings",
                hint="check the server log (`perfkit db-status` names it)",
            )
        await asyncio.sleep(0.02)


async def pending_restart(conn: asyncpg.Connection) -> list[str]:
    """Settings whose file value waits for a restart."""
    rows = await conn.fetch("SELECT name FROM pg_settings WHERE pending_restart ORDER BY name")
    return [str(r["name"]) for r in rows]


async def other_sessions(conn: asyncpg.Connection) -> int:
    """Client sessions on the server besides this one."""
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )
    )


async def overridden_settings(admin_url: str, conf: Path) -> list[tuple[str, str]]:
    """``("warning", text)`` rows for what keeps perfkit's settings file from counting: a
    setting another file sets after it (``ALTER SYSTEM`` writes ``postgresql.auto.conf``), and
    errors in the other files (PostgreSQL then applies none of them)."""
    async with connection(admin_url) as conn:
        rows = await conn.fetch(
            "SELECT sourcefile, sourceline, seqno, lower(name) AS name, applied, error "
            "FROM pg_file_settings ORDER BY seqno"
        )
    ours = str(conf)
    notes: list[tuple[str, str]] = []
    mine = {r["name"]: r for r in rows if r["sourcefile"] == ours}
    for name, row in mine.items():
        later = [r for r in rows if r["name"] == name and r["seqno"] > row["seqno"]]
        if later and later[-1]["sourcefile"] != ours:
            where = f"{Path(later[-1]['sourcefile']).name} line {later[-1]['sourceline']}"
            notes.append((
                "warning",
                f"{key_path(name)} is overridden by {where}"
                + (f" (ALTER SYSTEM RESET {name})" if where.startswith("postgresql.auto") else ""),
            ))  # fmt: skip
    for r in rows:
        if r["error"] and r["sourcefile"] != ours:
            notes.append((
                "warning",
                f"{r['sourcefile']} line {r['sourceline']}: {r['error']}"
                + (f" ({r['name']})" if r["name"] else "")
                + "; PostgreSQL applies no configuration file while one has an error",
            ))  # fmt: skip
    return notes
