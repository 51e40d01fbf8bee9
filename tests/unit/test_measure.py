"""Measuring a phase: warm-up and timed runs, samples and median, peak memory."""

from __future__ import annotations

import pytest

from perfkit.measure import measure, process_peak_rss_mb, stopwatch


async def test_warmup_runs_are_not_timed_and_the_last_result_is_kept() -> None:
    calls: list[int] = []

    async def work() -> int:
        calls.append(len(calls))
        return len(calls)

    m = await measure(work, name="work", repeat=3, warmup=2)
    # 2 warm-up + 3 timed + 1 under tracemalloc
    assert len(calls) == 6
    assert len(m.samples) == 3 and m.warmup == 2
    assert m.result == 5
    assert m.best <= m.median <= m.worst
    assert m.statement_samples == () and m.statements == 0 and m.statements_stable


async def test_peak_memory_sees_what_a_run_allocates() -> None:
    async def allocate() -> int:
        block = bytearray(8 * 1024 * 1024)
        return len(block)

    m = await measure(allocate, name="alloc", repeat=1)
    assert m.peak_memory_mb >= 8
    assert process_peak_rss_mb() > 0


async def test_repeat_must_be_positive() -> None:
    async def nothing() -> None:
        return None

    with pytest.raises(ValueError, match="repeat"):
        await measure(nothing, name="x", repeat=0)


def test_stopwatch() -> None:
    with stopwatch() as sw:
        sum(range(1000))
    assert sw.seconds > 0
