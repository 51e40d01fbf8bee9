"""Memory a team can gate on: peak heap, retained heap and its growth (leaks), peak RSS.

:func:`memory_profile` runs any workload (an async callable, as :func:`perfkit.measure.measure`
takes) ``warmup`` times, then once more untraced for the process's RSS, then ``runs`` times
under :mod:`tracemalloc`, and reports:

``peak_heap_mb``
    the most Python heap one run had allocated at once, above what was allocated before it
    (:func:`perfkit.measure.peak_heap_bytes`, the figure ``perf_measure`` already records);
``retained_heap_mb``
    heap still allocated after the last run and ``gc.collect()``, above the baseline taken
    after the warm-ups and ``gc.collect()``. Caches that the first runs fill (SQLAlchemy's
    compiled statements, a connection pool) are in the baseline, not here;
``heap_growth_per_run_kb``
    the least-squares slope of the retained heap measured after each of the ``runs`` runs:
    what each run leaves behind. A workload without a leak has a slope near 0 whatever its
    caches hold; a leak of L bytes per run has a slope of L;
``leak_ratio``
    ``max(0, growth per run) / peak heap of one run`` (the median of the runs' peaks): the
    share of a run's working memory that it leaves behind for good. keikakun_back's
    performance test computes "(RSS after GC - RSS before) / (peak RSS - RSS before)" over a
    single run and wants it under 0.2; this is the same quotient on the Python heap, taken
    as a slope over several runs so that the first run's caches (retained once, not per run)
    and the allocator's noise do not count as a leak. 0 when the peak is 0;
``peak_rss_mb``, ``peak_rss_delta_mb``
    the process's resident-memory high-water mark (``getrusage``'s ``ru_maxrss``) after the
    untraced run, and how much that run raised it. The delta is 0 when the run stayed under
    a high-water mark that something earlier (another test, the data load) had set: it says
    what the run added on top of the process's past, not what it used. RSS counts everything
    (C libraries, the driver's buffers, fragmentation); the heap figures count only Python.

All of these go in a run record (:meth:`MemoryProfile.metrics`, the retained heap after each
run in :meth:`MemoryProfile.samples`) and can carry :class:`MemoryBudgets`, checked by
:func:`check_memory`.
"""

from __future__ import annotations

import gc
import statistics
import tracemalloc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from perfkit.budget import BudgetCheck
from perfkit.loadconfig import MemoryBudgets, MemorySettings
from perfkit.measure import MB, peak_heap_bytes, process_peak_rss_mb

KB = 1024


@dataclass(frozen=True)
class MemoryProfile:
    """The figures of :func:`memory_profile` (module docstring)."""

    #: Peak heap of each traced run, bytes.
    peak_bytes: tuple[int, ...]
    #: Heap retained after each traced run and ``gc.collect()``, above the baseline, bytes.
    retained_bytes: tuple[int, ...]
    peak_rss_mb: float
    peak_rss_delta_mb: float

    @property
    def peak_heap_mb(self) -> float:
        return max(self.peak_bytes) / MB

    @property
    def retained_heap_mb(self) -> float:
        return self.retained_bytes[-1] / MB

    @property
    def growth_per_run_bytes(self) -> float:
        """Least-squares slope of the retained heap over the runs, bytes per run."""
        runs = range(1, len(self.retained_bytes) + 1)
        return statistics.linear_regression(runs, self.retained_bytes).slope

    @property
    def leak_ratio(self) -> float:
        peak = statistics.median(self.peak_bytes)
        return max(0.0, self.growth_per_run_bytes) / peak if peak > 0 else 0.0

    def metrics(self) -> dict[str, float]:
        """The figures for a run record."""
        return {
            "peak_heap_mb": round(self.peak_heap_mb, 3),
            "retained_heap_mb": round(self.retained_heap_mb, 3),
            "heap_growth_per_run_kb": round(self.growth_per_run_bytes / KB, 3),
            "leak_ratio": round(self.leak_ratio, 4),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "peak_rss_delta_mb": round(self.peak_rss_delta_mb, 1),
        }

    def samples(self) -> dict[str, list[float]]:
        """The retained heap after each run, MB (the points of the slope)."""
        return {"retained_heap_mb": [round(b / MB, 4) for b in self.retained_bytes]}

    def summary_lines(self) -> list[str]:
        return [
            f"  memory    heap peak {self.peak_heap_mb:.1f} MB, retained "
            f"{self.retained_heap_mb:.2f} MB, growth {self.growth_per_run_bytes / KB:+.1f} KB "
            f"per run (leak ratio {self.leak_ratio:.3f}, {len(self.retained_bytes)} runs)",
            f"  RSS       peak {self.peak_rss_mb:.0f} MB (+{self.peak_rss_delta_mb:.1f} MB "
            "during one run)",
        ]


async def memory_profile(
    fn: Callable[[], Awaitable[object]], settings: MemorySettings | None = None
) -> MemoryProfile:
    """Run ``fn`` as the module docstring says and return its memory figures. Nothing ``fn``
    returns is kept between runs."""
    s = settings or MemorySettings()
    for _ in range(s.warmup):
        await fn()
    gc.collect()
    rss_before = process_peak_rss_mb()
    await fn()
    rss_after = process_peak_rss_mb()

    started_here = not tracemalloc.is_tracing()
    if started_here:
        tracemalloc.start()
    try:
        gc.collect()
        baseline = tracemalloc.get_traced_memory()[0]
        peaks: list[int] = []
        retained: list[int] = []
        for _ in range(s.runs):
            peaks.append(await peak_heap_bytes(fn))
            gc.collect()
            retained.append(tracemalloc.get_traced_memory()[0] - baseline)
    finally:
        if started_here:
            tracemalloc.stop()
    return MemoryProfile(
        peak_bytes=tuple(peaks),
        retained_bytes=tuple(retained),
        peak_rss_mb=rss_after,
        peak_rss_delta_mb=max(0.0, rss_after - rss_before),
    )


def check_memory(profile: MemoryProfile, budgets: MemoryBudgets | None) -> tuple[BudgetCheck, ...]:
    """``profile`` against each budget set in ``budgets``."""
    if budgets is None:
        return ()
    figures = profile.metrics()
    units = {"heap_growth_per_run_kb": "KB", "leak_ratio": ""}
    return tuple(
        BudgetCheck(name, figures[name], limit, unit=units.get(name, "MB"))
        for name, limit in budgets.given().items()
    )
