"""Load ``scales.yaml`` once into typed, frozen dataclasses.

Precedence, lowest first (the README says the same):

1. built-in defaults (the dataclass defaults below);
2. the config file: ``--config PATH``, else ``$PERFKIT_CONFIG``, else ``./scales.yaml``;
3. environment variables: ``PERFORMANCE_TEST_DATABASE_URL``, then ``TEST_DATABASE_URL`` (an
   external database), and the ``PERFKIT_*`` overrides in :data:`ENV_OVERRIDES`;
4. command-line flags, passed in as ``overrides={"database.port": 5434}``.

Every problem is a :class:`~perfkit.errors.ConfigError` naming the source and the key path;
a message quotes the user's value through :func:`perfkit.text.quoted`, so it is never longer
than a line, whatever the value. The file is read by a stricter YAML loader than PyYAML's safe
one (:class:`ConfigLoader`): no Python objects, no key given twice, no nesting past
:data:`MAX_YAML_DEPTH`. This module depends on PyYAML and the standard library only (besides
perfkit's own error and text helpers): ``noxfile.py`` imports it to make one ``perf-<scale>``
session per scale.

Over 400 lines: it is scales.yaml's schema, one frozen dataclass per section with its
docstring as the reference, and the cross-key checks; reading YAML and the generic typed
building live in :mod:`perfkit.yamlfile` and :mod:`perfkit.typedconfig`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import os
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from perfkit.errors import ConfigError, ConfigFileError, UnknownScaleError
from perfkit.text import clipped, quoted
from perfkit.typedconfig import (
    build,
    kind_of,
    parse_text,
    set_path,
)
from perfkit.urls import (
    parse_url,
)
from perfkit.yamlfile import join_key, read_yaml

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

#: The built-in ``limits.max_rows``: ``invoke seed`` refuses a bigger dataset (see LimitsConfig).
DEFAULT_MAX_ROWS = 50_000_000

Backend = Literal["auto", "external", "docker", "native"]
BinarySource = Literal["auto", "system", "embedded"]
DataMode = Literal["realistic", "plan"]
#: What a changed plan shape does in ``compare``: a warning, or a failure of the gate.
PlanChange = Literal["warn", "fail"]


def _positive(**kw: Any) -> Any:
    return field(metadata={"positive": True}, **kw)


def _fraction(**kw: Any) -> Any:
    return field(metadata={"fraction": True}, **kw)


def _at_most(maximum: int, **kw: Any) -> Any:
    """An integer field whose largest sane value is ``maximum`` (instead of :data:`MAX_INT`)."""
    return field(metadata={"maximum": maximum}, **kw)


def _port(**kw: Any) -> Any:
    """A TCP port: an integer from 1 to 65535 (from the environment: plain decimal only)."""
    return field(metadata={"positive": True, "port": True}, **kw)


@dataclass(frozen=True)
class Budgets:
    """Seconds the performance tests allow each phase; past them a test fails."""

    batch: float = _positive(default=2.0)
    prepare: float = _positive(default=60.0)
    restore: float = _positive(default=30.0)
    #: SQL statements per batch run (a count, not seconds): catches an N+1 regression
    #: that timing alone hides at small scales.
    statements: int = _positive(default=5)


@dataclass(frozen=True)
class Scale:
    """One scale tier: how much data, how often it runs and how long it may take."""

    name: str
    offices: int = _positive()
    staff_per_office: int = _positive(default=10)
    recipients_per_office: int = _positive(default=100)
    cycles_per_plan: int = _positive(default=1)
    frequency: str = "manual"
    #: Seconds this scale's performance test may take (its pytest timeout). ``perf-<name>``
    #: runs every scale up to ``<name>``, so a CI job allows the sum (:mod:`perfkit.schedule`).
    timeout: int = _positive(default=600)
    description: str = ""
    budgets: Budgets = field(default_factory=Budgets)

    @property
    def staff(self) -> int:
        return self.offices * self.staff_per_office

    @property
    def recipients(self) -> int:
        return self.offices * self.recipients_per_office


@dataclass(frozen=True)
class CycleDue:
    """Share of current cycles by end date relative to the anchor date; sums to 1."""

    overdue: float = _fraction(default=0.05)
    within_10_days: float = _fraction(default=0.10)
    within_30_days: float = _fraction(default=0.20)
    later: float = _fraction(default=0.65)


@dataclass(frozen=True)
class RealisticData:
    """Proportions of the realistic data mode."""

    cycle_due: CycleDue = field(default_factory=CycleDue)
    #: Each finished cycle lies 180 days before the next: 1000 of them reach five centuries
    #: back, past which generated dates would leave the calendar.
    finished_cycles_per_plan: int = _at_most(1000, default=1)
    staff_email_off: float = _fraction(default=0.15)
    email_threshold_days: tuple[int, ...] = (30, 30, 30, 14, 60)
    roles: Mapping[str, float] = field(
        default_factory=lambda: types.MappingProxyType(
            {"service_manager": 0.2, "employee": 0.7, "owner": 0.1}
        )
    )


@dataclass(frozen=True)
class DataConfig:
    """How generated data looks: ``realistic`` or the plan's exact shape."""

    mode: DataMode = "realistic"
    seed: int = _at_most(2**63 - 1, default=42)
    realistic: RealisticData = field(default_factory=RealisticData)


