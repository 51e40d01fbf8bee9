"""The statistical gate on synthetic samples: each of its checks decides on its own, the same
inputs give the same verdict, and nothing heavy is imported until a comparison runs."""

from __future__ import annotations

import math
import random
import subprocess
import sys

import pytest

from perfkit.gate import (
    ALPHA,
    MIN_SPREAD_RUNS,
    UNKNOWN_SPREAD_FLOOR,
    compare_pairs,
    compare_samples,
    compare_values,
    run_spread,
)


def run(median: float, *, n: int = 30, cv: float = 0.05, seed: int = 0) -> list[float]:
    """``n`` lognormal samples around ``median`` (seeded)."""
    rng = random.Random(seed)
    return [median * math.exp(rng.gauss(0.0, cv)) for _ in range(n)]


def history(levels: list[float], *, cv: float = 0.05) -> list[list[float]]:
    """One run per level, each seeded differently."""
    return [run(level, cv=cv, seed=i) for i, level in enumerate(levels)]


CALM = history([0.005] * 12)


def test_three_times_slower_is_a_regression_with_its_numbers() -> None:
    ev = compare_samples(CALM[-5:], run(0.015, seed=99), threshold=0.2, history=CALM)
    assert ev.decision == "regression"
    assert ev.ratio == pytest.approx(3.0, rel=0.05)
    assert ev.ci is not None and ev.ratio is not None
    assert 2.7 < ev.ci[0] < ev.ratio < ev.ci[1] < 3.3
    assert ev.p_value is not None and ev.p_value < 1e-6
    assert ev.effect == 1.0  # every candidate sample is slower than every baseline sample
    assert ev.n_baseline == 150 and ev.n_candidate == 30
    assert ev.floor < 0.2 and ev.floor_source == "run-to-run spread of 12 runs"
    assert "past the 20 % threshold with 99 % confidence" in ev.reason
    data = ev.to_dict()
    assert data["decision"] == "regression" and data["ci"] == list(ev.ci)
    assert data["confidence"] == 1 - ALPHA


def test_the_same_inputs_give_the_same_verdict() -> None:
    candidate = run(0.0062, seed=5)
    first = compare_samples(CALM[-5:], candidate, threshold=0.2, history=CALM)
    again = compare_samples(CALM[-5:], candidate, threshold=0.2, history=CALM)
    assert first == again  # the bootstrap is seeded


def test_unchanged_code_is_unchanged_and_faster_code_an_improvement() -> None:
    assert compare_samples(CALM[-5:], run(0.005, seed=7), threshold=0.2).decision == "unchanged"
    ev = compare_samples(CALM[-5:], run(0.002, seed=7), threshold=0.2, history=CALM)
    assert ev.decision == "improvement" and ev.effect == -1.0


def test_a_change_within_the_confidence_bound_of_the_threshold_is_within_noise() -> None:
    """x1.3 past a 20 % threshold, but with samples this noisy the 99 % interval reaches
    below x1.2: not confidently past the threshold."""
    noisy = history([0.005] * 12, cv=0.3)
    ev = compare_samples(noisy[-5:], run(0.007, cv=0.3, seed=3), threshold=0.2, history=noisy)
    assert ev.decision == "within noise"
    assert ev.ci is not None and ev.ci[0] <= 1.2
    assert "interval reaches" in ev.reason


def test_a_history_that_swings_sets_a_wide_floor() -> None:
    swinging = history([0.005, 0.008, 0.0045, 0.009, 0.004, 0.0085, 0.005, 0.0095, 0.0045, 0.008])
    ev = compare_samples(swinging[-5:], run(0.02, seed=9), threshold=0.2, history=swinging)
    assert ev.decision == "within noise"
    assert ev.floor > 2.0 and "noise floor" in ev.reason
    # the same x2.7 after a calm history is a regression: the floor is the history's
    assert compare_samples(
        CALM[-5:], run(0.0135, seed=9), threshold=0.2, history=CALM
    ).decision == ("regression")


