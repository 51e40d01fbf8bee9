"""One scale's performance run: data ready -> measure the workload -> check budgets -> record.

:func:`run_scale` runs one scale's default workload end to end; it returns a :class:`ScaleRun`
whose :meth:`~ScaleRun.summary_lines` a test prints and whose :attr:`~ScaleRun.failures` make
it fail. It is two functions, which the pytest plugin (:mod:`perfkit.pytest_plugin`, what
``tests/performance`` and a team's own performance tests use) calls separately: step 1 is
:func:`prepare_data` (once per scale, the ``perf_data`` fixture), steps 2-4 are
:func:`measure_and_record` (each ``perf_measure`` call, on any async callable). Steps:

1. **data ready**: :func:`perfkit.prepare.prepare` keeps, restores or seeds the scale's
   dataset (so a run of medium after small switches the data), once per scale and session
   (``perfkit perf --scale <name>`` runs the tests in its own process: nothing is handed over);
   each preparation of the measured data (a test's clone adds one) is checked against the
   budgets, and the record keeps the one that did the most work (seeded > restored from a
   file > cloned from a template > kept);
2. **measure**: the workload (default: the deadline-alert batch, dry run) runs
   ``measure.warmup`` times untimed and ``measure.repeat`` times timed on an engine built from
   scales.yaml's ``pool`` section, under perfkit's lock on the database so that no other
   command swaps the data meanwhile, and checked to run on the data its record names
   (:mod:`perfkit.guard`: unchanged before, nothing committed after; a change is restored
   and fails the run). A workload declared as writing (``app.workloads.<name>.writes``) runs
   each time on a fresh copy of the scale's template instead (:mod:`perfkit.fresh`).
   Statements and peak memory are measured too;
3. **check**: the median against ``budgets.batch``, statements per run against
   ``budgets.statements``, preparation and restore times against ``budgets.prepare`` and
   ``budgets.restore``; on plan-shaped data, e-mails must equal staff. A database timeout
   (pool or statement timeout) fails the run with :class:`DatabaseTimeoutError`;
4. **record**: one :class:`~perfkit.results.RunRecord` appended to ``results.jsonl``, passed
   or not.

(Over 400 lines: the steps and the types they hand each other, :class:`PreparedData`,
:class:`Timed` and :class:`ScaleRun`, stay together, so that ``nox -s perf-<scale>`` and a
team's own tests go through one path.)

Over 500 lines: a run's steps (prepare, warm-up, timed runs, memory, profile, budgets, the
record) are one sequence whose every step hands the next what it measured.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import time_machine
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from perfkit.budget import BudgetCheck, file_source, with_sources
from perfkit.config import Config, Scale, WorkloadBudgets
from perfkit.datagen import DatasetInfo, read_dataset_info
from perfkit.db import create_session_factory, open_engine
from perfkit.errors import PerfkitError
from perfkit.fresh import FreshCopies, Release, template_copies
from perfkit.guard import (
    DatasetChangedError,
    close_idle,
    shared_data_guard,
)
from perfkit.loadconfig import MemoryBudgets, MemorySettings
from perfkit.measure import Measurement, measure
from perfkit.memory import MemoryProfile, check_memory, memory_profile
from perfkit.prepare import PrepareReport, prepare
from perfkit.profile import (
    Profile,
    ServerFigures,
    ServerStatements,
    explain_statements,
    profile_entries,
    profile_run,
    shorten,
    with_server_figures,
)
from perfkit.results import (
    RunRecord,
    append_record,
    current_commit,
    machine_info,
    results_path,
    utc_now,
)
from perfkit.urls import SecretUrl, mask_url
from perfkit.workload import Workload, WorkloadContext, WorkloadRegistry, as_outcome

if TYPE_CHECKING:
    from perfkit.app import Application
    from perfkit.database import Database
    from perfkit.run import Run


#: SQLSTATE of a statement cancelled by statement_timeout.
QUERY_CANCELED = "57014"


class DatabaseTimeoutError(PerfkitError):
    """The database timed out during a performance run (the plan allows zero of these)."""

    def __init__(self, scale: str, detail: str) -> None:
        super().__init__(
            f"database timeout during the {scale} run: {detail}",
            hint="check pool.pool_timeout / pool.statement_timeout in scales.yaml and the "
            "server log (`perfkit db-status`)",
        )
        self.scale = scale


class WritesOnSharedDataError(PerfkitError):
    """A workload declared as writing was to be measured on the shared data."""

    exit_code = 2

    def __init__(self, scale: str, workload: str) -> None:
        super().__init__(
            f"workload {workload!r} writes (app.workloads.{workload}.writes), and the "
            f"{scale} data here is shared",
            hint="measure it in a test marked @pytest.mark.perf_clone: each run then gets a "
            "fresh clone",
        )
        self.scale = scale
        self.workload = workload


@dataclass(frozen=True)
class Preparation:
    """One "data ready" step for the measured data: who made it, and its report."""

    #: ``"perfkit prepare"`` (handed over) or ``"this run"`` (:func:`prepare` here).
    source: str
    report: PrepareReport

    def describe(self) -> str:
        r = self.report
        out = f"{r.how} in {r.seconds:.2f} s"
        if r.restore_seconds is not None:
            out += f" (restore {r.restore_seconds:.2f} s)"
        if r.seed_seconds:
            rate = r.info.total_rows / r.seed_seconds
            out += f" (seed {r.seed_seconds:.2f} s, {rate:,.0f} rows/s)"
        return f"{out} [{self.source}]"


@dataclass(frozen=True)
class PreparedData:
    """A scale's dataset made ready in a database: what it holds, and how it got there.

    :func:`prepare_data` makes one; the pytest plugin's ``perf_data`` fixture is one (a test
    that writes gets one for its own clone, ``cloned`` true).
    """

    scale: Scale
    #: The database holding the data (password included: show :func:`mask_url` of it).
    url: SecretUrl
    #: Who made the data ready, first to last (see :func:`main_preparation`).
    preparations: tuple[Preparation, ...]
    #: The ``perfkit_dataset`` row: seed, mode, anchor date, row counts.
    info: DatasetInfo
    #: A throw-away clone of the scale's data for one test (writable), not the shared data.
    cloned: bool = False
    #: The data variant applied to the clone (:mod:`perfkit.variants`), named in the record.
    variant: str | None = None

    @property
    def anchor_date(self) -> dt.date:
        """The day the data is dated for: the workloads' ``today``."""
        return self.info.anchor_date

    @property
    def rows(self) -> Mapping[str, int]:
        """Rows per table (``perfkit_dataset`` included)."""
        return self.info.row_counts

    @property
    def mode(self) -> str:
        """``realistic`` or ``plan`` (the plan's shape: every staff member is due an e-mail)."""
        return self.info.mode

    @property
    def how(self) -> str:
        """The route of the preparation that did the most work: kept, template, file or
        seeded."""
        return main_preparation(self.preparations).how