@dataclass(frozen=True)
class DatabaseConfig:
    """The dedicated PostgreSQL: where it listens, how it is run and tuned."""

    name: str = field(default="keikakun_test_performance", metadata={"database_name": True})
    host: str = field(default="127.0.0.1", metadata={"host": True})
    port: int = _port(default=5433)
    user: str = "postgres"
    backend: Backend = "auto"
    binaries: BinarySource = "auto"
    server_account: str = "perfkit"
    settings: Mapping[str, str] = field(default_factory=lambda: types.MappingProxyType({}))


@dataclass(frozen=True)
class PoolConfig:
    """The async engine's pool and the session factory's settings."""

    pool_size: int = _positive(default=20)
    max_overflow: int = 30
    pool_timeout: float = _positive(default=60.0)
    pool_recycle: int = _positive(default=3600)
    pool_pre_ping: bool = True
    application_name: str = "performance_test"
    statement_timeout: float = _positive(default=600.0)
    connect_timeout: float = _positive(default=10.0)
    expire_on_commit: bool = False
    autoflush: bool = False


@dataclass(frozen=True)
class SnapshotConfig:
    """Where snapshots live and how many per scale are kept."""

    directory: Path = Path(".perfkit/snapshots")
    keep: int = _positive(default=3)


@dataclass(frozen=True)
class SmtpConfig:
    """The SMTP server the deadline-alert batch sends through when it is not a dry run.

    The password is never in scales.yaml: when ``username`` is set, it is read from the
    environment variable named by ``password_env`` at the moment of sending.
    """

    host: str = "127.0.0.1"
    port: int = _port(default=1025)
    sender: str = "keikakun-alerts@example.invalid"
    username: str | None = None
    password_env: str = "PERFKIT_SMTP_PASSWORD"  # noqa: S105 - a variable name, not a secret
    starttls: bool = False
    timeout: float = _positive(default=30.0)


@dataclass(frozen=True)
class MeasureConfig:
    """How the performance tests time a phase: ``warmup`` untimed runs, then ``repeat`` timed."""

    repeat: int = _positive(default=5)
    warmup: int = 1


@dataclass(frozen=True)
class ResultsConfig:
    """Where run records go; ``None`` means ``<state_dir>/results``."""

    directory: Path | None = None


#: Metrics of a run record that ``regression.metrics`` may name (see :mod:`perfkit.compare`).
REGRESSION_METRICS = (
    "batch_seconds",
    "prepare_seconds",
    "restore_seconds",
    "seed_rows_per_second",
    "statements",
    "peak_memory_mb",
)


@dataclass(frozen=True)
class MetricRule:
    """One metric's regression rule; a key left out falls back to the built-in default."""

    #: Fraction worse than the baseline that counts as a regression (0.2 = 20 % worse).
    threshold: float | None = None
    #: Differences smaller than this, in the metric's own unit, never count (tiny timings).
    noise_floor: float | None = None
    #: Whether a regression in this metric fails ``invoke compare`` (else it is only shown).
    gate: bool | None = None


@dataclass(frozen=True)
class RegressionConfig:
    """How ``invoke compare`` decides that a run is worse than its baseline."""

    threshold: float = 0.20
    #: ``median:N`` (the last N earlier runs), ``git:REF`` (runs of that commit), ``run:ID``.
    baseline: str = "median:5"
    metrics: Mapping[str, MetricRule] = field(default_factory=lambda: types.MappingProxyType({}))
    #: A statement's plan shape changed since the baseline: ``warn`` (default) or ``fail``.
    plan_change: PlanChange = "warn"


@dataclass(frozen=True)
class LimitsConfig:
    """How big a dataset ``invoke seed`` makes without ``--force``: a mistyped scale (an extra
    zero or three) would otherwise run until the disk is full."""

    #: Rows of a seeded dataset (all tables together), estimated from the application's recipe.
    max_rows: int = field(
        default=DEFAULT_MAX_ROWS, metadata={"positive": True, "maximum": 2**63 - 1}
    )


