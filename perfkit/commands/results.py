"""``perfkit report``, ``compare`` and ``ab``: the results history, the regression gate, and
base against candidate in one job. Thin wrappers: the work is :mod:`perfkit.report`,
:mod:`perfkit.compare` and :mod:`perfkit.ab`, which may change under them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from perfkit.ab import AbResult
    from perfkit.changepoints import Step
    from perfkit.compare import Comparison, RegressionError
    from perfkit.report import ReportOutcome
    from perfkit.run import Run


def _warn_skipped(run: Run, skipped: tuple[str, ...] | list[str]) -> None:
    """The damaged lines of results.jsonl that were skipped, one warning each."""
    for line in skipped:
        run.warn(line)


@dataclass(frozen=True)
class ReportDone:
    """``perfkit report``: the Markdown (printed when no file was asked for) and the files."""

    outcome: ReportOutcome

    def lines(self) -> list[str]:
        out = [self.outcome.markdown] if self.outcome.markdown is not None else []
        return out + [f"report: {path}" for path in self.outcome.written]

    def to_json(self) -> dict[str, Any]:
        """``markdown`` (null when written to files) and ``written`` (the files)."""
        return {
            "markdown": self.outcome.markdown,
            "written": [str(p) for p in self.outcome.written],
        }


async def report(
    run: Run,
    *,
    format: str = "md",
    output: Path | None = None,
    scale: str | None = None,
    last: int = 20,
    baseline: str | None = None,
    charts: str = "inline",
) -> ReportDone:
    """Render the results history, verdict first: Markdown, one HTML page (``charts``: uPlot
    inline or from a CDN), or the pull-request comment."""
    from perfkit.report import report_command, split_scales

    outcome = report_command(
        run.cfg, fmt=format, output=output, scales=split_scales(scale), last=last,
        baseline=baseline, charts=charts,
    )  # fmt: skip
    _warn_skipped(run, outcome.data.history.skipped)
    return ReportDone(outcome)


@dataclass(frozen=True)
class CompareDone:
    """``perfkit compare``: each scale's comparison with its baseline."""

    comparisons: tuple[Comparison, ...]
    source: str

    def lines(self) -> list[str]:
        from perfkit.views import comparison_lines

        if not self.comparisons:
            return [
                f"no runs recorded yet in {self.source}: nothing to compare "
                "(run `nox -s perf-small` first)"
            ]
        out: list[str] = []
        for c in self.comparisons:
            out += comparison_lines(c) if c.metrics else [c.summary()]
            out += [
                f"  {m.sentence()}"
                for m in c.metrics
                if m.verdict not in ("unchanged", "no baseline")
            ]
            out += [f"  {line}" for line in c.changes]
        return out

    def to_json(self) -> dict[str, Any]:
        """``ok``, ``source`` and ``comparisons``: per scale ``scale``, ``run_id``, ``ok``,
        ``summary``, ``baseline`` (described), ``note``, ``failures``, ``changes`` and
        ``metrics`` (each metric's decision with its evidence)."""
        return {
            "ok": all(c.ok for c in self.comparisons),
            "source": self.source,
            "comparisons": [
                {
                    "scale": c.scale,
                    "run_id": c.candidate.run_id,
                    "ok": c.ok,
                    "summary": c.summary(),
                    "baseline": c.baseline.describe() if c.has_baseline else None,
                    "note": c.note,
                    "failures": c.failures,
                    "changes": c.changes,
                    "metrics": [m.to_dict() for m in c.metrics],
                }
                for c in self.comparisons
            ],
        }

    def failure(self) -> RegressionError | None:
        from perfkit.compare import RegressionError

        return (
            RegressionError(self.comparisons) if any(not c.ok for c in self.comparisons) else None
        )


@dataclass(frozen=True)
class StepsDone:
    """``perfkit compare --history``: the steps (change points) in every metric's history."""

    steps: tuple[Step, ...]
    source: str
    runs: int

    def headline(self) -> str:
        """How many steps, where (said on stderr: stdout holds one sentence per step)."""
        n = len(self.steps)
        return f"{n} step{'s' if n != 1 else ''} in {self.source} ({self.runs} run records)"

    def lines(self) -> list[str]:
        return [step.sentence() for step in self.steps]

    def to_json(self) -> dict[str, Any]:
        """``source``, ``runs`` and ``steps`` (each: workload, scale, metric, the commits and
        runs either side, before, after, ratio, p-value, ``dataset_changed``, ``sentence``)."""
        return {
            "source": self.source,
            "runs": self.runs,
            "steps": [step.to_dict() for step in self.steps],
        }


async def compare(
    run: Run,
    *,
    scale: str | None = None,
    baseline: str | None = None,
    threshold: float | None = None,
    run_id: str | None = None,
    history: bool = False,
) -> CompareDone | StepsDone:
    """Compare the newest run (or ``run_id``) of each scale with its baseline (the command
    exits 6 when a gated metric regressed); with ``history``, list the steps in every
    metric's history instead."""
    from perfkit.compare import compare_command, deprecated_settings, steps_command
    from perfkit.report import split_scales

    cfg = run.cfg
    for line in deprecated_settings(cfg.regression):
        run.warn(line)
    if history:
        records, steps = steps_command(cfg, scales=split_scales(scale))
        _warn_skipped(run, records.skipped)
        done = StepsDone(tuple(steps), source=str(records.source), runs=len(records))
        run.note(done.headline())
        return done
    found, comparisons = compare_command(
        cfg, scales=split_scales(scale), baseline=baseline, threshold=threshold, run_id=run_id
    )
    _warn_skipped(run, found.skipped)
    return CompareDone(tuple(comparisons), source=str(found.source))


async def ab(
    run: Run,
    *,
    base: str,
    scale: str | None = None,
    workload: str | None = None,
    rounds: int | None = None,
    threshold: float | None = None,
) -> AbResult:
    """Measure the working tree against ``base`` (a git ref), interleaved in one job; the
    command exits 6 on a regression."""
    from perfkit.ab import ab_job
    from perfkit.compare import deprecated_settings

    for line in deprecated_settings(run.cfg.regression):
        run.warn(line)
    return await ab_job(
        run, base=base, scale=run.cfg.scale(scale) if scale else None, workload=workload,
        rounds=rounds, threshold=threshold,
    )  # fmt: skip
