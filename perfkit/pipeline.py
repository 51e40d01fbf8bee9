"""One scale's performance run: data ready -> measure the workload -> check budgets -> record.

:func:`run_scale` is what each performance test calls (``tests/performance``); it returns a
:class:`ScaleRun` whose :meth:`~ScaleRun.summary_lines` the test prints and whose
:attr:`~ScaleRun.failures` make it fail. Steps:

1. **data ready**: :func:`perfkit.prepare.prepare` keeps, restores or seeds the scale's
   dataset (so a run of medium after small switches the data). With ``after_prepare_task``,
   the :class:`~perfkit.prepare.PrepareReport` that ``invoke prepare`` handed over for this
   scale (:func:`perfkit.prepare.read_handover`: ``nox -s perf-<scale>`` prepares its own
   scale just before the tests) counts too when it is under an hour old and describes the same
   dataset and date: both preparations are checked against the budgets, and the record keeps
   the one that did the most work (seeded > restored from a file > cloned from a template >
   kept);
2. **measure**: the workload (default: the deadline-alert batch, dry run) runs
   ``measure.warmup`` times untimed and ``measure.repeat`` times timed on an engine built from
   scales.yaml's ``pool`` section, under perfkit's lock on the database so that no other
   command swaps the data meanwhile. Statements and peak memory are measured too;
3. **check**: the median against ``budgets.batch``, statements per run against
   ``budgets.statements``, preparation and restore times against ``budgets.prepare`` and
   ``budgets.restore``; on plan-shaped data, e-mails must equal staff. A database timeout
   (pool or statement timeout) fails the run with :class:`DatabaseTimeoutError`;
4. **record**: one :class:`~perfkit.results.RunRecord` appended to ``results.jsonl``, passed
   or not.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import time_machine
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from perfkit.app import load_application
from perfkit.config import Config, Scale, WorkloadBudgets
from perfkit.datagen import DatasetInfo, read_dataset_info
from perfkit.db import connection, create_engine, create_session_factory
from perfkit.env import select_environment
from perfkit.errors import PerfkitError
from perfkit.locks import exclusive
from perfkit.measure import Measurement, measure
from perfkit.prepare import PrepareReport, prepare, read_handover
from perfkit.results import (
    RunRecord,
    append_record,
    current_commit,
    machine_info,
    results_path,
    utc_now,
)
from perfkit.urls import mask_url
from perfkit.workload import Outcome, WorkloadContext, WorkloadRegistry

Progress = Callable[[str], None]

#: SQLSTATE of a statement cancelled by statement_timeout.
QUERY_CANCELED = "57014"


class DatabaseTimeoutError(PerfkitError):
    """The database timed out during a performance run (the plan allows zero of these)."""

    def __init__(self, scale: str, detail: str) -> None:
        super().__init__(
            f"database timeout during the {scale} run: {detail}",
            hint="check pool.pool_timeout / pool.statement_timeout in scales.yaml and the "
            "server log (`invoke db-status`)",
        )
        self.scale = scale


class DatasetChangedError(PerfkitError):
    """Another command replaced the data between preparing and measuring it."""

    def __init__(self, scale: str, now: str) -> None:
        super().__init__(
            f"the {scale} dataset changed before it could be measured (now: {now})",
            hint="another perfkit command is using the same database; run one at a time",
        )


@dataclass(frozen=True)
class BudgetCheck:
    """One number against its limit from scales.yaml."""

    name: str
    value: float
    limit: float
    unit: str = "s"

    @property
    def ok(self) -> bool:
        return self.value <= self.limit

    def describe(self) -> str:
        verdict = "ok" if self.ok else "OVER BUDGET"
        return (
            f"{self.name} {_fmt(self.value, self.unit)} <= {_fmt(self.limit, self.unit)}: {verdict}"
        )


@dataclass(frozen=True)
class Preparation:
    """One "data ready" step for the measured data: who made it, and its report."""

    #: ``"invoke prepare"`` (handed over) or ``"this run"`` (:func:`prepare` here).
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
class ScaleRun:
    """The outcome of :func:`run_scale`: what was measured, checked and recorded."""

    scale: Scale
    workload: str
    label: str
    preparations: tuple[Preparation, ...]
    info: DatasetInfo
    measurement: Measurement[Outcome]
    checks: tuple[BudgetCheck, ...]
    problems: tuple[str, ...]
    record: RunRecord
    record_path: Path

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
        own = dict(self.measurement.result.metrics())
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
        lines += [f"  budget    {c.describe()}" for c in self.checks]
        lines += [f"  PROBLEM   {p}" for p in self.problems]
        lines.append(f"  record    {self.record_path} ({'passed' if self.passed else 'FAILED'})")
        return lines


async def run_scale(
    cfg: Config,
    scale: Scale,
    *,
    url: str,
    run_id: str,
    workload: str | None = None,
    registry: WorkloadRegistry | None = None,
    after_prepare_task: bool = False,
    progress: Progress | None = None,
) -> ScaleRun:
    """Make ``scale``'s data ready at ``url``, measure ``workload`` on it, check the budgets and
    append the run record. See the module docstring for the steps; ``after_prepare_task``
    says ``invoke prepare --scale <scale>`` ran just before (as in ``nox -s perf-<scale>``)."""
    say = progress or (lambda _msg: None)
    app = load_application(cfg)
    name = workload or app.default_workload
    spec = registry.get(name) if registry is not None else app.workload(name)

    say(f"{scale.name}: making the data ready")
    report = await prepare(url, cfg, scale, progress=say)
    preparations = _preparations(cfg, report, after_prepare_task=after_prepare_task)

    engine = create_engine(url, cfg.pool, driver=app.driver)
    try:
        async with exclusive(url, on_wait=say):
            async with connection(url) as conn:
                info = await read_dataset_info(conn, order=app.tables)
            if info is None or not info.same_data(report.info):
                raise DatasetChangedError(scale.name, info.describe() if info else "no dataset")
            ctx = WorkloadContext(
                session_factory=create_session_factory(engine, cfg.pool), today=info.anchor_date
            )
            async with engine.connect() as conn:
                server_version = str(await conn.scalar(text("SHOW server_version")))
            say(f"{scale.name}: measuring {spec.name}")
            try:
                with pinned_clock(info.anchor_date):  # the dataset's day, whatever today is
                    measurement: Measurement[Outcome] = await measure(
                        lambda: spec.run(ctx),
                        name=spec.name,
                        engine=engine,
                        repeat=cfg.measure.repeat,
                        warmup=cfg.measure.warmup,
                    )
            except (sa_exc.TimeoutError, asyncpg.QueryCanceledError, TimeoutError) as exc:
                raise DatabaseTimeoutError(scale.name, _one_line(exc)) from None
            except sa_exc.DBAPIError as exc:
                if getattr(exc.orig, "sqlstate", None) == QUERY_CANCELED:
                    raise DatabaseTimeoutError(scale.name, _one_line(exc)) from None
                raise
    finally:
        await engine.dispose()

    settings = app.workload_settings(spec.name)
    checks = _budget_checks(
        scale, preparations, measurement, own=settings.budgets.get(scale.name) if settings else None
    )
    problems = _problems(info, measurement, expect_work=settings.expect_work if settings else True)
    record = _record(
        cfg,
        scale,
        run_id=run_id,
        workload=spec.name,
        server_version=server_version,
        info=info,
        preparations=preparations,
        measurement=measurement,
        checks=checks,
        problems=problems,
    )
    path = results_path(cfg)
    append_record(path, record)
    return ScaleRun(
        scale=scale,
        workload=spec.name,
        label=spec.label,
        preparations=preparations,
        info=info,
        measurement=measurement,
        checks=checks,
        problems=problems,
        record=record,
        record_path=path,
    )


# --------------------------------------------------------------------------------------------
# steps


def _preparations(
    cfg: Config, report: PrepareReport, *, after_prepare_task: bool
) -> tuple[Preparation, ...]:
    """This run's preparation, preceded by the one ``invoke prepare`` handed over when it ran
    just before and made the very data measured (same dataset, same date)."""
    own = Preparation(source="this run", report=report)
    handed = read_handover(cfg, report.scale) if after_prepare_task else None
    if handed is None or not handed.info.same_data(report.info):
        return (own,)
    return (Preparation(source="invoke prepare", report=handed), own)


def main_preparation(preparations: tuple[Preparation, ...]) -> PrepareReport:
    """The preparation that did the most work (the first of equals)."""
    return max(preparations, key=lambda p: p.report.work).report


def _budget_checks(
    scale: Scale,
    preparations: tuple[Preparation, ...],
    measurement: Measurement[Outcome],
    *,
    own: WorkloadBudgets | None = None,
) -> tuple[BudgetCheck, ...]:
    """The scale's budgets, the workload's own (scales.yaml ``app.workloads.<name>.budgets``)
    where it sets them."""
    budgets = scale.budgets
    seconds = own.seconds if own and own.seconds is not None else budgets.batch
    statements = own.statements if own and own.statements is not None else budgets.statements
    checks = [
        BudgetCheck("batch", measurement.median, seconds),
        BudgetCheck("statements", measurement.statements, statements, unit=""),
    ]
    for prep in preparations:
        r = prep.report
        checks.append(BudgetCheck(f"prepare ({prep.source})", r.seconds, budgets.prepare))
        if r.restore_seconds is not None:
            checks.append(
                BudgetCheck(f"restore ({prep.source})", r.restore_seconds, budgets.restore)
            )
    return tuple(checks)


def _problems(
    info: DatasetInfo, measurement: Measurement[Outcome], *, expect_work: bool = True
) -> tuple[str, ...]:
    metrics = measurement.result.metrics()
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
    if "emails" in metrics and metrics["emails"] == 0:
        problems.append("the batch composed no e-mails: the data does not exercise it")
    staff = info.row_counts.get("staffs")
    if info.mode == "plan" and "emails" in metrics and metrics["emails"] != staff:
        problems.append(
            f"plan-shaped data must give one e-mail per staff member: "
            f"expected {staff}, got {metrics['emails']}"
        )
    return tuple(problems)


def _record(
    cfg: Config,
    scale: Scale,
    *,
    run_id: str,
    workload: str,
    server_version: str,
    info: DatasetInfo,
    preparations: tuple[Preparation, ...],
    measurement: Measurement[Outcome],
    checks: tuple[BudgetCheck, ...],
    problems: tuple[str, ...],
) -> RunRecord:
    prepare = main_preparation(preparations)
    restores = [
        p.report.restore_seconds for p in preparations if p.report.restore_seconds is not None
    ]
    outcome = dict(measurement.result.metrics())
    offices = scale.offices  # perfkit's entities come per office, whatever the tables are
    metrics: dict[str, int | float] = {
        "batch_seconds": measurement.median,
        "prepare_seconds": prepare.seconds,
    }
    if prepare.restore_seconds is not None or restores:
        metrics["restore_seconds"] = (
            prepare.restore_seconds if prepare.restore_seconds is not None else max(restores)
        )
    if prepare.seed_seconds:
        metrics["seed_rows_per_second"] = info.total_rows / prepare.seed_seconds
    metrics.update(
        statements=measurement.statements,
        peak_memory_mb=round(measurement.peak_memory_mb, 3),
        offices=offices,
        seconds_per_office=measurement.median / offices,
    )
    metrics.update({k: v for k, v in outcome.items() if k not in metrics})
    failures = [c.describe() for c in checks if not c.ok] + list(problems)
    return RunRecord(
        run_id=run_id,
        scale=scale.name,
        when=utc_now().isoformat(timespec="seconds"),
        commit=current_commit(cfg.root),
        machine=machine_info(),
        backend=select_environment(cfg).backend,
        server_version=server_version,
        dataset={
            "mode": info.mode,
            "seed": info.seed,
            "generator_version": info.generator_version,
            "anchor_date": info.anchor_date.isoformat(),
            "rows": dict(info.row_counts),
            "prepared": prepare.how,
            "key": info.key(),
        },
        metrics=metrics,
        samples={"batch_seconds": list(measurement.samples)},
        budgets={
            "batch": scale.budgets.batch,
            "prepare": scale.budgets.prepare,
            "restore": scale.budgets.restore,
            "statements": scale.budgets.statements,
        },
        passed=not failures,
        workload=workload,
        failures=failures,
    )


@contextmanager
def pinned_clock(day: dt.date) -> Iterator[None]:
    """The application's clock set to noon UTC of ``day`` (ticking from there), so that its
    "today" is the dataset's day in every time zone from UTC-11 to UTC+11: a run on a Sunday
    or a holiday measures the same work as on the day the data is dated for. Durations are
    unaffected: the monotonic clocks perfkit times with are left alone."""
    with time_machine.travel(dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC), tick=True):
        yield


def _fmt(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"
    return f"{value:g}"


def _one_line(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return mask_url(f"{type(exc).__name__}: {first}" if first else type(exc).__name__)
