"""``perfkit explain``: a workload's statement profile and the plans of its top statements,
without a full performance run (:func:`perfkit.plans.explain_workload`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from perfkit.plans import ExplainReport
    from perfkit.run import Run


@dataclass(frozen=True)
class ExplainDone:
    """The profiled run and the plans of its top statements."""

    report: ExplainReport

    def lines(self) -> list[str]:
        return self.report.lines()

    def to_json(self) -> dict[str, Any]:
        """``scale``, ``workload``, ``wall_seconds``, ``db_seconds``, ``app_seconds``,
        ``db_share``, ``statements`` (each: ``fingerprint``, ``statement``, ``calls``,
        ``total_ms``, ``mean_ms``, ``rows``) and ``plans`` (by statement fingerprint: the
        plan's ``shape_hash``, ``execution_ms``, ``slowest_node``, ``slowest_node_ms``,
        ``shape``; or ``error`` when it could not be taken)."""
        r = self.report
        p = r.profile
        return {
            "scale": r.scale,
            "workload": r.workload,
            "wall_seconds": p.wall_seconds,
            "db_seconds": p.db_seconds,
            "app_seconds": p.app_seconds,
            "db_share": p.db_share,
            "statements": [s.to_dict() for s in p.statements],
            "plans": {k: dict(v) for k, v in r.plans.items()},
        }


async def explain(
    run: Run, *, scale: str, workload: str | None = None, top: int = 5
) -> ExplainDone:
    """Make the scale's data ready, then profile ``workload`` (default: the application's)
    once and explain its ``top`` most expensive statements (in rolled-back transactions)."""
    from perfkit.plans import explain_workload

    report = await explain_workload(run, run.cfg.scale(scale), workload=workload, limit=top)
    return ExplainDone(report)
