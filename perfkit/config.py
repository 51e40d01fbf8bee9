"""Load ``scales.yaml`` once into typed, frozen structs (msgspec).

Which file (:func:`find_config`): ``--config PATH``, else ``$PERFKIT_CONFIG``, else
``[tool.perfkit] config`` in the nearest ``pyproject.toml`` (walking up from the current
folder; relative to that file's folder), else ``./scales.yaml``.

Precedence, lowest first (the README says the same):

1. built-in defaults (the struct defaults below);
2. the config file;
3. environment variables: ``PERFORMANCE_TEST_DATABASE_URL``, then ``TEST_DATABASE_URL`` (an
   external database), and the ``PERFKIT_*`` overrides in :data:`ENV_OVERRIDES`;
4. command-line flags, passed in as ``overrides={"database.port": 5434}``.

msgspec checks types and the constraints written on the fields (``Annotated[int, Meta(ge=1)]``;
the same constraints make the JSON Schema editors use, :mod:`perfkit.config_schema`);
:mod:`perfkit.typedconfig` turns what it refuses into one :class:`~perfkit.errors.ConfigError`
naming the source and the key path. The cross-key rules are checked here, after. A message
quotes the user's value through :func:`perfkit.text.quoted`, so it is never longer than a line,
whatever the value. The file is read by a stricter YAML loader than PyYAML's safe one
(:mod:`perfkit.yamlfile`). Sections with modules of their own are part of :class:`Config` too:
``app.data`` (:mod:`perfkit.dataspec`), ``app.http`` and HTTP workloads
(:mod:`perfkit.httpconfig`, :mod:`perfkit.loadconfig`: an ``app.workloads`` entry is a tagged
union on ``kind``, ``call`` by default) and ``variants`` (:mod:`perfkit.variants`). This module
and those depend on msgspec, PyYAML and the standard library only (besides perfkit's own
error, text, URL and config helpers): ``noxfile.py`` imports it to make one ``perf-<scale>``
session per scale, and ``perfkit db-status`` must start in a blink.

Over 500 lines: it is scales.yaml's schema, one frozen struct per section with its docstring and
``#:`` comments as the reference (they become the JSON Schema's descriptions), the discovery of
the file and the cross-key checks.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import os
import re
import stat
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from msgspec import Meta, field
from msgspec.structs import replace

from perfkit.dataspec import SCALE_NUMBERS, GenerationSpec
from perfkit.errors import ConfigError, ConfigFileError, UnknownScaleError
from perfkit.httpconfig import HttpApp, HttpWorkload
from perfkit.presets import with_preset
from perfkit.text import clipped, join_key, quoted
from perfkit.typedconfig import (
    Count,
    Fraction,
    ImportPath,
    NonNegativeFloat,
    Port,
    PositiveFloat,
    PositiveInt,
    Section,
    Text,
    build,
    first_non_finite,
    frozen_map,
    kind_of,
    parse_text,
    plain_value,
    refuse_set_elsewhere,
    set_path,
)
from perfkit.urls import (
    DATABASE_NAME_HINT,
    database_name_problem,
    host_problem,
    parse_url,
)
from perfkit.variants import Variants
from perfkit.yamlfile import file_problem, read_config_text, read_yaml

CONFIG_ENV = "PERFKIT_CONFIG"
DEFAULT_CONFIG_NAME = "scales.yaml"
URL_ENV_VARS = ("PERFORMANCE_TEST_DATABASE_URL", "TEST_DATABASE_URL")

#: Environment variable -> the key path it overrides.
ENV_OVERRIDES: Mapping[str, str] = {
    "PERFKIT_BACKEND": "database.backend",
    "PERFKIT_BINARIES": "database.binaries",
    "PERFKIT_HOST": "database.host",
    "PERFKIT_PORT": "database.port",
    "PERFKIT_DATABASE": "database.name",
    "PERFKIT_SERVER_ACCOUNT": "database.server_account",
    "PERFKIT_STATE_DIR": "state_dir",
    "PERFKIT_SNAPSHOT_DIR": "snapshots.directory",
    "PERFKIT_DATA_MODE": "data.mode",
    "PERFKIT_RESULTS_DIR": "results.directory",
}

#: The built-in ``limits.max_rows``: ``perfkit seed`` refuses a bigger dataset (see LimitsConfig).
DEFAULT_MAX_ROWS = 50_000_000

Backend = Literal["auto", "external", "docker", "native"]
BinarySource = Literal["auto", "system", "embedded"]
DataMode = Literal["realistic", "plan"]
#: What a changed plan shape does in ``compare``: a warning, or a failure of the gate.
PlanChange = Literal["warn", "fail"]
Driver = Literal["asyncpg", "psycopg"]

# -- the kinds of values only this module's sections hold (the common ones, and Section, are
# -- perfkit.typedconfig's) ----------------------------------------------------------------------

ScaleName = Annotated[
    str,
    Meta(
        pattern=r"^[a-z][a-z0-9_-]*$",
        extra={"expected": "a scale name of lowercase letters, digits, '-' or '_', "
               "starting with a letter"},
    ),
]  # fmt: skip
EnvName = Annotated[
    str,
    Meta(
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        extra={"expected": "an environment variable name (letters, digits and '_')"},
    ),
]
RunDay = Annotated[
    str,
    Meta(
        pattern=r"^(today|weekday|[0-9]{4}-[0-9]{2}-[0-9]{2})$",
        extra={"expected": "today, weekday or a date YYYY-MM-DD"},
    ),
]
Baseline = Annotated[
    str,
    Meta(
        pattern=r"^(median:[1-9][0-9]*|git:\S+|run:\S+)$",
        extra={"expected": "median:N, git:REF or run:ID"},
    ),
]


def _path(default: str) -> Any:
    """A path field with the default ``default`` (made per instance: msgspec's JSON Schema
    cannot write a ``Path`` default, :mod:`perfkit.config_schema` adds it)."""
    return field(default_factory=functools.partial(Path, default))


class Budgets(Section, frozen=True):
    """Seconds the performance tests allow each phase; past them a test fails."""

    #: Seconds the workload may take: the median of the timed repeats.
    batch: PositiveFloat = 2.0
    #: Seconds to make the data ready (kept, template clone, file restore, or seed and snapshot).
    prepare: PositiveFloat = 60.0
    #: Seconds a restore of the scale's snapshot may take (template clone or files).
    restore: PositiveFloat = 30.0
    #: SQL statements per batch run (a count, not seconds): catches an N+1 regression
    #: that timing alone hides at small scales.
    statements: PositiveInt = 5


class Scale(Section, frozen=True):
    """One scale tier: how much data, how often it runs and how long it may take."""

    set_elsewhere: ClassVar[Mapping[str, str]] = types.MappingProxyType(
        {"name": "a scale's name is its key under scales"}
    )

    name: str
    #: Offices; staff and recipients are counted per office.
    offices: PositiveInt
    #: Staff rows per office.
    staff_per_office: PositiveInt = 10
    #: Recipients per office.
    recipients_per_office: PositiveInt = 100
    #: Support-plan cycles per plan.
    cycles_per_plan: PositiveInt = 1
    #: The team's own numbers per scale, by name, for inferred data's counts
    #: (``app.data.tables.<t>.count: {scale: <name>}``), e.g. ``{visits_per_client: 5}``.
    counts: Mapping[Annotated[str, Meta(pattern=r"^[a-z_][a-z0-9_]*$")], Count] = frozen_map()
    #: When CI runs it: every-commit, daily (nightly), weekly, monthly or manual.
    frequency: Text = "manual"
    #: Seconds this scale's performance test may take (its pytest timeout). ``perf-<name>``
    #: runs every scale up to ``<name>``, so a CI job allows the sum (:mod:`perfkit.schedule`).
    timeout: PositiveInt = 600
    #: Timed runs of the workload per measurement at this scale (default: ``measure.repeat``);
    #: also the rounds of ``perfkit ab``. docs/regression-and-report.md says how many a scale
    #: needs.
    repeat: PositiveInt | None = None
    #: One line that ``nox -l`` shows.
    description: Text = ""
    budgets: Budgets = field(default_factory=Budgets)

    @property
    def staff(self) -> int:
        return self.offices * self.staff_per_office

    @property
    def recipients(self) -> int:
        return self.offices * self.recipients_per_office


class CycleDue(Section, frozen=True):
    """Share of current cycles by end date relative to the anchor date; sums to 1."""

    #: Ended up to 30 days ago, still active.
    overdue: Fraction = 0.05
    #: Ending within 10 days.
    within_10_days: Fraction = 0.10
    #: Ending in 11 to 30 days.
    within_30_days: Fraction = 0.20
    #: Ending 31 to 179 days ahead (current cycles last 180 days).
    later: Fraction = 0.65


class RealisticData(Section, frozen=True):
    """Proportions of the realistic data mode."""

    cycle_due: CycleDue = field(default_factory=CycleDue)
    #: Each finished cycle lies 180 days before the next: 1000 of them reach five centuries
    #: back, past which generated dates would leave the calendar.
    finished_cycles_per_plan: Annotated[int, Meta(ge=0, le=1000)] = 1
    #: Share of staff with e-mail notifications off.
    staff_email_off: Fraction = 0.15
    #: Days before a cycle's end that a staff member wants e-mail, drawn uniformly per member.
    email_threshold_days: Annotated[tuple[PositiveInt, ...], Meta(min_length=1)] = (
        30, 30, 30, 14, 60,
    )  # fmt: skip
    #: Share of staff per role; non-negative, summing to 1.
    roles: Mapping[str, float] = frozen_map(service_manager=0.2, employee=0.7, owner=0.1)


class DataConfig(Section, frozen=True):
    """How generated data looks: ``realistic`` or the plan's exact shape."""

    #: ``realistic`` spreads end dates and preferences so the batch does real work; ``plan``
    #: reproduces the plan's exact shape (``PERFKIT_DATA_MODE``, ``perfkit seed --mode``).
    mode: DataMode = "realistic"
    #: The random seed: equal seeds make equal rows (``perfkit seed --seed``).
    seed: Annotated[int, Meta(ge=0, le=2**63 - 1)] = 42
    realistic: RealisticData = field(default_factory=RealisticData)