@dataclass(frozen=True)
class Timed:
    """What :func:`measure_and_record` measures: an async callable, and what its record and
    budgets go by."""

    #: Called with no argument for each run (warm-up, timed, memory).
    fn: Callable[[], Awaitable[object]]
    #: The record's ``workload``: runs compare only with runs of the same name.
    name: str
    #: The summary's title (a docstring's first line).
    label: str
    #: Its own budgets at this scale (scales.yaml ``app.workloads.<name>.budgets``, or a
    #: test's marker); a key left unset uses the scale's budget.
    budgets: WorkloadBudgets | None = None
    #: A run that sends no statement, or whose numbers are all zero, fails.
    expect_work: bool = True
    #: Memory figures after the timed runs (:func:`perfkit.memory.memory_profile`), when set.
    memory: MemorySettings | None = None
    memory_budgets: MemoryBudgets | None = None
    #: It commits writes (scales.yaml ``app.workloads.<name>.writes``): each run gets a fresh
    #: copy of the data (:mod:`perfkit.fresh`), never the shared data.
    writes: bool = False
    #: Where its own budgets were set, by check name (``batch``, ``statements``, a memory
    #: figure): ``scales.yaml app.workloads.<name>.budgets.<scale>.seconds``, a test's
    #: ``@perf_budget``... (:mod:`perfkit.budget`). A budget left out is the scale's.
    budget_sources: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ScaleRun:
    """The outcome of :func:`measure_and_record`: what was measured, checked and recorded."""

    scale: Scale
    workload: str
    label: str
    preparations: tuple[Preparation, ...]
    info: DatasetInfo
    measurement: Measurement[object]
    checks: tuple[BudgetCheck, ...]
    problems: tuple[str, ...]
    record: RunRecord
    record_path: Path
    #: The workload's own numbers (its ``metrics()``, or what it returned, as numbers).
    numbers: Mapping[str, int | float] = field(default_factory=dict)
    #: The untimed profiled run after the timed ones (statements, database time).
    profile: Profile | None = None
    #: Memory figures (retained heap, growth per run, RSS), when asked for.
    memory: MemoryProfile | None = None

    @property
    def result(self) -> object:
        """What the callable returned on its last timed run (e.g. the batch's result)."""
        return self.measurement.result

    @property
    def failures(self) -> list[str]:
        """Every budget exceeded and every correctness problem, one line each."""
        return [c.describe() for c in self.checks if not c.ok] + list(self.problems)

    @property
    def passed(self) -> bool:
        return not self.failures

    def _result_line(self) -> str:
        """The workload's numbers, per office: e-mails for a mailing batch, else all of them."""
        metrics = self.record.metrics
        own = self.numbers
        per_office = f"{metrics['seconds_per_office'] * 1000:.3f} ms per office"
        if "emails" in own:
            return f"  e-mails   {own['emails']:,} for {metrics['offices']:,} offices: {per_office}"
        shown = ", ".join(f"{k}={v:,}" for k, v in own.items()) or "nothing"
        return f"  result    {shown} for {metrics['offices']:,} offices: {per_office}"

    def summary_lines(self) -> list[str]:
        """What a run prints: elapsed, the workload's numbers, time per office, statements,
        memory, budgets."""
        m = self.measurement
        samples = ", ".join(f"{s * 1000:.1f}" for s in m.samples)
        lines = [
            f"[{self.scale.name}] {self.label}",
            f"  data      {self.info.describe()}",
            "  prepare   " + "; ".join(p.describe() for p in self.preparations),
            f"  elapsed   {m.median:.3f} s median of {len(m.samples)} "
            f"(warm-up {m.warmup}; samples ms: {samples})",
            self._result_line(),
            f"  SQL       {m.statements} statement(s) per run",
            f"  memory    {m.peak_memory_mb:.1f} MB peak (Python heap during one run)",
        ]
        if self.memory is not None:
            lines += self.memory.summary_lines()
        if self.profile is not None:
            p = self.profile
            lines.append(
                f"  time      database {p.db_seconds:.3f} s ({p.db_share:.0%}), application "
                f"{p.app_seconds:.3f} s ({1 - p.db_share:.0%}) [one profiled, untimed run]"
            )
            for entry in self.record.profile[:3]:
                lines.append(
                    f"  statement {entry['calls']}x {entry['total_ms']:.1f} ms "
                    f"{shorten(entry['statement'], 70)}"
                )
        lines += [f"  budget    {c.describe()}" for c in self.checks]
        lines += [f"  PROBLEM   {p}" for p in self.problems]
        lines.append(f"  record    {self.record_path} ({'passed' if self.passed else 'FAILED'})")
        return lines


