"""The command layer: every user-facing command is one function of one shape.

``async def <command>(run: Run, *, <options>) -> <Report>``: the front end makes the
:class:`~perfkit.run.Run` once (the config, the test database's handle, the application when the
command touches it, the day), reads the options (:mod:`perfkit.options`) and calls the
function; the function returns data, the front end renders it. Both front ends (the ``perfkit``
console script, :mod:`perfkit.console`; the invoke namespace, :mod:`perfkit.invoke_tasks`) and
library users call these same functions, as alembic's ``command.py`` does.

A report has ``lines()`` (the text on stdout) and ``to_json()`` (``--json``: stable keys,
documented in docs/commands.md); one whose ``failure()`` returns an error makes the command
exit with that error's status after the report is printed (a regression: 6).

:data:`COMMANDS` is the table both front ends are built from: name, where the function lives
(imported only when the command runs), the help line, the options, and what the command needs.
Importing this package imports no command module.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from perfkit.errors import PerfkitError
from perfkit.options import Option, opt

#: What a command needs before it runs: nothing (no config read), the config if there is one
#: (``config?``: none found, the function gets no run), the config, the database, or the
#: application under test too. ``config?``, ``config`` and ``db`` commands never load the
#: application (:attr:`perfkit.run.Run.allow_app` is off for them).
Needs = Literal["nothing", "config?", "config", "db", "app"]


class Report(Protocol):
    """What a command returns."""

    def lines(self) -> list[str]:
        """The text the command prints on stdout."""
        ...

    def to_json(self) -> Mapping[str, Any]:
        """The same as data (``--json``)."""
        ...


def failure_of(report: object) -> PerfkitError | None:
    """The error a report says its command failed with (``report.failure()``), if any."""
    failure = getattr(report, "failure", None)
    return failure() if callable(failure) else None


CommandFn = Callable[..., Coroutine[Any, Any, Any]]


@dataclass(frozen=True)
class Command:
    """One command of the table."""

    name: str
    #: ``"module:function"`` of the command function.
    target: str
    #: One line: what ``perfkit --help`` lists.
    summary: str
    #: The rest of the manual, for ``perfkit <command> --help``.
    details: str = ""
    options: tuple[Option, ...] = ()
    needs: Needs = "app"
    #: Whether it is one of perfkit's benchmarks (listed apart).
    benchmark: bool = False
    #: The keyword that takes the arguments after ``--`` (``perfkit perf``: pytest's), if any.
    passthrough: str | None = None
    #: Options by name.
    by_name: Mapping[str, Option] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {o.name: o for o in self.options})

    def function(self) -> CommandFn:
        """The command function (its module imported now)."""
        module, _, name = self.target.partition(":")
        fn: CommandFn = getattr(importlib.import_module(module), name)
        return fn

    @property
    def takes_json(self) -> bool:
        return "json" in self.by_name

    @property
    def description(self) -> str:
        """The summary and the details, as ``--help`` shows them."""
        return self.summary + (f"\n\n{self.details}" if self.details else "")


_DB = (opt("config"), opt("backend"), opt("port"))
_SCALE = opt("scale", required=True)

#: Every command, in the order ``perfkit --help`` lists them. (``init``, for inferred data,
#: comes from :mod:`perfkit.init` in the same shape; it belongs here when it lands.)
COMMANDS: tuple[Command, ...] = (
    # -- the dedicated PostgreSQL --------------------------------------------------------------
    Command(
        "db-up",
        "perfkit.commands.database:db_up",
        "Start the dedicated PostgreSQL (idempotent) and create the test database.",
        options=(*_DB, opt("json")),
        needs="db",
    ),
    Command(
        "db-down",
        "perfkit.commands.database:db_down",
        "Stop the dedicated PostgreSQL; --remove-data deletes its data too.",
        options=(*_DB, opt("remove_data"), opt("json")),
        needs="db",
    ),
    Command(
        "db-status",
        "perfkit.commands.database:db_status",
        "Show the database's backend, version, port, data size and whether it is up.",
        options=(*_DB, opt("json")),
        needs="db",
    ),
    Command(
        "db-url",
        "perfkit.commands.database:db_url",
        "Print the test database URL with its password, for `export TEST_DATABASE_URL=...`.",
        options=(*_DB, opt("json")),
        needs="db",
    ),
    # -- test data and snapshots -----------------------------------------------------------------
    Command(
        "seed",
        "perfkit.commands.data:seed",
        "Fill the test database with the scale's deterministic data (COPY; all or nothing).",
        options=(
            _SCALE,
            opt("seed"),
            opt("mode"),
            opt("anchor"),
            opt("reset"),
            opt("force"),
            opt("confirm_database"),
            *_DB,
            opt("json"),
        ),
    ),
    Command(
        "prepare",
        "perfkit.commands.data:prepare",
        "Data ready: keep, clone the template, restore a snapshot, or seed + snapshot.",
        options=(_SCALE, opt("as_of"), opt("config"), opt("confirm_database"), opt("json")),
    ),
    Command(
        "snapshot",
        "perfkit.commands.snapshots:snapshot",
        "Save the scale's dataset as a snapshot (seeding it first if needed), then prune.",
        options=(_SCALE, opt("config"), opt("confirm_database"), opt("no_prune"), opt("json")),
    ),
    Command(
        "restore",
        "perfkit.commands.snapshots:restore",
        "Make the test database hold a verified snapshot, dates moved to today (or --as-of).",
        options=(
            _SCALE,
            opt(
                "snapshot",
                help="snapshot id (default: the scale's latest; `perfkit snapshots` lists them)",
            ),
            opt(
                "as_of",
                help="move the data's dates to this day, YYYY-MM-DD or today "
                "(default: app.run_day)",
            ),
            opt("method"),
            opt("config"),
            opt("confirm_database"),
            opt("json"),
        ),
    ),
    Command(
        "snapshots",
        "perfkit.commands.snapshots:snapshots",
        "List snapshots: scale, id, age, size, rows, anchor date, fits the current schema.",
        options=(opt("scale", help="only this scale"), opt("config"), opt("json")),
        needs="config",
    ),
    Command(
        "verify",
        "perfkit.commands.snapshots:verify",
        "Check snapshots' manifests, schema fingerprints and file checksums (exit 1 if any fail).",
        options=(
            opt("scale", help="only this scale"),
            opt("snapshot", help="only this snapshot id"),
            opt("config"),
            opt("json"),
        ),
        needs="config",
    ),
    Command(
        "prune",
        "perfkit.commands.snapshots:prune",
        "Keep the newest N snapshots per scale; drop stale templates and leftovers.",
        options=(
            opt("scale", help="only this scale"),
            opt("keep"),
            opt("dry_run"),
            opt("config"),
            opt("json"),
        ),
        needs="db",
    ),
    Command(
        "trust",
        "perfkit.commands.snapshots:trust",
        "Check a snapshot made elsewhere (every field, table and file), then sign it as ours.",
        details="Snapshots are signed with this project's key (<state dir>/snapshot.key); one "
        "copied from another machine, or made before snapshots were signed, is listed as "
        "untrusted and never restored until it is checked and signed here. Refuses (exit 1) "
        "a damaged one.",
        options=(
            _SCALE,
            opt(
                "snapshot",
                required=True,
                help="the snapshot id to trust (`perfkit snapshots` lists it as untrusted)",
            ),
            opt("config"),
            opt("json"),
        ),
    ),
    Command(
        "init",
        "perfkit.commands.init:init",
        "Write a first perf/scales.yaml from the application's schema: every table, inferred data.",
        details="The schema is built the application's way (--sql, --metadata or --migrations; "
        "none: app.schema of the project's scales.yaml) in a scratch database on perfkit's "
        "server and captured; the file lists every table with its starting cardinality, how "
        "each column is filled (as comments) and the foreign-key graph. It seeds as written. "
        "Never replaces a file without --force (exit 1).",
        options=(
            opt("sql"),
            opt("metadata"),
            opt("migrations"),
            opt("output", help="where to write", default="perf/scales.yaml"),
            opt("force", help="replace the file if it exists"),
            opt("name"),
            opt("locale"),
            opt("config"),
            opt("json"),
        ),
        needs="config?",
    ),
    # -- measuring and results -------------------------------------------------------------------
    Command(
        "perf",
        "perfkit.commands.perf:perf",
        "Run the performance tests up to a scale in one process (what `nox -s perf-<scale>` runs).",
        details="The database is brought up once; pytest runs in this process on the project's "
        "performance tests (scales.yaml perf.tests, default the config's folder) and perfkit's "
        "built-in ones (the default workload, the HTTP workloads), every scale up to --scale "
        "(PERF_TEST_SCALE), each under its timeout; each scale's data is made ready once. "
        "Arguments after `--` go to pytest: `perfkit perf --scale small -- -x -k batch`.",
        options=(_SCALE, opt("config")),
        passthrough="pytest_args",
    ),
    Command(
        "explain",
        "perfkit.commands.explain:explain",
        "Print a workload's statement profile and the plans of its top statements (no perf run).",
        options=(_SCALE, opt("workload"), opt("top"), opt("config"), opt("json")),
    ),
    Command(
        "report",
        "perfkit.commands.results:report",
        "Render the results history, verdict first: Markdown, one HTML page, or a PR comment.",
        options=(
            opt("format"),
            opt("charts"),
            opt("output"),
            opt(
                "scale", help="only these scales, comma-separated (default: every scale with runs)"
            ),
            opt("last"),
            opt("baseline"),
            opt("config"),
            opt("json"),
        ),
        needs="config",
    ),
    Command(
        "compare",
        "perfkit.commands.results:compare",
        "Compare the newest run with a baseline; exit 6 when a metric regressed.",
        options=(
            opt(
                "scale",
                help="only these scales, comma-separated (default: the scales of the newest run)",
            ),
            opt("baseline"),
            opt("threshold"),
            opt("run_id"),
            opt("history"),
            opt("config"),
            opt("json"),
        ),
        needs="config",
    ),
    Command(
        "ab",
        "perfkit.commands.results:ab",
        "Measure the working tree against --base, interleaved in one job; exit 6 on a regression.",
        details="The base is checked out into a temporary git worktree; the candidate makes "
        "the scale's data ready once; one warm worker per side runs the workload in turns "
        "(A B, B A, ...) on the same data and server; the pairs go through the statistical "
        "gate.",
        options=(
            opt("base", required=True),
            opt(
                "scale",
                help="the scale whose data both sides read (default: the first in scales.yaml)",
            ),
            opt(
                "workload",
                help="a read-only workload of the application (default: its default workload)",
            ),
            opt("rounds"),
            opt("threshold"),
            opt("json"),
            opt("config"),
        ),
    ),
    # -- perfkit's own benchmarks ----------------------------------------------------------------
    Command(
        "bench-seed",
        "perfkit.commands.bench:bench_seed",
        "Benchmark seeding against the plan's ORM method on a private server; print the table.",
        options=(opt("repeats"), opt("quick"), opt("config")),
        needs="config",
        benchmark=True,
    ),
    Command(
        "bench-restore",
        "perfkit.commands.bench:bench_restore",
        "Benchmark restores side by side: psql replay, pg_restore -j 2, perfkit file, template.",
        options=(
            opt(
                "scales",
                help="comma-separated scales",
                default="medium,large",
            ),
            opt("repeat"),
            opt("config"),
        ),
        benchmark=True,
    ),
)

#: The commands by name.
BY_NAME: Mapping[str, Command] = {c.name: c for c in COMMANDS}