class DatabaseConfig(Section, frozen=True):
    """The dedicated PostgreSQL: where it listens, how it is run and tuned."""

    #: The test database (``PERFKIT_DATABASE``).
    name: Text = "keikakun_test_performance"
    #: Where the server listens: a host name or an IP address (``PERFKIT_HOST``).
    host: Text = "127.0.0.1"
    #: The server's port (``PERFKIT_PORT``, ``--port``).
    port: Port = 5433
    #: The database user perfkit connects as.
    user: Text = "postgres"
    #: Where the server comes from: auto, external (a URL from the environment), docker or
    #: native (local binaries).
    backend: Backend = "auto"
    #: native only: where the server binaries come from.
    binaries: BinarySource = "auto"
    #: native, run as root: the unprivileged system account that runs the server.
    server_account: Text = "perfkit"
    #: PostgreSQL settings (``name: value``) applied on every backend; a number is written
    #: as it reads (``max_connections: 200``).
    settings: Mapping[
        str, Annotated[str, Meta(extra={"expected": "a setting: text or a number"})]
    ] = frozen_map()


class PoolConfig(Section, frozen=True):
    """The async engine's pool and the session factory's settings."""

    #: Connections the engine's pool keeps open.
    pool_size: PositiveInt = 20
    #: Connections the pool may open beyond ``pool_size``.
    max_overflow: Count = 30
    #: Seconds to wait for a connection from the pool.
    pool_timeout: PositiveFloat = 60.0
    #: Seconds after which a pooled connection is replaced.
    pool_recycle: PositiveInt = 3600
    #: Check a pooled connection before using it.
    pool_pre_ping: bool = True
    #: The ``application_name`` the server shows for these connections.
    application_name: Text = "performance_test"
    #: Seconds a statement may run (the server's ``statement_timeout``).
    statement_timeout: PositiveFloat = 600.0
    #: Seconds to wait for a new connection.
    connect_timeout: PositiveFloat = 10.0
    #: The session factory's ``expire_on_commit``.
    expire_on_commit: bool = False
    #: The session factory's ``autoflush``.
    autoflush: bool = False