async def run_scale(
    run: Run,
    scale: Scale,
    *,
    run_id: str,
    workload: str | None = None,
    registry: WorkloadRegistry | None = None,
) -> ScaleRun:
    """Make ``scale``'s data ready in the run's database, measure ``workload`` on it, check
    the budgets and append the run record: :func:`prepare_data`, then
    :func:`measure_and_record`. See the module docstring for the steps."""
    app = run.app
    name = workload or app.default_workload
    spec = registry.get(name) if registry is not None else app.workload(name)
    async with data_for(run, scale, spec) as (data, fresh):
        return await _measure_workload(run, data, spec, run_id=run_id, fresh=fresh)


@asynccontextmanager
async def data_for(
    run: Run, scale: Scale, spec: Workload
) -> AsyncIterator[tuple[PreparedData, FreshCopies | None]]:
    """``scale``'s data made ready (:func:`prepare_data`) for measuring ``spec``: the shared
    data, or, for a workload declared as writing (``writes: true``), a copy of it and the
    fresh copies its every step takes (:func:`perfkit.fresh.template_copies`)."""
    data = await prepare_data(run, scale)
    settings = run.app.workload_settings(spec.name)
    if settings is None or not settings.writes:
        yield data, None
        return
    async with template_copies(run, scale) as copies:
        yield await data_in(run, data, copies.db), copies


