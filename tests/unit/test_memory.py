"""Memory figures on workloads of this module's own: a leak shows as growth per run and a
leak ratio, a workload that keeps nothing shows neither, and budgets check them."""

from __future__ import annotations

import pytest

from perfkit.errors import ConfigError
from perfkit.loadconfig import MemoryBudgets, MemorySettings
from perfkit.memory import MemoryProfile, check_memory, memory_profile
from perfkit.typedconfig import build

KEPT: list[bytes] = []


async def works() -> int:
    """Allocates ~2 MB at its peak and keeps none of it."""
    blocks = [bytes(1024) for _ in range(2000)]
    return len(blocks)


async def leaks() -> int:
    """The same, keeping 256 KB of it each run."""
    KEPT.append(bytes(256 * 1024))
    return await works()


async def test_a_leak_shows_as_growth_per_run_and_a_workload_without_one_does_not() -> None:
    settings = MemorySettings(runs=5, warmup=1)
    clean = await memory_profile(works, settings)
    leaky = await memory_profile(leaks, settings)
    KEPT.clear()
    assert 1.5 <= clean.peak_heap_mb <= 4  # ~2,000 blocks of 1 KB and their list
    assert 230 <= leaky.metrics()["heap_growth_per_run_kb"] <= 290
    assert abs(clean.metrics()["heap_growth_per_run_kb"]) < 32
    # leak ratio: 256 KB kept of a ~2.3 MB peak, against ~0 for the clean one
    assert 0.05 <= leaky.leak_ratio <= 0.2 and clean.leak_ratio < 0.01
    assert len(leaky.retained_bytes) == 5 and leaky.retained_heap_mb >= 1.0
    assert clean.peak_rss_mb > 0 and clean.peak_rss_delta_mb >= 0


def test_the_figures_and_their_budgets() -> None:
    mb = 1024 * 1024
    profile = MemoryProfile(
        peak_bytes=(10 * mb, 12 * mb, 11 * mb),
        retained_bytes=(1 * mb, 2 * mb, 3 * mb),
        peak_rss_mb=200.0,
        peak_rss_delta_mb=4.0,
    )
    assert profile.growth_per_run_bytes == pytest.approx(mb)
    assert profile.leak_ratio == pytest.approx(1 / 11)  # 1 MB a run of an 11 MB median peak
    assert profile.metrics()["retained_heap_mb"] == 3.0
    assert profile.samples() == {"retained_heap_mb": [1.0, 2.0, 3.0]}
    budgets = MemoryBudgets(peak_heap_mb=50, leak_ratio=0.05, retained_heap_mb=10)
    checks = {c.name: c.ok for c in check_memory(profile, budgets)}
    assert checks == {"peak_heap_mb": True, "retained_heap_mb": True, "leak_ratio": False}
    assert check_memory(profile, None) == ()


def test_a_slope_needs_three_runs() -> None:
    with pytest.raises(ConfigError) as caught:
        build(MemorySettings, {"runs": 2}, source="s", key_path="memory")
    assert caught.value.key_path == "memory.runs"