class SnapshotConfig(Section, frozen=True):
    """Where snapshots live and how many per scale are kept."""

    #: Relative to this file.
    directory: Path = _path(".perfkit/snapshots")
    #: Newest snapshots kept per scale; ``perfkit prune`` removes the rest.
    keep: PositiveInt = 3
    #: Keep one ready clone of each scale's template (built in the background), so that a
    #: restore is a rename (:mod:`perfkit.snapshot.spares`); costs one more copy per scale.
    spare: bool = True


class SmtpConfig(Section, frozen=True):
    """The SMTP server the deadline-alert batch sends through when it is not a dry run.

    The password is never in scales.yaml: when ``username`` is set, it is read from the
    environment variable named by ``password_env`` at the moment of sending.
    """

    #: The SMTP server's host.
    host: Text = "127.0.0.1"
    #: The SMTP server's port.
    port: Port = 1025
    #: The From address.
    sender: Text = "keikakun-alerts@example.invalid"
    #: Set it to log in (the password comes from ``password_env``).
    username: Text | None = None
    #: The environment variable the password is read from, when sending.
    password_env: Text = "PERFKIT_SMTP_PASSWORD"  # noqa: S105 - a variable name, not a secret
    #: Upgrade the connection with STARTTLS.
    starttls: bool = False
    #: Seconds, per SMTP operation.
    timeout: PositiveFloat = 30.0


class MeasureConfig(Section, frozen=True):
    """How the performance tests time a phase: ``warmup`` untimed runs, then ``repeat`` timed
    (a scale's own ``repeat`` beats it: :meth:`repeat_for`)."""

    #: Timed runs; the budget applies to their median.
    repeat: PositiveInt = 5
    #: Untimed runs first.
    warmup: Count = 1

    def repeat_for(self, scale: Scale) -> int:
        """The timed runs at ``scale``: its own ``repeat``, else this one."""
        return scale.repeat if scale.repeat is not None else self.repeat


class ResultsConfig(Section, frozen=True):
    """Where run records go; ``None`` means ``<state_dir>/results``."""

    #: The folder of ``results.jsonl``; relative to this file. ``null``: ``<state_dir>/results``.
    directory: Path | None = None


#: Metrics of a run record that ``regression.metrics`` may name (see :mod:`perfkit.compare`).
REGRESSION_METRICS = (
    "batch_seconds",
    "prepare_seconds",
    "restore_seconds",
    "seed_rows_per_second",
    "statements",
    "peak_memory_mb",
    "latency_p50_seconds",
    "latency_p95_seconds",
    "latency_p99_seconds",
    "throughput",
)


class MetricRule(Section, frozen=True):
    """One metric's regression rule; a key left out falls back to the built-in default."""

    #: Fraction worse than the baseline that counts as a regression (0.2 = 20 % worse).
    threshold: NonNegativeFloat | None = None
    #: Differences smaller than this, in the metric's own unit, never count (tiny timings).
    noise_floor: NonNegativeFloat | None = None
    #: Whether a regression in this metric fails ``perfkit compare`` (else it is only shown).
    gate: bool | None = None


class BuffersRule(Section, frozen=True):
    """When a statement's shared buffers (hit + read, from its profile) are a regression: grown
    by more than ``threshold`` (1.0: doubled) *and* by at least ``min_blocks`` blocks."""

    #: Fraction more buffers than the baseline that counts (1.0 = twice as many).
    threshold: NonNegativeFloat = 1.0
    #: Fewer extra blocks (8 kB each) than this never count, whatever the ratio.
    min_blocks: Count = 100
    #: Whether such a jump fails ``perfkit compare`` (else it is listed as a note).
    gate: bool = True


class RowsRule(Section, frozen=True):
    """A statement that returns a different number of rows than in the baseline."""

    #: Whether a change fails ``perfkit compare`` (default: listed as a note only).
    gate: bool = False


class RegressionConfig(Section, frozen=True):
    """How ``perfkit compare`` decides that a run is worse than its baseline."""

    #: Fraction worse than the baseline that counts as a regression (0.20 = 20 % worse).
    threshold: NonNegativeFloat = 0.20
    #: ``median:N`` (the last N earlier runs), ``git:REF`` (runs of that commit), ``run:ID``.
    baseline: Baseline = "median:5"
    #: Per-metric rules; metrics left out use the built-in defaults.
    metrics: Mapping[
        Annotated[str, Meta(extra_json_schema={"enum": list(REGRESSION_METRICS)})], MetricRule
    ] = frozen_map()
    #: A statement's plan shape changed since the baseline: ``warn`` (default) or ``fail``.
    plan_change: PlanChange = "warn"
    #: A statement's shared buffers jumped (deterministic: a regression even when time is flat).
    buffers: BuffersRule = field(default_factory=BuffersRule)
    #: A statement returned a different number of rows.
    rows: RowsRule = field(default_factory=RowsRule)


class PerfConfig(Section, frozen=True):
    """``perf``: what ``perfkit perf --scale <name>`` (``nox -s perf-<name>``) runs beside
    perfkit's built-in tests of the application's workloads."""

    #: The project's own performance tests: files or folders, relative to this file. Default:
    #: this file's folder (a team's ``perf/`` folder holding scales.yaml and its tests).
    tests: tuple[Path, ...] | None = None


class LimitsConfig(Section, frozen=True):
    """How big a dataset ``perfkit seed`` makes without ``--force``: a mistyped scale (an extra
    zero or three) would otherwise run until the disk is full."""

    #: Rows of a seeded dataset (all tables together), estimated from the application's recipe.
    max_rows: Annotated[int, Meta(ge=1, le=2**63 - 1)] = DEFAULT_MAX_ROWS