@dataclass(frozen=True)
class SafetyConfig:
    """Which databases count as test databases that destructive commands may touch.

    Both patterns are regular expressions matched, case-insensitively, against each whole part
    of a database name (``re.fullmatch``; parts are split at non-alphanumerics, between letters
    and digits, and at case changes): see :mod:`perfkit.safety`.
    """

    test_database_pattern: str = "test|perf"
    production_pattern: str = "prod|production|live"


Driver = Literal["asyncpg", "psycopg"]


#: The sample application's models: the schema source when ``app.schema`` names none.
SAMPLE_METADATA = "perfkit.apps.welfare.models:metadata"


@dataclass(frozen=True)
class MigrationsSource:
    """A command that builds the schema in an empty database (``alembic upgrade head``).

    perfkit runs it in a scratch database on its server, with ``app.env`` set and every
    ``app.database_env`` variable pointing at that database, then reads what it built.
    """

    #: The command and its arguments (no shell), e.g. ``[alembic, upgrade, head]``.
    command: tuple[str, ...]
    #: The folder it runs in; relative to this file. Default: ``app.import_root``.
    cwd: Path | None = None
    #: Seconds it may take.
    timeout: float = _positive(default=600.0)


@dataclass(frozen=True)
class SchemaSource:
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

    metadata: str | None = None
    sql: Path | None = None
    migrations: MigrationsSource | None = None
    tables: tuple[str, ...] | None = None

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


@dataclass(frozen=True)
class WorkloadBudgets:
    """One workload's budgets at one scale; a key left out uses the scale's own budget."""

    seconds: float | None = _positive(default=None)
    statements: int | None = _positive(default=None)


@dataclass(frozen=True)
class WorkloadConfig:
    """One workload: ``call`` is ``module:function``. A function marked with perfkit's
    ``@workload`` gets a :class:`perfkit.workload.WorkloadContext`; any other is called the
    plan's way, ``fn(session, **kwargs)``, with an ``AsyncSession`` on the application's
    driver. It may return an int, a dict of numbers, or an object with ``metrics()``."""

    call: str
    kwargs: Mapping[str, Any] = field(default_factory=lambda: types.MappingProxyType({}))
    #: Per scale name: this workload's own budgets.
    budgets: Mapping[str, WorkloadBudgets] = field(
        default_factory=lambda: types.MappingProxyType({})
    )
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


@dataclass(frozen=True)
class AppConfig:
    """The application under test, and how perfkit reaches it (see :mod:`perfkit.app`).

    The defaults are the sample application that ships with perfkit; a team's own application
    fills the same keys.
    """

    name: str = "welfare"
    #: A folder put first on ``sys.path`` before anything is imported (the application's
    #: checkout); relative to this file.
    import_root: Path | None = None
    #: A pip requirements file the ``perf-<scale>`` sessions install beside perfkit (the
    #: application's own dependencies); relative to this file.
    requirements: Path | None = None
    #: Environment variables set before the application is imported, when not already set
    #: (settings its modules demand at import).
    env: Mapping[str, str] = field(default_factory=lambda: types.MappingProxyType({}))
    #: Environment variables perfkit sets to the test database's URL (on ``driver``) before
    #: the import, so that a module-level engine can only ever point at the test database.
    database_env: tuple[str, ...] = ()
    #: The driver the application's sessions use; workloads are measured on it.
    driver: Driver = "asyncpg"
    schema: SchemaSource = field(default_factory=SchemaSource)
    #: ``module:attribute`` of its :class:`perfkit.datagen.recipe.Recipe`.
    recipe: str = "perfkit.apps.welfare.recipe:RECIPE"
    workloads: Mapping[str, WorkloadConfig] = field(default_factory=_sample_workloads)
    #: The workload ``nox -s perf-<scale>`` measures.
    default_workload: str = "deadline_alerts"
    #: The day the data is dated for and the workloads' clock is pinned to: ``today``,
    #: ``weekday`` (the latest Monday to Friday on or before today) or a ``YYYY-MM-DD``.
    run_day: str = "today"


@dataclass(frozen=True)
class Config:
    """The whole of scales.yaml after defaults, environment and flags were applied."""

    source: Path
    scales: Mapping[str, Scale]
    version: int = 1
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
    state_dir: Path = Path(".perfkit")
    #: A database URL from the environment (``PERFORMANCE_TEST_DATABASE_URL`` first); never
    #: from the file, so it is neither accepted there nor offered as a valid key.
    external_url: str | None = field(
        default=None,
        metadata={
            "not_in_file": "set it in the environment: PERFORMANCE_TEST_DATABASE_URL "
            "(or TEST_DATABASE_URL)"
        },
    )

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
# loading


