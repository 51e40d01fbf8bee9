"""An HTTP workload's run: load -> budgets -> record, as :func:`perfkit.pipeline.
measure_and_record` is for a callable.

:func:`load_and_record` runs an HTTP workload (``app.workloads.<name>`` with ``kind: http``,
:class:`perfkit.httpconfig.HttpWorkload`) on prepared data: the data held as a measurement
holds it (:func:`perfkit.pipeline.held_data`: the lock on the shared data, the data checked to
be the one prepared and left unchanged, the clock pinned to its day), the app behind a client
with its overrides (:func:`perfkit.http.target.http_target`, read-only on shared data,
writable on a clone), the script under its load once (warm-up included), then, when the
workload asks for it, the memory figures over passes of the script (one pass sends one
iteration per row, in order).

The checks: the load budgets (:func:`perfkit.loadgen.check_load`: any percentile, errors,
error rate, statements per request; any error fails without an error budget), the memory
budgets, the scale's ``prepare`` and ``restore`` budgets; a run with no iteration fails. The
record (one line of ``results.jsonl``, as every run's): ``metrics`` holds
``latency_p50_seconds``, ``latency_p90_seconds``, ``latency_p95_seconds``,
``latency_p99_seconds``, ``latency_max_seconds``, ``throughput`` (iterations per second),
``requests``, ``errors``, ``error_rate``, ``statements_per_request`` (in process),
``users`` or ``rate``, the preparation's figures and the memory figures; ``samples`` holds
``latency_ladder_seconds``, the latency at each of :data:`LADDER`'s percentiles (an HDR
percentile plot's points), and ``retained_heap_mb`` with memory; ``budgets`` the limits
applied; ``dataset.variant`` the variant, on a variant's clone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from perfkit.budget import BudgetCheck, argument_source, file_source, with_sources
from perfkit.config import Config, Scale
from perfkit.datagen import DatasetInfo
from perfkit.db import open_engine
from perfkit.http.target import (
    bound_script,
    http_target,
    run_script_load,
    script_operation,
)
from perfkit.httpconfig import HttpWorkload, http_app
from perfkit.loadconfig import LoadBudgets, LoadSettings, MemoryBudgets
from perfkit.loadgen import LoadResult, check_load, run_load
from perfkit.memory import MemoryProfile, check_memory, memory_profile
from perfkit.pipeline import (
    Preparation,
    PreparedData,
    dataset_fields,
    held_data,
    pinned_clock,
    preparation_checks,
    preparation_metrics,
)
from perfkit.results import (
    LADDER,
    RunRecord,
    append_record,
    current_commit,
    machine_info,
    results_path,
    utc_now,
)
from perfkit.text import join_key

if TYPE_CHECKING:
    from perfkit.run import Run

Progress = Callable[[str], None]


@dataclass(frozen=True)
class LoadRun:
    """The outcome of :func:`load_and_record`: what ran, what was checked, the record."""

    scale: Scale
    workload: str
    label: str
    preparations: tuple[Preparation, ...]
    info: DatasetInfo
    result: LoadResult
    checks: tuple[BudgetCheck, ...]
    problems: tuple[str, ...]
    record: RunRecord
    record_path: Path
    memory: MemoryProfile | None = None
    variant: str | None = None

    @property
    def failures(self) -> list[str]:
        """Every budget exceeded and every problem, one line each."""
        return [c.describe() for c in self.checks if not c.ok] + list(self.problems)

    @property
    def passed(self) -> bool:
        return not self.failures

    def percentiles(self) -> dict[str, float]:
        """``p50``, ``p90``, ``p95``, ``p99`` and ``max``, seconds."""
        return self.result.percentiles()

    def summary_lines(self) -> list[str]:
        """What a run prints: the data, the load and its figures, memory, budgets."""
        data = self.info.describe() + (f", variant {self.variant}" if self.variant else "")
        lines = [
            f"[{self.scale.name}] {self.label}",
            f"  data      {data}",
            "  prepare   " + "; ".join(p.describe() for p in self.preparations),
            *self.result.summary_lines(),
        ]
        if self.memory is not None:
            lines += self.memory.summary_lines()
        lines += [f"  budget    {c.describe()}" for c in self.checks]
        lines += [f"  PROBLEM   {p}" for p in self.problems]
        lines.append(f"  record    {self.record_path} ({'passed' if self.passed else 'FAILED'})")
        return lines


async def load_and_record(
    run: Run,
    data: PreparedData,
    name: str,
    workload: HttpWorkload,
    *,
    run_id: str,
    load: LoadSettings | None = None,
    budgets: LoadBudgets | None = None,
    memory_budgets: MemoryBudgets | None = None,
    lock: bool = True,
    test_file: str | None = None,
) -> LoadRun:
    """Run ``workload`` (called ``name``) on ``data`` under ``load`` (default: its own), check
    ``budgets`` (default: its own at the data's scale) and append the record; see the module
    docstring. ``test_file``: the test that passed ``budgets`` (named as their source).
    Progress goes to the run."""
    cfg, say = run.cfg, run.say
    scale = data.scale
    settings = load or workload.load
    own = workload.budgets.get(scale.name)
    applied = own.merged(budgets) if own is not None else budgets
    key_path = join_key("app.workloads", name)
    source = cfg.source.name
    engine = await open_engine(data.url, cfg.pool, driver=cfg.app.driver)
    try:
        async with (
            held_data(run, data, engine=engine, lock=lock, workload=name) as (
                info,
                server_version,
            ),
            http_target(
                cfg,
                http_app(cfg),
                url=data.url,
                writable=data.cloned,
                mode=workload.mode,
                engine=engine,
            ) as target,
        ):
            say(f"{scale.name}: loading {name} ({settings.describe()})")
            with pinned_clock(info.anchor_date):
                result = await run_script_load(
                    target, workload, source=source, key_path=key_path, load=settings
                )
                memory = None
                if workload.memory is not None:
                    script = await bound_script(target, workload, source=source, key_path=key_path)
                    op = script_operation(target.client, script)
                    one_pass = LoadSettings(users=1, iterations=len(script.rows), warmup=0)
                    memory = await memory_profile(lambda: run_load(op, one_pass), workload.memory)
    finally:
        await engine.dispose()

    checks, problems = check_load(result, applied)
    checks = with_sources(
        checks,
        load_budget_sources(
            own, budgets, config_file=source, key_path=key_path, scale=scale.name,
            test_file=test_file,
        ),
    )  # fmt: skip
    checks += preparation_checks(scale, data.preparations, config_file=source)
    mem_budgets = memory_budgets or workload.memory_budgets.get(scale.name)
    if memory is not None and mem_budgets is not None:
        mem_key = f"{key_path}.memory_budgets.{scale.name}"
        mem_sources = {
            k: file_source(source, f"{mem_key}.{k}")
            if memory_budgets is None
            else argument_source("memory_budgets=...", test_file or "the caller")
            for k in mem_budgets.given()
        }
        checks += with_sources(check_memory(memory, mem_budgets), mem_sources)
    if result.iterations == 0:
        problems += ("no iteration ran: the load's duration or iterations let none start",)
    record = _record(
        cfg,
        data,
        backend=run.env.backend,
        run_id=run_id,
        name=name,
        info=info,
        server_version=server_version,
        result=result,
        memory=memory,
        checks=checks,
        problems=problems,
    )
    path = results_path(cfg)
    append_record(path, record)
    return LoadRun(
        scale=scale,
        workload=name,
        label=workload.label or name,
        preparations=data.preparations,
        info=info,
        result=result,
        checks=checks,
        problems=problems,
        record=record,
        record_path=path,
        memory=memory,
        variant=data.variant,
    )


def load_budget_sources(
    own: LoadBudgets | None,
    given: LoadBudgets | None,
    *,
    config_file: str,
    key_path: str,
    scale: str,
    test_file: str | None,
) -> dict[str, str]:
    """Where each load budget came from, by check name: a test's ``perf_load(budgets=...)``
    over the workload's own in the configuration file; ``errors`` with neither is perfkit's
    rule (any error fails)."""
    sources = {"errors": "perfkit's rule: any error fails without an error budget"}
    sources.update(
        {
            key: file_source(config_file, f"{key_path}.budgets.{scale}.{key}")
            for key in _set_budgets(own)
        }
    )
    test = argument_source("perf_load(budgets=...)", test_file or "the caller")
    sources.update({key: test for key in _set_budgets(given)})
    return sources


def _set_budgets(budgets: LoadBudgets | None) -> set[str]:
    """The check names of the budgets ``budgets`` sets (``p95``, ``errors``...)."""
    if budgets is None:
        return set()
    return set(budgets.given())


def _record(
    cfg: Config,
    data: PreparedData,
    *,
    backend: str,
    run_id: str,
    name: str,
    info: DatasetInfo,
    server_version: str,
    result: LoadResult,
    memory: MemoryProfile | None,
    checks: tuple[BudgetCheck, ...],
    problems: tuple[str, ...],
) -> RunRecord:
    settings = result.settings
    metrics: dict[str, int | float] = dict(result.metrics())
    if settings.users is not None:
        metrics["users"] = settings.users
    else:
        metrics["rate"] = settings.rate or 0.0
    metrics.update(preparation_metrics(info, data.preparations))
    samples = {"latency_ladder_seconds": [round(result.percentile(q), 6) for q in LADDER]}
    if memory is not None:
        metrics.update(memory.metrics())
        samples.update(memory.samples())
    failures = [c.describe() for c in checks if not c.ok] + list(problems)
    return RunRecord(
        run_id=run_id,
        scale=data.scale.name,
        when=utc_now().isoformat(timespec="seconds"),
        commit=current_commit(cfg.root),
        machine=machine_info(),
        backend=backend,
        server_version=server_version,
        dataset=dataset_fields(info, data.preparations, variant=data.variant),
        metrics=metrics,
        samples=samples,
        budgets={c.name: c.limit for c in checks},
        passed=not failures,
        workload=name,
        failures=failures,
        budget_sources={c.name: c.source for c in checks if c.source},
    )