async def _measure_workload(
    run: Run,
    data: PreparedData,
    spec: Workload,
    *,
    run_id: str,
    fresh: FreshCopies | None = None,
) -> ScaleRun:
    """:func:`measure_and_record` of ``spec`` on ``data``, on an engine of its own."""
    app, cfg = run.app, run.cfg
    engine = await open_engine(data.url, cfg.pool, driver=app.driver)
    try:
        ctx = WorkloadContext(
            session_factory=create_session_factory(engine, cfg.pool), today=data.anchor_date
        )
        return await measure_and_record(
            run,
            data,
            workload_timed(app, spec, ctx, scale=data.scale.name, config_file=cfg.source.name),
            engine=engine,
            run_id=run_id,
            fresh=fresh,
        )
    finally:
        await engine.dispose()


async def data_in(run: Run, shared: PreparedData, copy: Database) -> PreparedData:
    """``shared``'s data as the database ``copy`` holds it (a clone of the scale's template):
    its own ``perfkit_dataset`` row, the same preparations; ``cloned``."""
    async with copy.connect() as conn:
        info = await read_dataset_info(conn, order=run.app.tables)
    if info is None or not info.same_data(shared.info, compare_anchor=False):
        raise DatasetChangedError(shared.scale.name, info.describe() if info else "no dataset")
    return dataclasses.replace(shared, url=SecretUrl(copy.url), info=info, cloned=True)


# --------------------------------------------------------------------------------------------
# steps


async def prepare_data(run: Run, scale: Scale) -> PreparedData:
    """Step 1, data ready: :func:`perfkit.prepare.prepare` in the run's database.

    No spare is built in the background (:mod:`perfkit.snapshot.spares`): the measurements
    start at once, and a build (a whole clone of the dataset, at a lower priority but on the
    same disk and server) would run beside the first of them. A perf session prepares each
    scale once and needs no spare; the next ``perfkit restore`` or ``prepare`` starts one."""
    run.say(f"{scale.name}: making the data ready")
    report = await prepare(run, scale, build_spare=False)
    return PreparedData(
        scale=scale,
        url=SecretUrl(run.db.url),
        preparations=(Preparation(source="this run", report=report),),
        info=report.info,
    )


def workload_timed(
    app: Application,
    spec: Workload,
    ctx: WorkloadContext,
    *,
    scale: str,
    config_file: str = "scales.yaml",
) -> Timed:
    """An application's workload ``spec`` run in ``ctx``, with its settings from the
    configuration file (named ``config_file`` in budget lines)."""
    settings = app.workload_settings(spec.name)
    budgets = settings.budgets.get(scale) if settings else None
    return Timed(
        fn=lambda: spec.run(ctx),
        name=spec.name,
        label=spec.label,
        budgets=budgets,
        expect_work=settings.expect_work if settings else True,
        writes=settings.writes if settings else False,
        budget_sources=workload_budget_sources(
            budgets, config_file=config_file, workload=spec.name, scale=scale
        ),
    )


#: A workload's budget key (``app.workloads.<name>.budgets.<scale>``) -> the check it sets.
WORKLOAD_BUDGET_CHECKS = {"seconds": "batch", "statements": "statements"}


def workload_budget_sources(
    budgets: WorkloadBudgets | None, *, config_file: str, workload: str, scale: str
) -> dict[str, str]:
    """Where each budget ``budgets`` sets came from: ``app.workloads.<workload>.budgets.
    <scale>.<key>`` in ``config_file``, by check name."""
    if budgets is None:
        return {}
    return {
        check: file_source(config_file, f"app.workloads.{workload}.budgets.{scale}.{key}")
        for key, check in WORKLOAD_BUDGET_CHECKS.items()
        if getattr(budgets, key) is not None
    }