def find_config(path: str | os.PathLike[str] | None = None, *, env: Mapping[str, str]) -> Path:
    """The config file to read: the explicit path, else ``$PERFKIT_CONFIG``, else scales.yaml."""
    chosen = path or env.get(CONFIG_ENV) or DEFAULT_CONFIG_NAME
    resolved = Path(chosen).expanduser().resolve()
    if not resolved.is_file():
        origin = "--config" if path else (CONFIG_ENV if env.get(CONFIG_ENV) else "default")
        raise ConfigError(
            f"config file not found ({origin})",
            source=str(resolved),
            key_path="",
            hint="run from the project folder, or pass --config / set PERFKIT_CONFIG",
        )
    return resolved


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Read, merge and validate the config. See the module docstring for precedence."""
    env = os.environ if env is None else env
    source = find_config(path, env=env)
    label = source.name
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(
            f"cannot read: {clipped(str(exc), limit=200)}", source=label, reason="unreadable"
        ) from None
    raw = read_yaml(text, source=label)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"expected a mapping at the top level, got {kind_of(raw)}", source=label, key_path=""
        )

    origins: dict[str, str] = {}
    for var, key_path in ENV_OVERRIDES.items():
        if var in env and env[var] != "":
            value = parse_text(env[var], key_path=key_path, source=f"environment {var}")
            set_path(raw, key_path, value, label=var, source=label)
            origins[key_path] = f"environment {var}"
    for key_path, value in (overrides or {}).items():
        if value is not None:
            if isinstance(value, str):  # flags arrive as text, like environment variables
                value = parse_text(value, key_path=key_path, source="command line")
            set_path(raw, key_path, value, label="flag", source=label)
            origins[key_path] = "command line"

    raw_scales = raw.pop("scales", None)
    scales = _load_scales(raw_scales, label)
    try:
        cfg = build(
            Config,
            raw,
            path="",
            source=label,
            fixed={"source": source, "scales": types.MappingProxyType(scales)},
            also_valid=("scales",),
        )
    except ConfigError as exc:
        origin = origins.get(exc.key_path)
        if origin is None:
            raise
        raise ConfigError(
            exc.message.split(": ", 2)[-1], source=origin, key_path=exc.key_path, hint=exc.hint
        ) from None
    _check_semantics(cfg, label)
    external_var = next((v for v in URL_ENV_VARS if env.get(v)), None)
    external = env[external_var] if external_var else None
    if external is not None:  # refuse an ambiguous URL here, before anything prints or uses it
        parse_url(external, source=f"environment {external_var}")
    root = source.parent
    result: Config = dataclasses.replace(
        cfg,
        external_url=external,
        state_dir=_under(root, cfg.state_dir),
        snapshots=dataclasses.replace(
            cfg.snapshots, directory=_under(root, cfg.snapshots.directory)
        ),
        results=dataclasses.replace(
            cfg.results,
            directory=_under(root, cfg.results.directory) if cfg.results.directory else None,
        ),
        app=dataclasses.replace(
            cfg.app,
            import_root=_under(root, cfg.app.import_root) if cfg.app.import_root else None,
            requirements=_under(root, cfg.app.requirements) if cfg.app.requirements else None,
            schema=_schema_paths(cfg.app.schema, root, cfg.app.import_root),
        ),
    )
    return result


def _schema_paths(source: SchemaSource, root: Path, import_root: Path | None) -> SchemaSource:
    """``source`` with its file and folder made absolute (relative to scales.yaml's folder)."""
    migrations = source.migrations
    if migrations is not None:
        cwd = migrations.cwd or import_root or Path()
        migrations = dataclasses.replace(migrations, cwd=_under(root, cwd))
    sql = _under(root, source.sql) if source.sql is not None else None
    return dataclasses.replace(source, sql=sql, migrations=migrations)


def _under(root: Path, p: Path) -> Path:
    return p if p.is_absolute() else (root / p)


def _load_scales(raw: Any, label: str) -> dict[str, Scale]:
    if raw is None:
        raise ConfigError(
            "missing: at least one scale is required", source=label, key_path="scales"
        )
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(
            f"expected a non-empty mapping of scale names, got {kind_of(raw)}",
            source=label,
            key_path="scales",
        )
    scales: dict[str, Scale] = {}
    for name, body in raw.items():
        if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_-]*", name):
            raise ConfigError(
                "a scale name must be lowercase letters, digits, '-' or '_', "
                f"starting with a letter; got {quoted(name)}",
                source=label,
                key_path=join_key("scales", clipped(str(name))),
            )
        if not isinstance(body, dict):
            raise ConfigError(
                f"expected a mapping, got {kind_of(body)}", source=label, key_path=f"scales.{name}"
            )  # the name passed the pattern above: short and plain
        if "name" in body:
            raise ConfigError("unknown key 'name'", source=label, key_path=f"scales.{name}.name")
        scales[name] = build(Scale, body, path=f"scales.{name}", source=label, fixed={"name": name})
    return scales