def test_too_short_a_history_assumes_a_floor_of_x2() -> None:
    short = history([0.005] * (MIN_SPREAD_RUNS - 1))
    assert run_spread(short) is None
    slower = compare_samples(short, run(0.008, seed=4), threshold=0.2)
    assert slower.decision == "within noise" and slower.floor == UNKNOWN_SPREAD_FLOOR
    assert "fewer than 4 earlier runs" in slower.reason
    assert compare_samples(short, run(0.015, seed=4), threshold=0.2).decision == "regression"


def test_the_clock_resolution_sets_the_floor_of_tiny_timings() -> None:
    """Timings of a few ticks of a coarse clock: a x3 is below what the clock can tell."""
    coarse = 1e-3  # a 1 ms clock
    runs = history([0.002] * 12)
    ev = compare_samples(
        runs[-5:], run(0.006, seed=2), threshold=0.2, history=runs, resolution=coarse
    )
    assert ev.decision == "within noise" and ev.floor == pytest.approx(
        10 * coarse / 0.002, rel=0.05
    )
    assert ev.floor_source.startswith("the clock's resolution")


def test_too_few_samples_are_never_a_regression() -> None:
    ev = compare_samples([[0.005], [0.005]], [0.05], threshold=0.2)
    assert ev.decision == "within noise" and "too few samples" in ev.reason
    assert ev.p_value is None and ev.ci is None


def test_higher_is_better_metrics_regress_downwards() -> None:
    rates = history([500_000.0] * 12)
    ev = compare_samples(
        rates[-5:], run(200_000.0, seed=1), threshold=0.2, history=rates, direction="higher",
        resolution=0.0,
    )  # fmt: skip
    assert ev.decision == "regression" and ev.ratio == pytest.approx(0.4, rel=0.05)
    faster = compare_samples(
        rates[-5:], run(900_000.0, seed=1), threshold=0.2, history=rates, direction="higher",
        resolution=0.0,
    )  # fmt: skip
    assert faster.decision == "improvement"


def test_pairs_cancel_the_drift_that_hides_a_change_between_runs() -> None:
    """Each pair ran at its own machine speed (±40 %); the candidate is 1.5x its base in every
    pair. Unpaired, the drift drowns it; paired, it is a regression."""
    rng = random.Random(11)
    drift = [math.exp(rng.gauss(0.0, 0.4)) for _ in range(30)]
    base = [0.005 * d * math.exp(rng.gauss(0.0, 0.05)) for d in drift]
    slower = [1.5 * 0.005 * d * math.exp(rng.gauss(0.0, 0.05)) for d in drift]
    ev = compare_pairs(base, slower, threshold=0.2)
    assert ev.decision == "regression" and ev.ratio == pytest.approx(1.5, rel=0.05)
    assert ev.effect == 1.0 and ev.paired
    assert ev.floor_source == "the clock's resolution; the pairs share the machine's state"
    same = [0.005 * d * math.exp(rng.gauss(0.0, 0.05)) for d in drift]
    assert compare_pairs(base, same, threshold=0.2).decision == "unchanged"
    assert compare_pairs(base, list(base), threshold=0.2).decision == "unchanged"
    with pytest.raises(ValueError):
        compare_pairs(base, slower[:-1], threshold=0.2)


def test_one_value_per_run_is_judged_against_the_runs_spread() -> None:
    rng = random.Random(2)
    values = [1.0 * math.exp(rng.gauss(0.0, 0.05)) for _ in range(12)]
    assert compare_values(values[-5:], 3.0, threshold=0.2, history=values).decision == (
        "regression"
    )
    assert compare_values(values[-5:], 1.1, threshold=0.2, history=values).decision == ("unchanged")
    few = compare_values(values[:2], 1.5, threshold=0.2)
    assert few.decision == "within noise" and few.floor == UNKNOWN_SPREAD_FLOOR


def test_importing_the_gate_or_compare_imports_neither_numpy_nor_scipy() -> None:
    code = (
        "import perfkit.compare, perfkit.gate, sys; "
        "print('numpy' in sys.modules, 'scipy' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split() == ["False", "False"]