class SafetyConfig(Section, frozen=True):
    """Which databases count as test databases that destructive commands may touch.

    Both patterns are regular expressions matched, case-insensitively, against each whole part
    of a database name (``re.fullmatch``; parts are split at non-alphanumerics, between letters
    and digits, and at case changes): see :mod:`perfkit.safety`.
    """

    #: A part of a name matching this makes a test database, which tables may be written into.
    test_database_pattern: Text = "test|perf"
    #: A part of a name matching this is refused, even for databases perfkit created.
    production_pattern: Text = "prod|production|live"


#: The sample application's models: the schema source when ``app.schema`` names none.
SAMPLE_METADATA = "perfkit.apps.welfare.models:metadata"


class MigrationsSource(Section, frozen=True):
    """A command that builds the schema in an empty database (``alembic upgrade head``).

    perfkit runs it in a scratch database on its server, as a role of its own that is not a
    superuser, in an environment that reaches only that database (``app.env``, and every
    ``app.database_env`` variable and database variable perfkit knows of pointing at it),
    then reads what it built.
    """

    #: The command and its arguments (no shell), e.g. ``[alembic, upgrade, head]``.
    command: Annotated[
        tuple[Text, ...],
        Meta(min_length=1, extra={"expected": "a command, e.g. [alembic, upgrade, head]"}),
    ]
    #: The folder it runs in; relative to this file. Default: ``app.import_root``.
    cwd: Path | None = None
    #: Seconds it may take.
    timeout: PositiveFloat = 600.0


class SchemaSource(Section, frozen=True):
    """Where the application's tables come from; at most one of:

    - ``metadata``: ``module:attribute`` of its SQLAlchemy ``MetaData`` (or of a declarative
      base that has one). The default is the sample application's models;
    - ``sql``: a SQL file that builds the schema in an empty database (``pg_dump
      --schema-only`` output, or the application's own DDL); relative to this file;
    - ``migrations``: a command that builds it (see :class:`MigrationsSource`).

    ``tables`` picks a subset (closed under foreign keys), for an application whose whole
    schema does not build or holds much its workloads never read. A SQL file or migrations are
    run in a scratch database and the tables read back from it (all of ``public`` but
    ``alembic_version`` unless ``tables`` says which).
    """

    #: ``module:attribute`` of the SQLAlchemy ``MetaData`` (or of a declarative base).
    metadata: ImportPath | None = None
    #: A SQL file that builds the schema in an empty database; relative to this file.
    sql: Path | None = None
    #: A command that builds the schema (``alembic upgrade head``).
    migrations: MigrationsSource | None = None
    #: A subset of the tables, closed under foreign keys (default: all).
    tables: tuple[Text, ...] | None = None

    @property
    def kind(self) -> Literal["metadata", "sql", "migrations"]:
        """Which source this is."""
        if self.sql is not None:
            return "sql"
        if self.migrations is not None:
            return "migrations"
        return "metadata"

    @property
    def metadata_path(self) -> str:
        """``module:attribute`` of the metadata (the sample's when none is named)."""
        return self.metadata or SAMPLE_METADATA


class WorkloadBudgets(Section, frozen=True):
    """One workload's budgets at one scale; a key left out uses the scale's own budget."""

    #: Seconds the workload may take at this scale (the median of the repeats).
    seconds: PositiveFloat | None = None
    #: SQL statements per run at this scale.
    statements: PositiveInt | None = None


class WorkloadConfig(Section, frozen=True, tag_field="kind", tag="call"):
    """One workload called in process (``kind: call``, the default; an HTTP workload says
    ``kind: http``: :class:`perfkit.httpconfig.HttpWorkload`): ``call`` is ``module:function``.
    A function marked with perfkit's ``@workload`` gets a
    :class:`perfkit.workload.WorkloadContext`; any other is called the plan's way,
    ``fn(session, **kwargs)``, with an ``AsyncSession`` on the application's driver. It may
    return an int, a dict of numbers, or an object with ``metrics()``."""

    #: ``module:function`` of the code that is timed.
    call: ImportPath
    #: Keyword arguments for the function: plain values (null, true/false, numbers, text,
    #: lists, mappings).
    kwargs: Mapping[str, Any] = frozen_map()
    #: Per scale name: this workload's own budgets.
    budgets: Mapping[str, WorkloadBudgets] = frozen_map()
    #: A run with no statement, or whose numbers are all zero, fails (it did no work).
    expect_work: bool = True
    #: The workload commits writes: every run (warm-up, timed, memory, profiled) and its
    #: EXPLAINs get a fresh clone of the scale's template, so each sees the same data. One
    #: not declared so that commits a write fails, and the shared data is restored.
    writes: bool = False


def _sample_workloads() -> Mapping[str, WorkloadConfig]:
    return types.MappingProxyType(
        {"deadline_alerts": WorkloadConfig(call="perfkit.apps.welfare.batch:deadline_alerts")}
    )


#: An entry of ``app.workloads``: called in process, or an HTTP request script (``kind``).
Workload = WorkloadConfig | HttpWorkload