async def measure_and_record(
    run: Run,
    data: PreparedData,
    timed: Timed,
    *,
    engine: AsyncEngine,
    run_id: str,
    lock: bool = True,
    fresh: FreshCopies | None = None,
    release: Release | None = None,
) -> ScaleRun:
    """Steps 2-4: measure ``timed`` on ``data`` (statements counted on ``engine``, the clock
    pinned to the data's day), check the budgets, append the run record.

    On the shared data (``lock``), perfkit's lock on the database is held meanwhile, and
    :func:`shared_data_guard` checks before that the data is still the one prepared, and after
    that the measurement changed nothing. With ``fresh`` (a workload that writes), every run
    and the EXPLAINs get a fresh copy of the data (:mod:`perfkit.fresh`; ``release``, by
    default :func:`close_idle` of ``engine``, closes the connections to it first). Without
    either (a database that is the caller's own), nothing is checked. Progress goes to the
    run."""
    say, cfg = run.say, run.cfg
    scale = data.scale
    if timed.writes and fresh is None:
        raise WritesOnSharedDataError(scale.name, timed.name)
    renew = (
        None
        if fresh is None
        else functools.partial(fresh.renew, release or functools.partial(close_idle, engine))
    )
    async with held_data(
        run, data, engine=engine, lock=lock and fresh is None, workload=timed.name
    ) as (info, server_version):
        say(f"{scale.name}: measuring {timed.name}")
        with pinned_clock(info.anchor_date):  # the dataset's day, whatever today is
            measurement: Measurement[object] = await measure(
                timed.fn,
                name=timed.name,
                engine=engine,
                repeat=cfg.measure.repeat_for(scale),
                warmup=cfg.measure.warmup,
                before_each=renew,
            )
            # untimed, after the timed repeats: the samples never carry its overhead
            if renew is not None:
                await renew()
            server = await ServerStatements.start(data.url)
            profile = await profile_run(timed.fn, engine=engine)
            server_rows = await server.collect() if server is not None else None
            if renew is not None:  # the plans are of the data as the runs found it
                await renew()
            plans = await explain_statements(engine, profile.statements)
            if timed.memory and renew is not None:  # (one copy for all its runs)
                await renew()
            memory = await memory_profile(timed.fn, timed.memory) if timed.memory else None

    numbers = outcome_numbers(measurement.result)
    checks = _budget_checks(
        scale, data.preparations, measurement, own=timed.budgets,
        sources=timed.budget_sources, config_file=cfg.source.name,
    )  # fmt: skip
    if memory is not None:
        checks += with_sources(check_memory(memory, timed.memory_budgets), timed.budget_sources)
    problems = _problems(info, measurement, numbers, expect_work=timed.expect_work)
    record = _record(
        cfg,
        scale,
        backend=run.env.backend,
        run_id=run_id,
        workload=timed.name,
        server_version=server_version,
        info=info,
        preparations=data.preparations,
        measurement=measurement,
        numbers=numbers,
        checks=checks,
        problems=problems,
        profile=profile,
        plans=plans,
        server_rows=server_rows,
        memory=memory,
        variant=data.variant,
    )
    path = results_path(cfg)
    append_record(path, record)
    return ScaleRun(
        scale=scale,
        workload=timed.name,
        label=timed.label,
        preparations=data.preparations,
        info=info,
        measurement=measurement,
        checks=checks,
        problems=problems,
        record=record,
        record_path=path,
        numbers=numbers,
        profile=profile,
        memory=memory,
    )


@asynccontextmanager
async def held_data(
    run: Run,
    data: PreparedData,
    *,
    engine: AsyncEngine,
    lock: bool,
    workload: str | None = None,
) -> AsyncIterator[tuple[DatasetInfo, str]]:
    """The data held for a measurement (of ``workload``, on ``engine``): with ``lock`` (the
    shared data), :func:`perfkit.guard.shared_data_guard`: perfkit's lock on the database,
    the data checked to be still the one prepared and loaded (:class:`DatasetChangedError`),
    and to have been changed by nothing the block committed (:class:`WorkloadWroteError`);
    a change is restored first. Yields its dataset row and the server's version. A database
    timeout inside the block is a :class:`DatabaseTimeoutError`."""
    guard = (
        shared_data_guard(
            run.on(data.url),
            data.scale,
            info=data.info,
            engine=engine,
            workload=workload or "the measurement",
        )
        if lock
        else nullcontext(data.info)
    )
    async with guard as info:
        async with engine.connect() as conn:
            server_version = str(await conn.scalar(text("SHOW server_version")))
        try:
            yield info, server_version
        except (sa_exc.TimeoutError, asyncpg.QueryCanceledError, TimeoutError) as exc:
            raise DatabaseTimeoutError(data.scale.name, _one_line(exc)) from None
        except sa_exc.DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) == QUERY_CANCELED:
                raise DatabaseTimeoutError(data.scale.name, _one_line(exc)) from None
            raise


def outcome_numbers(result: object) -> Mapping[str, int | float]:
    """A run's result as the record's numbers: its ``metrics()``, a number as ``result``, a
    mapping's numeric entries; nothing for anything else (``None``, a list...)."""
    try:
        return dict(as_outcome(result).metrics())
    except TypeError:
        return {}


