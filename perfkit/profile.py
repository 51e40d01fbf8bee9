"""Statement profiles and plans: where a workload's time goes, statement by statement.

:class:`StatementProfiler` listens to an engine's ``before_cursor_execute`` and
``after_cursor_execute`` events (so it works on any driver) while one extra, *untimed* run of
a workload goes through it, after the timed repeats: the timed samples never carry its
overhead. Each statement is normalized with PostgreSQL's own parser (:mod:`pglast`):
literals and parameters become ``$n`` and an ``IN`` list of any length folds into one form,
so ``IN ($1, $2)`` and ``IN ($1, ..., $100)`` are one statement with one fingerprint. Per
fingerprint it keeps calls, total time and rows returned, plus the first text and parameters
it ran with, which :func:`explain_statements` re-runs under ``EXPLAIN (ANALYZE, BUFFERS,
FORMAT JSON)`` on a separate connection of the same engine, always inside a transaction that
is rolled back (a statement that writes leaves nothing behind). Only a text that holds exactly
one query or data change is re-run (:func:`explain_refusal`, by PostgreSQL's own parser): a
text such as ``UPDATE ...; COMMIT`` (psycopg sends a text without parameters as it is) would
end that transaction itself, so it gets "plan not taken: 2 statements in one call" instead.

A plan's **shape** is its tree of node types, relations and index names, costs and row
counts left out; :func:`plan_shape` gives it and :func:`shape_hash` its hash, which
``compare`` uses to say that a plan changed.

**Deterministic figures.** Per statement, the rows returned to the application and the shared
buffers it touched (``shared_blks_hit`` + ``shared_blks_read``): from ``pg_stat_statements``
over the profiled run's calls when the server preloads it (:class:`ServerStatements`; perfkit's
native server does), else from the ``EXPLAIN (ANALYZE, BUFFERS)`` of one call; each entry says
which (``buffers_source``). Neither depends on how busy the machine is, so ``compare`` gates
on them exactly.

Over 500 lines: collecting, normalizing, explaining and the server's own figures are one
profile, and they share the statement's normalized form.

Over 500 lines: statement capture, normalisation, database/application time and the profile's
text form share one data model; each part is short, the whole is one idea.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import asyncpg
from pglast import ast as pg_ast
from pglast import parser as pg_parser
from sqlalchemy import Connection, Engine, event
from sqlalchemy.ext.asyncio import AsyncEngine

#: Statements kept in a run record's profile (the most expensive first).
PROFILE_LIMIT = 50
#: Statements explained per workload (the most expensive first).
EXPLAIN_LIMIT = 5
#: The statements explained: queries and data changes (``SELECT``, ``WITH``, ``VALUES`` and
#: ``TABLE`` are all a ``SelectStmt`` to PostgreSQL's parser).
_EXPLAINABLE = (
    pg_ast.SelectStmt,
    pg_ast.InsertStmt,
    pg_ast.UpdateStmt,
    pg_ast.DeleteStmt,
    pg_ast.MergeStmt,
)
#: The beginning of every reason a statement's plan was not taken.
NOT_TAKEN = "plan not taken: "

_PYFORMAT = re.compile(r"%\((\w+)\)s|%s")
_POSTCOMPILE = re.compile(r"__\[POSTCOMPILE_\w+\]")
_IN_LIST = re.compile(r"\bIN\s*\(\s*\$\d+(?:\s*,\s*\$\d+)*\s*\)", re.IGNORECASE)
_QMARK_PARAM = re.compile(r"\$\d+")
_LITERAL = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b")
_SPACES = re.compile(r"\s+")


# --------------------------------------------------------------------------------------------
# normalizing


def _dollar_params(sql: str) -> str:
    """``%(name)s`` / ``%s`` (psycopg) and ``__[POSTCOMPILE_x]`` as ``$n``, for the parser."""
    counter = iter(range(1, 1_000_000))
    sql = _PYFORMAT.sub(lambda _m: f"${next(counter)}", sql)
    return _POSTCOMPILE.sub(lambda _m: f"${next(counter)}", sql)


def normalize(sql: str) -> tuple[str, str]:
    """``(fingerprint, normalized text)`` of one statement.

    The text has literals and parameters as ``?`` and every ``IN`` list as ``IN (?...)``;
    the fingerprint hashes pglast's (which ignores literals and IN-list lengths) with that
    text (pglast's alone, when PostgreSQL's parser cannot read the statement, is empty).
    """
    dollar = _dollar_params(sql)
    try:
        text = pg_parser.normalize(dollar)
        fingerprint = str(pg_parser.fingerprint(dollar))
    except pg_parser.ParseError:
        text = _LITERAL.sub("?", dollar)
        fingerprint = ""
    text = _IN_LIST.sub("IN (?...)", text)
    text = _SPACES.sub(" ", _QMARK_PARAM.sub("?", text)).strip()
    # pglast's fingerprint alone merges ``x = $1`` with ``x = ANY($1)``: the text tells them
    # apart (and is already free of literals and IN-list lengths)
    key = f"{fingerprint}:{text}".encode()
    return hashlib.blake2b(key, digest_size=8).hexdigest(), text


@functools.lru_cache(maxsize=4096)
def _normalize_cached(sql: str) -> tuple[str, str]:
    return normalize(sql)


def shorten(text: str, limit: int = 90) -> str:
    """``text`` on one line, cut with an ellipsis after ``limit`` characters."""
    one = _SPACES.sub(" ", text).strip()
    return one if len(one) <= limit else one[: limit - 1] + "…"


# --------------------------------------------------------------------------------------------
# collecting


@dataclass
class StatementStats:
    """One normalized statement's totals in a profiled run, and how to run it again."""

    fingerprint: str
    statement: str
    calls: int = 0
    seconds: float = 0.0
    rows: int = 0
    #: The first execution's driver-level text and parameters (not stored in records).
    sql: str = ""
    parameters: Any = None
    executemany: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The record's entry: fingerprint, statement, calls, total/mean ms, rows."""
        total_ms = self.seconds * 1000
        return {
            "fingerprint": self.fingerprint,
            "statement": self.statement,
            "calls": self.calls,
            "total_ms": round(total_ms, 3),
            "mean_ms": round(total_ms / self.calls, 4) if self.calls else 0.0,
            "rows": self.rows,
        }