class AppConfig(Section, frozen=True):
    """The application under test, and how perfkit reaches it (see :mod:`perfkit.app`).

    The defaults are the sample application that ships with perfkit; a team's own application
    fills the same keys.
    """

    #: The application's label in reports.
    name: Text = "welfare"
    #: A folder put first on ``sys.path`` before anything is imported (the application's
    #: checkout); relative to this file.
    import_root: Path | None = None
    #: A pip requirements file the ``perf-<scale>`` sessions install beside perfkit (the
    #: application's own dependencies); relative to this file.
    requirements: Path | None = None
    #: Environment variables set before the application is imported, when not already set
    #: (settings its modules demand at import).
    env: Mapping[EnvName, Text] = frozen_map()
    #: Environment variables perfkit sets to the test database's URL (on ``driver``) before
    #: the import, so that a module-level engine can only ever point at the test database.
    database_env: tuple[EnvName, ...] = ()
    #: The driver the application's sessions use; workloads are measured on it.
    driver: Driver = "asyncpg"
    #: Where the application's tables come from (one of metadata, sql, migrations).
    schema: SchemaSource = field(default_factory=SchemaSource)
    #: ``module:attribute`` of its :class:`perfkit.datagen.recipe.Recipe`; ``null``: no recipe,
    #: every table's data is inferred from the catalogue (``perfkit seed`` only, so far).
    recipe: ImportPath | None = "perfkit.apps.welfare.recipe:RECIPE"
    #: With no recipe: the cardinality language and overrides of inferred data
    #: (:mod:`perfkit.dataspec`, docs/test-data.md).
    data: GenerationSpec = field(default_factory=GenerationSpec)
    #: The code that is timed, by name (at least one): ``kind: call`` (the default) or
    #: ``kind: http`` (an HTTP request script, :class:`perfkit.httpconfig.HttpWorkload`).
    workloads: Mapping[str, Workload] = field(default_factory=_sample_workloads)
    #: The workload ``nox -s perf-<scale>`` measures.
    default_workload: Text = "deadline_alerts"
    #: The day the data is dated for and the workloads' clock is pinned to: ``today``,
    #: ``weekday`` (the latest Monday to Friday on or before today) or a ``YYYY-MM-DD``.
    run_day: RunDay = "today"
    #: The ASGI app of HTTP workloads and its overrides (:class:`perfkit.httpconfig.HttpApp`).
    http: HttpApp | None = None

    @property
    def call_workloads(self) -> Mapping[str, WorkloadConfig]:
        """The workloads called in process (``kind: call``), by name."""
        return {n: w for n, w in self.workloads.items() if isinstance(w, WorkloadConfig)}

    @property
    def http_workloads(self) -> Mapping[str, HttpWorkload]:
        """The HTTP workloads (``kind: http``), by name."""
        return {n: w for n, w in self.workloads.items() if isinstance(w, HttpWorkload)}


class Config(Section, frozen=True):
    """The whole of scales.yaml after defaults, environment and flags were applied."""

    set_elsewhere: ClassVar[Mapping[str, str]] = types.MappingProxyType(
        {
            "source": "it is the file being read: choose it with --config or PERFKIT_CONFIG",
            "external_url": "set it in the environment: PERFORMANCE_TEST_DATABASE_URL "
            "(or TEST_DATABASE_URL)",
        }
    )

    #: The file read (absolute).
    source: Path
    #: Scale tiers, in order: ``PERF_TEST_SCALE=<name>`` runs that scale and every one listed
    #: before it. At least one.
    scales: Annotated[
        Mapping[ScaleName, Scale],
        Meta(min_length=1, extra={"expected": "a non-empty mapping of scale names"}),
    ]
    #: The file format's version.
    version: Count = 1
    app: AppConfig = field(default_factory=AppConfig)
    data: DataConfig = field(default_factory=DataConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    pool: PoolConfig = field(default_factory=PoolConfig)
    snapshots: SnapshotConfig = field(default_factory=SnapshotConfig)
    safety: SafetyConfig = field(default_factory=SafetyConfig)
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    measure: MeasureConfig = field(default_factory=MeasureConfig)
    results: ResultsConfig = field(default_factory=ResultsConfig)
    regression: RegressionConfig = field(default_factory=RegressionConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    perf: PerfConfig = field(default_factory=PerfConfig)
    #: perfkit's own files (server, fingerprints, results); relative to this file.
    state_dir: Path = _path(".perfkit")
    #: Data variants by name (:mod:`perfkit.variants`): a scale's data with a few bad or
    #: unusual rows, applied on a clone.
    variants: Variants = frozen_map()
    #: A database URL from the environment (``PERFORMANCE_TEST_DATABASE_URL`` first); never
    #: from the file, so it is neither accepted there nor offered as a valid key.
    external_url: str | None = None

    @property
    def root(self) -> Path:
        """The project folder: the config file's directory. Relative paths start here."""
        return self.source.parent

    @property
    def scale_names(self) -> tuple[str, ...]:
        return tuple(self.scales)

    @property
    def results_dir(self) -> Path:
        """The folder holding ``results.jsonl``: ``results.directory``, else under state_dir."""
        return self.results.directory or self.state_dir / "results"

    def scale(self, name: str) -> Scale:
        """The scale called ``name``; an unknown name lists the valid ones."""
        try:
            return self.scales[name]
        except (KeyError, TypeError):
            raise UnknownScaleError(clipped(str(name)), self.scale_names) from None

    def scales_up_to(self, name: str) -> tuple[Scale, ...]:
        """The plan's staging rule: ``name`` and every scale listed before it."""
        target = self.scale(name)
        names = self.scale_names
        return tuple(self.scales[n] for n in names[: names.index(target.name) + 1])


# --------------------------------------------------------------------------------------------
# finding the file

#: The keys ``[tool.perfkit]`` of a ``pyproject.toml`` may hold.
PYPROJECT_KEYS = ("config",)
_FOUND_HINT = (
    "create one, or pass --config (or set PERFKIT_CONFIG, or add [tool.perfkit] "
    'config = "perf/scales.yaml" to pyproject.toml)'
)


class ConfigNotFoundError(ConfigFileError):
    """No config file where it was looked for: ``searched`` lists each place, in order, with
    what was found there (``PERFKIT_CONFIG (unset)``)."""

    def __init__(self, message: str, *, source: str, searched: tuple[str, ...]) -> None:
        super().__init__(message, source=source, reason="not_found", hint=_FOUND_HINT)
        self.searched = searched


def find_config(
    path: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str],
    cwd: str | os.PathLike[str] | None = None,
    origin: str = "--config",
) -> Path:
    """The config file to read, the first of:

    1. ``path`` (``--config``; ``origin`` names it in messages), relative to ``cwd``;
    2. ``$PERFKIT_CONFIG``, relative to ``cwd``;
    3. ``[tool.perfkit] config`` in the nearest ``pyproject.toml`` in ``cwd`` or a folder
       above it, relative to that file's folder;
    4. ``scales.yaml`` in ``cwd``.

    ``cwd`` defaults to the current folder. A file named by 1-3 must exist; whatever names
    it, it must be a regular file (:func:`check_config_file`). The result is absolute.
    Nothing found is a :class:`ConfigNotFoundError` listing where it looked.
    """
    here = Path(cwd if cwd is not None else Path.cwd()).absolute()
    if path:
        return check_config_file(here / Path(path).expanduser(), origin=origin)
    if env.get(CONFIG_ENV):
        return check_config_file(here / Path(env[CONFIG_ENV]).expanduser(), origin=CONFIG_ENV)
    pyproject = nearest_pyproject(here)
    chosen = pyproject_config(pyproject) if pyproject is not None else None
    if pyproject is not None and chosen is not None:
        where = f"{pyproject} [tool.perfkit] config"
        return check_config_file(pyproject.parent / Path(chosen).expanduser(), origin=where)
    default = here / DEFAULT_CONFIG_NAME
    if os.path.lexists(default):
        return check_config_file(default, origin=f"./{DEFAULT_CONFIG_NAME}")
    project = (
        f"{pyproject} has no [tool.perfkit] config"
        if pyproject is not None
        else f"no pyproject.toml in {clipped(str(here), limit=120)} or above"
    )
    searched = (
        "--config (not given)",
        f"{CONFIG_ENV} (unset)",
        project,
        f"./{DEFAULT_CONFIG_NAME} (not in {clipped(str(here), limit=120)})",
    )
    raise ConfigNotFoundError(
        "no config file found; looked at: " + "; ".join(searched),
        source=DEFAULT_CONFIG_NAME,
        searched=searched,
    )


def check_config_file(path: Path, *, origin: str) -> Path:
    """``path`` made absolute, if it is a regular file of a config's size (or a link to one).
    Anything else is a :class:`~perfkit.errors.ConfigFileError` saying what it is (exit status
    2; ``reason`` as :func:`perfkit.yamlfile.file_problem` names it). Only ``stat`` looks at
    it: a FIFO or a device is never opened, so nothing blocks."""
    problem = file_problem(path)
    if problem is None:
        return path.resolve()
    reason, what = problem
    if reason == "not_found":
        raise ConfigNotFoundError(f"{what} ({origin})", source=str(path), searched=(origin,))
    raise ConfigFileError(
        f"the config path ({origin}) {what}" if what.startswith("is") else f"{what} ({origin})",
        source=str(path),
        reason=reason,
        hint="point --config or PERFKIT_CONFIG at the scales.yaml file itself",
    )


def nearest_pyproject(start: Path) -> Path | None:
    """The ``pyproject.toml`` in ``start`` or the nearest folder above it, if any."""
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        try:
            if stat.S_ISREG(candidate.stat().st_mode):
                return candidate
        except OSError:
            continue
    return None


def pyproject_config(pyproject: Path) -> str | None:
    """``[tool.perfkit] config`` of ``pyproject`` (``None`` when it has none)."""
    source = str(pyproject)
    try:
        data = pyproject.read_bytes()
    except OSError as exc:
        raise ConfigFileError(
            f"cannot read: {clipped(str(exc), limit=200)}", source=source, reason="unreadable"
        ) from None
    if b"perfkit" not in data:  # nothing for perfkit: not worth parsing (or importing tomllib)
        return None
    import tomllib

    try:
        table = tomllib.loads(data.decode("utf-8")).get("tool", {}).get("perfkit")
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, AttributeError) as exc:
        raise ConfigFileError(
            f"not valid TOML: {clipped(str(exc), limit=200)}", source=source, reason="syntax"
        ) from None
    if table is None:
        return None
    if not isinstance(table, dict):
        raise ConfigError(
            f"expected a table, got {kind_of(table)}", source=source, key_path="tool.perfkit"
        )
    for key in table:
        if key not in PYPROJECT_KEYS:
            close = difflib.get_close_matches(key, PYPROJECT_KEYS, n=1)
            raise ConfigError(
                f"unknown key {quoted(key)}."
                + (f" Did you mean {close[0]!r}?" if close else " Valid keys: config"),
                source=source,
                key_path=join_key("tool.perfkit", clipped(key)),
                suggestion=close[0] if close else None,
            )
    value = table.get("config")
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ConfigError(
            f"expected the path of the config file, got {quoted(value)}",
            source=source,
            key_path="tool.perfkit.config",
            hint='for example config = "perf/scales.yaml" (relative to this file)',
        )
    return value