def main_preparation(preparations: tuple[Preparation, ...]) -> PrepareReport:
    """The preparation that did the most work (the first of equals)."""
    return max(preparations, key=lambda p: p.report.work).report


def _budget_checks(
    scale: Scale,
    preparations: tuple[Preparation, ...],
    measurement: Measurement[object],
    *,
    own: WorkloadBudgets | None = None,
    sources: Mapping[str, str] | None = None,
    config_file: str = "scales.yaml",
) -> tuple[BudgetCheck, ...]:
    """The scale's budgets, the workload's own (scales.yaml ``app.workloads.<name>.budgets``,
    or a test's ``perf_budget`` marker) where it sets them; ``sources`` says where the own
    ones came from (by check name), the scale's are named in ``config_file``."""
    seconds, statements = effective_budgets(scale, own)
    given = sources or {}

    def source(name: str) -> str:
        return given.get(name) or scale_budget_source(config_file, scale, name)

    checks = (
        BudgetCheck("batch", measurement.median, seconds, source=source("batch")),
        BudgetCheck(
            "statements", measurement.statements, statements, unit="", source=source("statements")
        ),
    )
    return checks + preparation_checks(scale, preparations, config_file=config_file)


def scale_budget_source(config_file: str, scale: Scale, key: str) -> str:
    """``scales.yaml scales.small.budgets.batch``: a scale's own budget."""
    return file_source(config_file, f"scales.{scale.name}.budgets.{key}")


def preparation_checks(
    scale: Scale, preparations: tuple[Preparation, ...], *, config_file: str = "scales.yaml"
) -> tuple[BudgetCheck, ...]:
    """Each preparation's time (and restore time) against the scale's ``prepare`` and
    ``restore`` budgets (set in ``config_file``)."""
    budgets = scale.budgets
    prepare = scale_budget_source(config_file, scale, "prepare")
    restore = scale_budget_source(config_file, scale, "restore")
    checks = []
    for prep in preparations:
        r = prep.report
        checks.append(
            BudgetCheck(f"prepare ({prep.source})", r.seconds, budgets.prepare, source=prepare)
        )
        if r.restore_seconds is not None:
            checks.append(
                BudgetCheck(
                    f"restore ({prep.source})", r.restore_seconds, budgets.restore, source=restore
                )
            )
    return tuple(checks)


def effective_budgets(scale: Scale, own: WorkloadBudgets | None) -> tuple[float, int]:
    """Seconds (the median) and statements per run a measurement may take at ``scale``: its
    own budgets where set, else the scale's ``batch`` and ``statements``."""
    seconds = own.seconds if own and own.seconds is not None else scale.budgets.batch
    statements = own.statements if own and own.statements is not None else scale.budgets.statements
    return seconds, statements


def _problems(
    info: DatasetInfo,
    measurement: Measurement[object],
    metrics: Mapping[str, int | float],
    *,
    expect_work: bool = True,
) -> tuple[str, ...]:
    problems = []
    if not measurement.statements_stable:
        problems.append(
            f"statement count varied between runs: {list(measurement.statement_samples)}"
        )
    if expect_work and measurement.statements == 0:
        problems.append(
            "the workload issued no SQL statement: it did no work (a weekend or holiday "
            "guard? set app.run_day: weekday, or a date, in scales.yaml)"
        )
    elif expect_work and metrics and not any(metrics.values()):
        shown = ", ".join(f"{k}={v}" for k, v in metrics.items())
        problems.append(
            f"the workload's numbers are all zero ({shown}) while the dataset holds "
            f"{info.total_rows:,} rows: it did no work, and is not recorded as a pass"
        )
    return tuple(problems)


