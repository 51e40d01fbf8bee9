"""``invoke explain``: a workload's statement profile and plans, without a full performance run.

For the developer tuning a query: the scale's data is made ready (kept when it already is),
the workload runs once untimed to warm up, once under the statement profiler, and its most
expensive statements are explained (:func:`perfkit.profile.explain_statements`, in
transactions that are rolled back). Nothing is timed for budgets and no run record is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from perfkit.app import load_application
from perfkit.config import Config, Scale
from perfkit.db import create_session_factory, open_engine
from perfkit.locks import exclusive
from perfkit.pipeline import Progress, pinned_clock, prepare_data, workload_timed
from perfkit.profile import (
    EXPLAIN_LIMIT,
    NOT_TAKEN,
    Profile,
    explain_statements,
    profile_run,
    shape_text,
    shorten,
)
from perfkit.workload import WorkloadContext

#: Statements ``invoke explain`` lists.
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
        """What ``invoke explain`` prints: the time split, then each top statement with its
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


async def explain_command(
    cfg: Config,
    scale: Scale,
    *,
    url: str,
    workload: str | None = None,
    limit: int = EXPLAIN_LIMIT,
    progress: Progress | None = None,
) -> ExplainReport:
    """Make ``scale``'s data ready at ``url``, then profile ``workload`` (default: the
    application's) once and explain its ``limit`` most expensive statements."""
    say = progress or (lambda _msg: None)
    app = load_application(cfg)
    name = workload or app.default_workload
    spec = app.workload(name)
    data = await prepare_data(cfg, scale, url=url, progress=say)
    engine = await open_engine(url, cfg.pool, driver=app.driver)
    try:
        ctx = WorkloadContext(
            session_factory=create_session_factory(engine, cfg.pool), today=data.anchor_date
        )
        timed = workload_timed(app, spec, ctx, scale=scale.name)
        async with exclusive(data.url, on_wait=say):
            with pinned_clock(data.anchor_date):
                say(f"{scale.name}: profiling {name}")
                await timed.fn()  # warm-up: caches, pool, compiled statements
                profile = await profile_run(timed.fn, engine=engine)
                say(f"{scale.name}: explaining the top statements")
                plans = await explain_statements(engine, profile.statements, limit=limit)
    finally:
        await engine.dispose()
    return ExplainReport(scale=scale.name, workload=name, profile=profile, plans=plans)