# --------------------------------------------------------------------------------------------
# loading


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> Config:
    """Find (:func:`find_config`), read, merge and validate the config. See the module
    docstring for precedence."""
    env = os.environ if env is None else env
    source = find_config(path, env=env, cwd=cwd)
    raw = read_yaml(read_config_text(source, source=str(source)), source=source.name)
    return config_from(raw, source=source, env=env, overrides=overrides)


def config_from(
    raw: Any,
    *,
    source: Path,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """The config of ``raw`` (a scales.yaml's plain values) as if read from ``source`` (an
    absolute path: relative paths start at its folder), with the environment and flags on
    top: :func:`load_config` once the file is read, or a starting config of a project that has
    none yet (``invoke init``)."""
    env = os.environ if env is None else env
    label = source.name
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"expected a mapping at the top level, got {kind_of(raw)}", source=label, key_path=""
        )
    origins = _apply_overrides(raw, env=env, overrides=overrides or {}, label=label)
    try:
        cfg = _build(raw, source=source, label=label)
        _check_semantics(cfg, label)
    except ConfigError as exc:
        origin = origins.get(exc.key_path)
        if origin is None:
            raise
        prefix = f"{exc.source}: {exc.key_path}: "
        raise ConfigError(
            exc.message.removeprefix(prefix),
            source=origin,
            key_path=exc.key_path,
            hint=exc.hint,
            suggestion=exc.suggestion,
        ) from None
    external_var = next((v for v in URL_ENV_VARS if env.get(v)), None)
    external = env[external_var] if external_var else None
    if external is not None:  # refuse an ambiguous URL here, before anything prints or uses it
        parse_url(external, source=f"environment {external_var}")
    return _rooted(cfg, external_url=external)


