"""``perfkit explain``: a workload's statement profile and plans, without a full performance run.

For the developer tuning a query: the scale's data is made ready (kept when it already is),
the workload runs once untimed to warm up, once under the statement profiler, and its most
expensive statements are explained (:func:`perfkit.profile.explain_statements`, in
transactions that are rolled back). Nothing is timed for budgets and no run record is written.

It never leaves a write behind on the shared data. A workload declared as writing
(``app.workloads.<name>.writes``) runs on a fresh clone of the scale's template for each step
(warm-up, profiled run, EXPLAINs; :mod:`perfkit.fresh`), dropped after. Any other runs on the
shared data under :func:`perfkit.guard.shared_data_guard`: a write it commits is found
after, the data restored, and the command fails with
:class:`~perfkit.guard.WorkloadWroteError`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from perfkit.config import Scale
from perfkit.db import create_session_factory, open_engine
from perfkit.fresh import FreshCopies
from perfkit.guard import close_idle, shared_data_guard
from perfkit.locks import exclusive
from perfkit.pipeline import (
    PreparedData,
    data_for,
    pinned_clock,
    workload_timed,
)
from perfkit.profile import (
    EXPLAIN_LIMIT,
    NOT_TAKEN,
    Profile,
    explain_statements,
    profile_run,
    shape_text,
    shorten,
)
from perfkit.workload import Workload, WorkloadContext

if TYPE_CHECKING:
    from perfkit.run import Run

#: Statements ``perfkit explain`` lists.
SHOWN = 10


@dataclass(frozen=True)
class ExplainReport:
    """One workload's profiled run and the plans of its top statements."""

    scale: str
    workload: str
    profile: Profile
    #: Plans by statement fingerprint (see :func:`perfkit.profile.explain`).
    plans: Mapping[str, Mapping[str, Any]]

    def lines(self, *, shown: int = SHOWN) -> list[str]:
        """What ``perfkit explain`` prints: the time split, then each top statement with its
        plan's shape and slowest node."""
        p = self.profile
        out = [
            f"[{self.scale}] {self.workload}: {p.wall_seconds:.3f} s, database "
            f"{p.db_seconds:.3f} s ({p.db_share:.0%}), application {p.app_seconds:.3f} s",
        ]
        for i, s in enumerate(p.statements[:shown], start=1):
            mean = s.seconds * 1000 / s.calls if s.calls else 0.0
            out.append(
                f"{i:>2}. {s.calls}x  total {s.seconds * 1000:.2f} ms  mean {mean:.3f} ms  "
                f"rows {s.rows}  [{s.fingerprint}]"
            )
            out.append(f"    {shorten(s.statement, 200)}")
            plan = self.plans.get(s.fingerprint)
            if plan is None:
                continue
            if "error" in plan:
                error = str(plan["error"])
                taken = error.startswith(NOT_TAKEN)
                out.append(f"    {error}" if taken else f"    plan: not available ({error})")
                continue
            out.append(
                f"    plan {plan['shape_hash']}, {plan['execution_ms']:.3f} ms; slowest node: "
                f"{plan['slowest_node']} ({plan['slowest_node_ms']:.3f} ms)"
            )
            out.extend("      " + line for line in shape_text(plan["shape"]))
        return out


async def explain_workload(
    run: Run,
    scale: Scale,
    *,
    workload: str | None = None,
    limit: int = EXPLAIN_LIMIT,
) -> ExplainReport:
    """Make ``scale``'s data ready in the run's database, then profile ``workload`` (default:
    the application's) once and explain its ``limit`` most expensive statements."""
    app = run.app
    name = workload or app.default_workload
    spec = app.workload(name)
    async with data_for(run, scale, spec) as (data, fresh):
        return await _explain(run, data, spec, limit=limit, fresh=fresh)


async def _explain(
    run: Run,
    data: PreparedData,
    spec: Workload,
    *,
    limit: int,
    fresh: FreshCopies | None = None,
) -> ExplainReport:
    """Warm up, profile and explain ``spec`` on ``data``: on the shared data under its guard,
    or each step on a fresh copy."""
    say, app, cfg = run.say, run.app, run.cfg
    scale = data.scale.name
    engine = await open_engine(data.url, cfg.pool, driver=app.driver)

    async def renew() -> None:
        """Before each step on a copy: a fresh copy (the first is fresh already)."""
        if fresh is not None:
            await fresh.renew(functools.partial(close_idle, engine))

    try:
        ctx = WorkloadContext(
            session_factory=create_session_factory(engine, cfg.pool), today=data.anchor_date
        )
        timed = workload_timed(app, spec, ctx, scale=scale)
        guard = (
            shared_data_guard(
                run.on(data.url),
                data.scale,
                info=data.info,
                engine=engine,
                workload=spec.name,
            )
            if fresh is None
            else exclusive(data.url, on_wait=run.note)
        )
        async with guard:
            with pinned_clock(data.anchor_date):
                say(f"{scale}: profiling {spec.name}")
                await renew()
                await timed.fn()  # warm-up: caches, pool, compiled statements
                await renew()
                profile = await profile_run(timed.fn, engine=engine)
                say(f"{scale}: explaining the top statements")
                await renew()
                plans = await explain_statements(engine, profile.statements, limit=limit)
    finally:
        await engine.dispose()
    return ExplainReport(scale=scale, workload=spec.name, profile=profile, plans=plans)
