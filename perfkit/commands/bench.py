"""``perfkit bench-seed`` and ``perfkit bench-restore``: perfkit's own benchmarks, printed as
tables (their code: :mod:`perfkit.bench`). What each runs and how to read it:
docs/benchmarks.md."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from perfkit.bench.restore import Row
    from perfkit.bench.seed import BenchReport
    from perfkit.config import Scale
    from perfkit.run import Run


@dataclass(frozen=True)
class SeedBenchmark:
    """``perfkit bench-seed``'s table, its notes and the targets."""

    report: BenchReport

    def lines(self) -> list[str]:
        from perfkit.bench.seed import TABLE_NOTES, bench_table, target_lines

        return [*bench_table(self.report), *TABLE_NOTES, *target_lines(self.report)]

    def to_json(self) -> dict[str, Any]:
        """``server_version``, ``repeats`` and ``cases`` (each: ``case``, ``rows``,
        ``seconds`` (every run), ``median``, ``rss_peak_mb``)."""
        r = self.report
        return {
            "server_version": r.server_version,
            "repeats": r.repeats,
            "cases": [
                {
                    "case": c.case.label,
                    "rows": c.rows,
                    "seconds": list(c.seconds),
                    "median": c.median if c.seconds else None,
                    "rss_peak_mb": max(c.rss_peak_mb) if c.rss_peak_mb else None,
                }
                for c in r.results
            ],
        }


async def bench_seed(run: Run, *, repeats: int = 3, quick: bool = False) -> SeedBenchmark:
    """Benchmark seeding against the plan's ORM method on a private server of its own."""
    from perfkit.bench.seed import run_benchmark

    cfg = run.cfg

    def row_counts(scale: Scale, mode: str) -> dict[str, int]:
        # the sample application's recipe: what `perfkit seed` makes at this scale and mode
        from perfkit.loading import import_object

        recipe = import_object(cfg.app.recipe or "", key="app.recipe", source=str(cfg.source))
        counts: dict[str, int] = recipe.row_counts(scale, cfg.data, mode)
        return counts

    report = await run_benchmark(
        cfg, repeats=repeats, quick=quick, say=run.say, row_counts=row_counts
    )
    return SeedBenchmark(report)


@dataclass(frozen=True)
class RestoreBenchmark:
    """``perfkit bench-restore``'s table."""

    rows: tuple[Row, ...]
    repeat: int

    def lines(self) -> list[str]:
        from perfkit.bench.restore import render

        return render(list(self.rows), repeat=self.repeat)

    def to_json(self) -> dict[str, Any]:
        """``repeat`` and ``rows`` (each: ``scale``, ``step``, ``method``, ``seconds``
        (every run), ``median``, ``size``, ``note``)."""
        return {
            "repeat": self.repeat,
            "rows": [
                {
                    "scale": r.scale,
                    "step": r.group,
                    "method": r.method,
                    "seconds": list(r.samples),
                    "median": r.median,
                    "size": r.size,
                    "note": r.note,
                }
                for r in self.rows
            ],
        }


async def bench_restore(
    run: Run, *, scales: str = "medium,large", repeat: int = 3
) -> RestoreBenchmark:
    """Benchmark restores side by side on the configured server: psql replay, pg_restore -j 2,
    perfkit from file and from the template, raw clones, the whole command."""
    from perfkit.bench.restore import run_benchmark

    names = [s.strip() for s in scales.split(",") if s.strip()]
    rows = await run_benchmark(run, [run.cfg.scale(n) for n in names], repeat=repeat)
    return RestoreBenchmark(tuple(rows), repeat=repeat)