def _apply_overrides(
    raw: dict[str, Any], *, env: Mapping[str, str], overrides: Mapping[str, Any], label: str
) -> dict[str, str]:
    """Put the ``PERFKIT_*`` variables, then the flags, into ``raw``; returns which key came
    from where (``{"database.port": "environment PERFKIT_PORT"}``)."""
    origins: dict[str, str] = {}
    for var, key_path in ENV_OVERRIDES.items():
        if var in env and env[var] != "":
            value = parse_text(env[var], key_path=key_path, source=f"environment {var}")
            set_path(raw, key_path, value, label=var, source=label)
            origins[key_path] = f"environment {var}"
    for key_path, value in overrides.items():
        if value is not None:
            if isinstance(value, str):  # flags arrive as text, like environment variables
                value = parse_text(value, key_path=key_path, source="command line")
            set_path(raw, key_path, value, label="flag", source=label)
            origins[key_path] = "command line"
    return origins


def _build(raw: dict[str, Any], *, source: Path, label: str) -> Config:
    """The :class:`Config` of the file's values ``raw``, types and values checked."""
    refuse_set_elsewhere(raw, Config, path="", source=label)
    if isinstance(raw.get("app"), dict):
        refuse_set_elsewhere(raw["app"], AppConfig, path="app", source=label)
    doc = {**raw, "source": str(source)}
    scales = raw.get("scales")
    if isinstance(scales, dict):  # a scale's name is its key (copies: YAML aliases share)
        named: dict[Any, Any] = {}
        for name, body in scales.items():
            if isinstance(body, dict):
                where = join_key("scales", _shown_key(name))
                refuse_set_elsewhere(body, Scale, path=where, source=label)
                body = {**body, "name": name}
            named[name] = body
        doc["scales"] = named
    app = raw.get("app")
    if isinstance(app, dict) and isinstance(app.get("run_day"), dt.date):  # run_day: 2026-12-01
        doc["app"] = {**app, "run_day": app["run_day"].isoformat()}
    if isinstance(app, dict) and isinstance(app.get("data"), dict):  # the preset under it
        data = with_preset(app["data"], source=label, key_path="app.data")
        doc["app"] = {**doc.get("app", app), "data": data}
    database = raw.get("database")
    if isinstance(database, dict) and isinstance(database.get("settings"), dict):
        doc["database"] = {**database, "settings": _settings_text(database["settings"])}
    _default_kind(doc)
    cfg = build(Config, doc, source=label)
    key_path, value = first_non_finite(cfg)
    if key_path:
        raise ConfigError(
            f"expected a finite number, got {quoted(value)}", source=label, key_path=key_path
        )
    for name, workload in cfg.app.call_workloads.items():
        where = join_key(join_key("app.workloads", clipped(name)), "kwargs")
        plain_value(workload.kwargs, path=where, source=label)
    if cfg.app.http is not None:
        plain_value(cfg.app.http.overrides.set, path="app.http.overrides.set", source=label)
    return cfg


def _shown_key(key: Any) -> str:
    return clipped(key) if isinstance(key, str) else quoted(key)


def _settings_text(settings: Mapping[Any, Any]) -> dict[Any, Any]:
    """``database.settings`` with numbers as PostgreSQL reads them: text (``200``, ``0.9``)."""
    return {
        name: str(value)
        if isinstance(value, int | float) and not isinstance(value, bool)
        else value
        for name, value in settings.items()
    }


def _rooted(cfg: Config, *, external_url: str | None) -> Config:
    """``cfg`` with ``external_url`` and every relative path made absolute (relative to the
    config file's folder)."""
    root = cfg.root
    app = cfg.app
    schema = app.schema
    migrations = schema.migrations
    if migrations is not None:
        cwd = migrations.cwd or app.import_root or Path()
        migrations = replace(migrations, cwd=_under(root, cwd))
    return replace(
        cfg,
        external_url=external_url,
        state_dir=_under(root, cfg.state_dir),
        snapshots=replace(cfg.snapshots, directory=_under(root, cfg.snapshots.directory)),
        results=replace(cfg.results, directory=_maybe_under(root, cfg.results.directory)),
        perf=replace(
            cfg.perf,
            tests=None
            if cfg.perf.tests is None
            else tuple(_under(root, p) for p in cfg.perf.tests),
        ),
        app=replace(
            app,
            import_root=_maybe_under(root, app.import_root),
            requirements=_maybe_under(root, app.requirements),
            schema=replace(schema, sql=_maybe_under(root, schema.sql), migrations=migrations),
        ),
    )


def _default_kind(doc: dict[str, Any]) -> None:
    """Give each ``app.workloads`` entry without a ``kind`` the default one, ``call`` (copies:
    the file's own mappings stay as read)."""
    app = doc.get("app")
    workloads = app.get("workloads") if isinstance(app, dict) else None
    if not isinstance(workloads, dict) or not isinstance(app, dict):
        return
    doc["app"] = {
        **app,
        "workloads": {
            name: {"kind": "call", **body} if isinstance(body, dict) else body
            for name, body in workloads.items()
        },
    }


def _check_sections(cfg: Config, label: str) -> None:
    """The rules between sections: an HTTP workload needs ``app.http``; a variant names only
    scales that exist."""
    if cfg.app.http_workloads and cfg.app.http is None:
        name = next(iter(cfg.app.http_workloads))
        raise ConfigError(
            f"is required: app.workloads.{name} is an HTTP workload",
            source=label,
            key_path="app.http",
            hint="name the ASGI app: app.http.app: 'myapp.main:app'",
        )
    for key_path, number in cfg.app.data.scale_numbers.items():
        for scale in cfg.scales.values():
            if number not in SCALE_NUMBERS and number not in scale.counts:
                raise ConfigError(
                    f"scale {scale.name} has no number {quoted(number)}; "
                    f"give scales.{scale.name}.counts.{clipped(number)}, or use one of "
                    f"{', '.join(SCALE_NUMBERS)}",
                    source=label,
                    key_path=key_path,
                )
    for name, variant in cfg.variants.items():
        unknown = sorted(set(variant.scales or ()) - set(cfg.scales))
        if unknown:
            raise ConfigError(
                f"unknown scale {quoted(unknown[0])}; scales: {', '.join(cfg.scales)}",
                source=label,
                key_path=f"variants.{name}.scales",
            )