@dataclass
class StatementProfiler:
    """Times every statement an engine executes while active (``with`` block).

    Time is from ``before_cursor_execute`` to ``after_cursor_execute``: the driver's execute,
    which for asyncpg includes fetching the rows. Rows are ``cursor.rowcount`` when the
    driver knows it, else the length of the rows the driver already fetched.
    """

    engine: AsyncEngine | Engine
    #: Per driver-level text, in order of first execution.
    _raw: dict[str, StatementStats] = field(default_factory=dict)

    @property
    def _sync(self) -> Engine:
        return self.engine.sync_engine if isinstance(self.engine, AsyncEngine) else self.engine

    @property
    def db_seconds(self) -> float:
        """Seconds spent in the driver's execute, all statements together."""
        return sum(s.seconds for s in self._raw.values())

    def _before(
        self,
        conn: Connection,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        conn.info.setdefault("perfkit_profile_started", []).append(time.perf_counter())

    def _after(
        self,
        conn: Connection,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        stack = conn.info.get("perfkit_profile_started")
        if not stack:
            return
        elapsed = time.perf_counter() - stack.pop()
        # by the driver's text here; normalizing waits until the run is over (:meth:`top`)
        entry = self._raw.get(statement)
        if entry is None:
            entry = self._raw[statement] = StatementStats(
                fingerprint="",
                statement=statement,
                sql=statement,
                parameters=_copy_parameters(parameters),
                executemany=executemany,
            )
        entry.calls += 1
        entry.seconds += elapsed
        entry.rows += _rows(cursor)

    @property
    def stats(self) -> dict[str, StatementStats]:
        """The statements so far by fingerprint (texts that normalize alike added up)."""
        merged: dict[str, StatementStats] = {}
        for raw in self._raw.values():
            fingerprint, text = _normalize_cached(raw.sql)
            entry = merged.get(fingerprint)
            if entry is None:
                entry = merged[fingerprint] = StatementStats(
                    fingerprint=fingerprint,
                    statement=text,
                    sql=raw.sql,
                    parameters=raw.parameters,
                    executemany=raw.executemany,
                )
            entry.calls += raw.calls
            entry.seconds += raw.seconds
            entry.rows += raw.rows
        return merged

    def __enter__(self) -> StatementProfiler:
        event.listen(self._sync, "before_cursor_execute", self._before)
        event.listen(self._sync, "after_cursor_execute", self._after)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        event.remove(self._sync, "before_cursor_execute", self._before)
        event.remove(self._sync, "after_cursor_execute", self._after)

    def top(self, limit: int = PROFILE_LIMIT) -> list[StatementStats]:
        """The statements by total time, most expensive first (normalized here, after the
        run, so parsing never lands inside the profiled run's wall time)."""
        return sorted(self.stats.values(), key=lambda s: (-s.seconds, s.statement))[:limit]


def _copy_parameters(parameters: Any) -> Any:
    if isinstance(parameters, Mapping):
        return dict(parameters)
    if isinstance(parameters, list | tuple):
        return type(parameters)(parameters)
    return parameters


def _rows(cursor: Any) -> int:
    count = getattr(cursor, "rowcount", -1)
    if isinstance(count, int) and count >= 0:
        return count
    fetched = getattr(cursor, "_rows", None)  # asyncpg's adapter: the rows it fetched
    try:
        return len(fetched) if fetched is not None else 0
    except TypeError:
        return 0


@dataclass(frozen=True)
class Profile:
    """One profiled (untimed) run: its wall time, database time and statements."""

    wall_seconds: float
    db_seconds: float
    statements: tuple[StatementStats, ...]

    @property
    def app_seconds(self) -> float:
        """Wall time outside the driver's execute (never below zero)."""
        return max(0.0, self.wall_seconds - self.db_seconds)

    @property
    def db_share(self) -> float:
        """The database's share of the wall time, 0..1."""
        return min(1.0, self.db_seconds / self.wall_seconds) if self.wall_seconds > 0 else 0.0


async def profile_run(
    fn: Callable[[], Awaitable[object]], *, engine: AsyncEngine | Engine
) -> Profile:
    """Run ``fn`` once under a :class:`StatementProfiler` (call it after the timed runs)."""
    with StatementProfiler(engine) as profiler:
        started = time.perf_counter()
        await fn()
        wall = time.perf_counter() - started
    statements = profiler.top(limit=2**31)
    return Profile(wall_seconds=wall, db_seconds=profiler.db_seconds, statements=tuple(statements))


# --------------------------------------------------------------------------------------------
# plans


def plan_shape(node: Mapping[str, Any]) -> dict[str, Any]:
    """A plan node's shape: node type, relation, index and the children's shapes."""
    shape: dict[str, Any] = {"node": node.get("Node Type", "?")}
    for key, name in (("Relation Name", "relation"), ("Index Name", "index")):
        if node.get(key):
            shape[name] = node[key]
    children = [plan_shape(c) for c in node.get("Plans", ())]
    if children:
        shape["children"] = children
    return shape


def shape_hash(shape: Mapping[str, Any]) -> str:
    """A short, stable hash of a plan shape."""
    blob = json.dumps(shape, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return hashlib.blake2b(blob, digest_size=8).hexdigest()


def node_label(shape: Mapping[str, Any]) -> str:
    """``Index Scan using ix on t`` / ``Seq Scan on t`` / ``Hash Join``."""
    label = str(shape.get("node", "?"))
    if shape.get("index"):
        label += f" using {shape['index']}"
    if shape.get("relation"):
        label += f" on {shape['relation']}"
    return label


def scans(shape: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every node of ``shape`` that reads a relation, depth first."""
    found: list[dict[str, Any]] = []
    if shape.get("relation"):
        found.append(dict(shape))
    for child in shape.get("children", ()):
        found.extend(scans(child))
    return found


def shape_text(shape: Mapping[str, Any], depth: int = 0) -> list[str]:
    """The shape as indented lines, one node a line."""
    lines = ["  " * depth + node_label(shape)]
    for child in shape.get("children", ()):
        lines.extend(shape_text(child, depth + 1))
    return lines


def slowest_node(node: Mapping[str, Any]) -> tuple[str, float]:
    """The node with the most exclusive time (its own, children's excluded), in ms."""
    own = float(node.get("Actual Total Time", 0.0)) * float(node.get("Actual Loops", 1) or 1)
    children = list(node.get("Plans", ()))
    for child in children:
        own -= float(child.get("Actual Total Time", 0.0)) * float(child.get("Actual Loops", 1) or 1)
    best = (node_label(plan_shape({**node, "Plans": []})), max(0.0, own))
    for child in children:
        candidate = slowest_node(child)
        if candidate[1] > best[1]:
            best = candidate
    return best


def explain_refusal(sql: str) -> str | None:
    """Why the driver-level text ``sql`` is not re-run under EXPLAIN ANALYZE (None: it is).

    Read by PostgreSQL's own parser (pglast). Only a text that holds exactly one query or data
    change is explained: more than one statement (``UPDATE ...; COMMIT``), transaction control
    (``BEGIN``, ``COMMIT``, ``ROLLBACK``, ``SAVEPOINT``, ``PREPARE TRANSACTION``...), anything
    else (``SET``, ``SHOW``, DDL) or a text the parser cannot read is refused: the rolled-back
    transaction EXPLAIN runs in is only a guarantee for a statement that cannot end it.
    """
    try:
        statements = pg_parser.parse_sql(_dollar_params(sql))
    except pg_parser.ParseError:
        return NOT_TAKEN + "PostgreSQL's parser cannot read the statement"
    if len(statements) != 1:
        if not statements:
            return NOT_TAKEN + "no statement"
        control = [_kind(s.stmt) for s in statements if isinstance(s.stmt, pg_ast.TransactionStmt)]
        return f"{NOT_TAKEN}{len(statements)} statements in one call" + (
            f", with transaction control ({', '.join(control)})" if control else ""
        )
    stmt = statements[0].stmt
    if isinstance(stmt, pg_ast.TransactionStmt):
        return f"{NOT_TAKEN}transaction control ({_kind(stmt)})"
    if not isinstance(stmt, _EXPLAINABLE):
        return f"{NOT_TAKEN}not a query or data change ({type(stmt).__name__})"
    return None


#: pglast's ``TRANS_STMT_*`` kinds whose SQL reads otherwise than the kind's name.
_TRANSACTION_WORDS = {
    "START": "START TRANSACTION",
    "PREPARE": "PREPARE TRANSACTION",
    "ROLLBACK_TO": "ROLLBACK TO SAVEPOINT",
}


def _kind(stmt: pg_ast.TransactionStmt) -> str:
    """``COMMIT``, ``PREPARE TRANSACTION``... from pglast's ``TRANS_STMT_*`` kind."""
    name = str(getattr(stmt.kind, "name", stmt.kind)).removeprefix("TRANS_STMT_")
    return _TRANSACTION_WORDS.get(name, name.replace("_", " "))


def explainable(sql: str) -> bool:
    """Whether ``sql`` is one query or data change, which EXPLAIN ANALYZE may re-run."""
    return explain_refusal(sql) is None


def _must_report(refusal: str) -> bool:
    """Whether a refusal is worth a line in the profile: a text that holds several statements
    or transaction control (a lone ``SET`` or ``SHOW`` is simply not a query)."""
    return " in one call" in refusal or "transaction control" in refusal


def _explain_sync(conn: Connection, sql: str, parameters: Any) -> Any:
    """``EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)`` of ``sql`` through the raw DBAPI cursor, in
    the transaction the caller rolls back."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, parameters)
        value = cursor.fetchall()[0][0]
    finally:
        cursor.close()
    return json.loads(value) if isinstance(value, str | bytes) else value


#: Opens the transaction EXPLAIN runs in: PostgreSQL refuses a savepoint outside a
#: transaction block, so a connection in autocommit mode errors here instead of committing.
_EXPLAIN_SAVEPOINT = "SAVEPOINT perfkit_explain"


class ExplainRefused(ValueError):
    """A statement text :func:`explain` must not re-run (see :func:`explain_refusal`)."""


async def explain(engine: AsyncEngine, stats: StatementStats) -> dict[str, Any]:
    """The plan of one profiled statement, run again with its first parameters on a separate
    connection, inside a transaction that is always rolled back. A text that is not exactly
    one query or data change raises :class:`ExplainRefused` before anything runs."""
    refusal = explain_refusal(stats.sql)
    if refusal is not None:
        raise ExplainRefused(refusal)
    async with engine.connect() as conn:
        trans = await conn.begin()
        try:
            await conn.exec_driver_sql(_EXPLAIN_SAVEPOINT)  # in a transaction block from here
            explained = await conn.run_sync(_explain_sync, stats.sql, stats.parameters)
        finally:
            await trans.rollback()
    top = explained[0] if isinstance(explained, list) else explained
    root = top["Plan"]
    shape = plan_shape(root)
    slow_label, slow_ms = slowest_node(root)
    return {
        "shape": shape,
        "shape_hash": shape_hash(shape),
        "slowest_node": slow_label,
        "slowest_node_ms": round(slow_ms, 3),
        "execution_ms": float(top.get("Execution Time", 0.0)),
        "plan": top,
    }


async def explain_statements(
    engine: AsyncEngine, statements: Sequence[StatementStats], *, limit: int = EXPLAIN_LIMIT
) -> dict[str, dict[str, Any]]:
    """Plans of the ``limit`` most expensive explainable statements, by fingerprint. A
    statement EXPLAIN refuses is skipped with its error as the plan's ``error``; so is a text
    that holds several statements or transaction control, with "plan not taken: ..." as the
    ``error`` (:func:`explain_refusal`; it is not re-run, and does not count to ``limit``)."""
    plans: dict[str, dict[str, Any]] = {}
    taken = 0
    for stats in statements:
        if taken >= limit:
            break
        if stats.executemany:
            continue
        refusal = explain_refusal(stats.sql)
        if refusal is not None:
            if _must_report(refusal):
                plans[stats.fingerprint] = {"error": refusal}
            continue
        taken += 1
        try:
            plans[stats.fingerprint] = await explain(engine, stats)
        except Exception as exc:  # a plan is extra information, never fatal
            plans[stats.fingerprint] = {"error": shorten(f"{type(exc).__name__}: {exc}", 200)}
    return plans


def profile_entries(
    profile: Profile, plans: Mapping[str, Mapping[str, Any]], *, limit: int = PROFILE_LIMIT
) -> list[dict[str, Any]]:
    """The run record's ``profile``: the top statements, each with its plan when explained,
    and that plan's shared buffers (one call's, ``buffers_source: explain``;
    :func:`with_server_figures` puts the server's totals in their place when it has them)."""
    entries = []
    for stats in profile.statements[:limit]:
        entry = stats.to_dict()
        if stats.fingerprint in plans:
            plan = dict(plans[stats.fingerprint])
            entry["plan"] = plan
            root = (plan.get("plan") or {}).get("Plan") or {}
            if "Shared Hit Blocks" in root and "Shared Read Blocks" in root:
                entry["shared_blks_hit"] = int(root["Shared Hit Blocks"])
                entry["shared_blks_read"] = int(root["Shared Read Blocks"])
                entry["buffers_source"] = BUFFERS_FROM_EXPLAIN
        entries.append(entry)
    return entries


# --------------------------------------------------------------------------------------------
# the server's own figures (pg_stat_statements), when the server has them


#: Where a profile entry's buffer figures came from (its ``buffers_source``).
BUFFERS_FROM_SERVER = "pg_stat_statements"
BUFFERS_FROM_EXPLAIN = "explain"


@dataclass(frozen=True)
class ServerFigures:
    """One statement's figures from ``pg_stat_statements`` over the profiled run: calls,
    execution time, rows, and the shared buffers it found in the cache (``hit``) or had to
    read (``read``). Buffers are the deterministic cost of a statement: the same plan on the
    same data touches the same blocks, however busy the machine is."""

    query: str
    calls: int
    total_ms: float
    rows: int
    shared_blks_hit: int
    shared_blks_read: int


@dataclass(frozen=True)
class ServerStatements:
    """pg_stat_statements for one database, when the server preloads it (perfkit's native
    server does when its binaries ship it). The extension lives in the server's maintenance
    database, so the database under test is not touched; figures are reset just before the
    profiled run and read right after it."""

    admin_url: str
    database: str

    @classmethod
    async def start(cls, url: str) -> ServerStatements | None:
        """Reset the figures of ``url``'s database; None when the server has none to give."""
        from perfkit.database import Database

        db = Database(url)
        try:
            async with db.admin(timeout=5.0) as admin:
                preload = str(await admin.conn.fetchval("SHOW shared_preload_libraries"))
                if "pg_stat_statements" not in preload:
                    return None
                await admin.conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
                await admin.conn.execute(
                    "SELECT pg_stat_statements_reset(0, "
                    "(SELECT oid FROM pg_database WHERE datname = $1), 0)",
                    db.name,
                )
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
            return None
        return cls(admin_url=db.admin_url, database=db.name)

    async def collect(self) -> list[ServerFigures]:
        """Every statement's figures since :meth:`start`."""
        from perfkit.db import connection

        async with connection(self.admin_url, timeout=5.0) as conn:
            rows = await conn.fetch(
                "SELECT s.query, s.calls, s.total_exec_time, s.rows, s.shared_blks_hit, "
                "s.shared_blks_read FROM pg_stat_statements s "
                "JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = $1",
                self.database,
            )
        return [
            ServerFigures(str(r[0]), int(r[1]), float(r[2]), int(r[3]), int(r[4]), int(r[5]))
            for r in rows
        ]


def with_server_figures(
    entries: list[dict[str, Any]], server: Sequence[ServerFigures]
) -> list[dict[str, Any]]:
    """``entries`` with the server's figures added where the normalized statements match:
    ``server_calls``, ``server_total_ms``, and the shared buffers of all its calls
    (``shared_blks_hit``, ``shared_blks_read``, ``buffers_source: pg_stat_statements``, in
    place of an EXPLAIN's figures of one call)."""
    by_key: dict[str, list[ServerFigures]] = {}
    for figures in server:
        key, _text = _normalize_cached(figures.query)
        by_key.setdefault(key, []).append(figures)
    out = []
    for entry in entries:
        found = by_key.get(str(entry.get("fingerprint")))
        if found:
            entry = {
                **entry,
                "server_calls": sum(f.calls for f in found),
                "server_total_ms": round(sum(f.total_ms for f in found), 3),
                "shared_blks_hit": sum(f.shared_blks_hit for f in found),
                "shared_blks_read": sum(f.shared_blks_read for f in found),
                "buffers_source": BUFFERS_FROM_SERVER,
            }
        out.append(entry)
    return out


def entry_buffers(entry: Mapping[str, Any]) -> tuple[int, str] | None:
    """A profile entry's shared buffers (hit + read: which of the two depends on what the
    cache held, their sum on the plan and the data) and where they came from; ``None`` when
    it has none (an older record, or neither source)."""
    if "shared_blks_hit" not in entry or "shared_blks_read" not in entry:
        return None
    total = int(entry["shared_blks_hit"]) + int(entry["shared_blks_read"])
    return total, str(entry.get("buffers_source", BUFFERS_FROM_EXPLAIN))