def _record(
    cfg: Config,
    scale: Scale,
    *,
    backend: str,
    run_id: str,
    workload: str,
    server_version: str,
    info: DatasetInfo,
    preparations: tuple[Preparation, ...],
    measurement: Measurement[object],
    numbers: Mapping[str, int | float],
    checks: tuple[BudgetCheck, ...],
    problems: tuple[str, ...],
    profile: Profile | None = None,
    plans: Mapping[str, Mapping[str, object]] | None = None,
    server_rows: list[ServerFigures] | None = None,
    memory: MemoryProfile | None = None,
    variant: str | None = None,
) -> RunRecord:
    outcome = dict(numbers)
    offices = scale.offices  # perfkit's entities come per office, whatever the tables are
    metrics: dict[str, int | float] = {"batch_seconds": measurement.median}
    metrics.update(preparation_metrics(info, preparations))
    metrics.update(
        statements=measurement.statements,
        peak_memory_mb=round(measurement.peak_memory_mb, 3),
        offices=offices,
        seconds_per_office=measurement.median / offices,
    )
    if profile is not None:
        metrics.update(
            db_seconds=round(profile.db_seconds, 6),
            app_seconds=round(profile.app_seconds, 6),
            db_share=round(profile.db_share, 4),
        )
    if memory is not None:
        metrics.update(memory.metrics())
    metrics.update({k: v for k, v in outcome.items() if k not in metrics})
    # whether the server's own figures (pg_stat_statements) were available for the profile
    metrics["server_statement_figures"] = 1 if server_rows is not None else 0
    failures = [c.describe() for c in checks if not c.ok] + list(problems)
    limits = {c.name: c.limit for c in checks}
    sources = {c.name: c.source for c in checks}
    budgets = {  # the limits the checks applied: the workload's own where it has them
        "batch": limits["batch"],
        "prepare": scale.budgets.prepare,
        "restore": scale.budgets.restore,
        "statements": limits["statements"],
    }
    budget_sources = {
        "batch": sources["batch"],
        "prepare": scale_budget_source(cfg.source.name, scale, "prepare"),
        "restore": scale_budget_source(cfg.source.name, scale, "restore"),
        "statements": sources["statements"],
    }
    if memory is not None:
        budgets.update({k: limits[k] for k in memory.metrics() if k in limits})
        budget_sources.update({k: sources[k] for k in memory.metrics() if sources.get(k)})
    return RunRecord(
        run_id=run_id,
        scale=scale.name,
        when=utc_now().isoformat(timespec="seconds"),
        commit=current_commit(cfg.root),
        machine=machine_info(),
        backend=backend,
        server_version=server_version,
        dataset=dataset_fields(info, preparations, variant=variant),
        metrics=metrics,
        samples={
            "batch_seconds": list(measurement.samples),
            **(memory.samples() if memory is not None else {}),
        },
        budgets=budgets,
        passed=not failures,
        workload=workload,
        failures=failures,
        budget_sources=budget_sources,
        profile=with_server_figures(profile_entries(profile, plans or {}), server_rows or [])
        if profile is not None
        else [],
    )


def preparation_metrics(
    info: DatasetInfo, preparations: tuple[Preparation, ...]
) -> dict[str, float]:
    """The record's ``prepare_seconds``, and ``restore_seconds`` and ``seed_rows_per_second``
    when that step happened."""
    prepare = main_preparation(preparations)
    restores = [
        p.report.restore_seconds for p in preparations if p.report.restore_seconds is not None
    ]
    metrics = {"prepare_seconds": prepare.seconds}
    if prepare.restore_seconds is not None or restores:
        metrics["restore_seconds"] = (
            prepare.restore_seconds if prepare.restore_seconds is not None else max(restores)
        )
    if prepare.seed_seconds:
        metrics["seed_rows_per_second"] = info.total_rows / prepare.seed_seconds
    return metrics


def dataset_fields(
    info: DatasetInfo, preparations: tuple[Preparation, ...], *, variant: str | None = None
) -> dict[str, object]:
    """The record's ``dataset``: what the data is, how it was made ready, and the variant
    applied to it (only when one was)."""
    fields: dict[str, object] = {
        "mode": info.mode,
        "seed": info.seed,
        "generator_version": info.generator_version,
        "anchor_date": info.anchor_date.isoformat(),
        "rows": dict(info.row_counts),
        "prepared": main_preparation(preparations).how,
        "key": info.key(),
    }
    if variant is not None:
        fields["variant"] = variant
    return fields


@contextmanager
def pinned_clock(day: dt.date) -> Iterator[None]:
    """The application's clock set to noon UTC of ``day`` (ticking from there), so that its
    "today" is the dataset's day in every time zone from UTC-11 to UTC+11: a run on a Sunday
    or a holiday measures the same work as on the day the data is dated for. Durations are
    unaffected: the monotonic clocks perfkit times with are left alone."""
    with time_machine.travel(dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC), tick=True):
        yield


def _one_line(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return mask_url(f"{type(exc).__name__}: {first}" if first else type(exc).__name__)