def _under(root: Path, p: Path) -> Path:
    return p if p.is_absolute() else (root / p)


def _maybe_under(root: Path, p: Path | None) -> Path | None:
    return None if p is None else _under(root, p)


def _check_app(app: AppConfig, label: str) -> None:
    """The ``app`` section's cross-key rules (types and forms were checked when it was built)."""
    given = [k for k in ("metadata", "sql", "migrations") if getattr(app.schema, k) is not None]
    if len(given) > 1:
        raise ConfigError(
            f"give one schema source, not {' and '.join(given)}",
            source=label,
            key_path="app.schema",
            hint="metadata (module:attribute), sql (a file) or migrations (a command)",
        )
    known = list(app.workloads)
    if not known:
        raise ConfigError(
            "at least one workload is required", source=label, key_path="app.workloads"
        )
    if app.default_workload not in known:
        close = difflib.get_close_matches(app.default_workload, known, n=1)
        raise ConfigError(
            f"{quoted(app.default_workload)} is not one of app.workloads "
            f"({clipped(', '.join(known), limit=200)})",
            source=label,
            key_path="app.default_workload",
            suggestion=close[0] if close else None,
        )
    if app.run_day not in ("today", "weekday"):
        try:
            dt.date.fromisoformat(app.run_day)
        except ValueError:
            raise ConfigError(
                f"expected today, weekday or a date YYYY-MM-DD, got {quoted(app.run_day)}",
                source=label,
                key_path="app.run_day",
            ) from None


def _check_semantics(cfg: Config, label: str) -> None:
    _check_app(cfg.app, label)
    _check_sections(cfg, label)
    due = cfg.data.realistic.cycle_due
    total = due.overdue + due.within_10_days + due.within_30_days + due.later
    if abs(total - 1.0) > 1e-6:
        raise ConfigError(
            f"shares must sum to 1, got {total:g}",
            source=label,
            key_path="data.realistic.cycle_due",
        )
    roles = cfg.data.realistic.roles
    if not roles or abs(sum(roles.values()) - 1.0) > 1e-6 or min(roles.values()) < 0:
        raise ConfigError(
            "role shares must be non-negative and sum to 1",
            source=label,
            key_path="data.realistic.roles",
        )
    _check_regression(cfg.regression, label)
    for key in ("test_database_pattern", "production_pattern"):
        try:
            re.compile(getattr(cfg.safety, key))
        except re.error as exc:
            raise ConfigError(
                f"not a valid regular expression: {exc}",
                source=label,
                key_path=f"safety.{key}",
            ) from None
    _check_database(cfg.database, label)


def _check_database(database: DatabaseConfig, label: str) -> None:
    if problem := host_problem(database.host):
        raise ConfigError(
            f"{problem}, got {quoted(database.host)}", source=label, key_path="database.host"
        )
    if problem := database_name_problem(database.name):
        raise ConfigError(problem, source=label, key_path="database.name", hint=DATABASE_NAME_HINT)
    _check_server_settings(database.settings, label)


#: PostgreSQL settings perfkit itself decides for the servers it runs (where and how the
#: server listens, where its files are, how passwords are stored): ``database.settings`` may
#: not name them. Besides these, every ``ssl*`` setting, and the ``include*`` directives.
OWNED_SERVER_SETTINGS = frozenset(
    {
        "listen_addresses",
        "port",
        "unix_socket_directories",
        "unix_socket_group",
        "unix_socket_permissions",
        "data_directory",
        "config_file",
        "hba_file",
        "ident_file",
        "external_pid_file",
        "password_encryption",
    }
)
_SETTING_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?")


def server_setting_owned(name: str) -> bool:
    """Whether perfkit owns the PostgreSQL setting ``name`` (any case)."""
    low = name.lower()
    return low in OWNED_SERVER_SETTINGS or low.startswith(("ssl", "include"))


def _check_server_settings(settings: Mapping[str, str], label: str) -> None:
    """``database.settings``: well-formed names and values, none of the settings perfkit owns,
    none given twice (PostgreSQL's names are case-insensitive: of ``Work_Mem`` and ``work_mem``
    the server would silently keep the later line). (Whether the server knows a name and
    accepts a value is checked against the server by ``perfkit db-up``:
    :mod:`perfkit.env.settings`.)"""
    seen: dict[str, str] = {}
    for name, value in settings.items():
        key_path = join_key("database.settings", clipped(name))
        first = seen.setdefault(name.lower(), name)
        if first != name:
            raise ConfigError(
                f"this setting is also given as {quoted(first)}; PostgreSQL's setting names "
                "are case-insensitive, so only one of them would count",
                source=label,
                key_path=key_path,
                hint="keep one of them",
            )
        if server_setting_owned(name):
            raise ConfigError(
                "perfkit sets this itself (the server listens on loopback only, on "
                "database.port, with its own files and scram-sha-256 passwords); it cannot be "
                "overridden",
                source=label,
                key_path=key_path,
                hint=f"remove {quoted(name)} from database.settings",
            )
        if not _SETTING_NAME.fullmatch(name):
            raise ConfigError(
                "not a PostgreSQL setting name (letters, digits and '_', optionally 'prefix.name')",
                source=label,
                key_path=key_path,
            )
        if any(not ch.isprintable() for ch in value):
            raise ConfigError(
                f"expected a one-line value, got {quoted(value)}", source=label, key_path=key_path
            )


def _check_regression(reg: RegressionConfig, label: str) -> None:
    for name in reg.metrics:
        if name not in REGRESSION_METRICS:
            close = difflib.get_close_matches(name[:100], REGRESSION_METRICS, n=1, cutoff=0.6)
            raise ConfigError(
                f"unknown metric {quoted(name)}."
                + (f" Did you mean {close[0]!r}?" if close else "")
                + ("" if close else f" Valid metrics: {', '.join(REGRESSION_METRICS)}"),
                source=label,
                key_path=join_key("regression.metrics", clipped(name)),
                suggestion=close[0] if close else None,
            )