_IMPORT_PATH = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")


def _check_app(app: AppConfig, label: str) -> None:
    """The ``app`` section's cross-key rules (types were checked when it was built)."""
    given = [k for k in ("metadata", "sql", "migrations") if getattr(app.schema, k) is not None]
    if len(given) > 1:
        raise ConfigError(
            f"give one schema source, not {' and '.join(given)}",
            source=label,
            key_path="app.schema",
            hint="metadata (module:attribute), sql (a file) or migrations (a command)",
        )
    if app.schema.migrations is not None and not app.schema.migrations.command:
        raise ConfigError(
            "expected a command, e.g. [alembic, upgrade, head]",
            source=label,
            key_path="app.schema.migrations.command",
        )
    paths = {"app.schema.metadata": app.schema.metadata_path, "app.recipe": app.recipe}
    paths |= {f"app.workloads.{name}.call": w.call for name, w in app.workloads.items()}
    for key, value in paths.items():
        if not _IMPORT_PATH.fullmatch(value):
            raise ConfigError(
                f"expected 'module:attribute', got {quoted(value)}",
                source=label,
                key_path=key,
                hint="for example 'myapp.tasks.nightly:send_alerts'",
            )
    if not app.workloads:
        raise ConfigError(
            "at least one workload is required", source=label, key_path="app.workloads"
        )
    if app.default_workload not in app.workloads:
        close = difflib.get_close_matches(app.default_workload, list(app.workloads), n=1)
        raise ConfigError(
            f"{quoted(app.default_workload)} is not one of app.workloads "
            f"({', '.join(app.workloads)})",
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
    for name in (*app.env, *app.database_env):
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ConfigError(
                f"not an environment variable name: {quoted(name)}",
                source=label,
                key_path="app.env" if name in app.env else "app.database_env",
            )


def _check_semantics(cfg: Config, label: str) -> None:
    _check_app(cfg.app, label)
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
    if (
        not cfg.data.realistic.email_threshold_days
        or min(cfg.data.realistic.email_threshold_days) <= 0
    ):
        raise ConfigError(
            "expected a non-empty list of positive day counts",
            source=label,
            key_path="data.realistic.email_threshold_days",
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
    _check_server_settings(cfg.database.settings, label)


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
    """``database.settings``: well-formed names and values, none of the settings perfkit owns.
    (Whether the server knows a name and accepts a value is checked against the server by
    ``invoke db-up``: :mod:`perfkit.env.settings`.)"""
    for name, value in settings.items():
        key_path = join_key("database.settings", clipped(name))
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
    if reg.threshold < 0:
        raise ConfigError(
            f"expected a fraction >= 0, got {reg.threshold:g}",
            source=label,
            key_path="regression.threshold",
        )
    if not re.fullmatch(r"median:[1-9][0-9]*|git:\S+|run:\S+", reg.baseline):
        raise ConfigError(
            f"expected median:N, git:REF or run:ID, got {quoted(reg.baseline)}",
            source=label,
            key_path="regression.baseline",
        )
    for name, rule in reg.metrics.items():
        key_path = join_key("regression.metrics", clipped(name))
        if name not in REGRESSION_METRICS:
            close = difflib.get_close_matches(name[:100], REGRESSION_METRICS, n=1, cutoff=0.6)
            raise ConfigError(
                f"unknown metric {quoted(name)}."
                + (f" Did you mean {close[0]!r}?" if close else "")
                + ("" if close else f" Valid metrics: {', '.join(REGRESSION_METRICS)}"),
                source=label,
                key_path=key_path,
                suggestion=close[0] if close else None,
            )
        for attr in ("threshold", "noise_floor"):
            value = getattr(rule, attr)
            if value is not None and value < 0:
                raise ConfigError(
                    f"expected a number >= 0, got {value:g}",
                    source=label,
                    key_path=f"{key_path}.{attr}",
                )
