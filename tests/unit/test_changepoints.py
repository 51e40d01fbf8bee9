"""E-Divisive change points on synthetic series, and the steps of a history of run records
(tests/integration/test_gate_proof.py finds one in a history made by real runs)."""

from __future__ import annotations

import math
import random

import pytest

from perfkit.changepoints import MIN_STEP, e_divisive, history_steps, series_steps
from perfkit.history import History
from perfkit.results import RunRecord
from perfkit.testing import run_record


def level(n: int, value: float, *, seed: int, noise: float = 0.05) -> list[float]:
    """``n`` values around ``value``, lognormal noise (seeded)."""
    rng = random.Random(seed)
    return [value * math.exp(rng.gauss(0.0, noise)) for _ in range(n)]


def logs(values: list[float]) -> list[float]:
    return [math.log(v) for v in values]


def test_a_single_step_is_found_where_it_happened() -> None:
    series = logs(level(20, 0.005, seed=1) + level(12, 0.015, seed=2))
    ((index, p),) = e_divisive(series)
    assert index == 20 and p < 0.01


def test_two_steps_are_both_found() -> None:
    series = logs(level(15, 0.005, seed=3) + level(15, 0.010, seed=4) + level(15, 0.004, seed=5))
    assert [i for i, _ in e_divisive(series)] == [15, 30]


def test_noise_alone_has_no_step() -> None:
    for seed in range(5):
        assert e_divisive(logs(level(40, 0.005, seed=seed, noise=0.2))) == []


def test_one_outlier_is_not_a_step() -> None:
    for where in (0, 13, 29):
        series = level(30, 0.005, seed=where)
        series[where] *= 6  # one very slow run, then back to normal
        assert e_divisive(logs(series)) == []


def test_the_same_series_gives_the_same_steps() -> None:
    series = logs(level(12, 1.0, seed=6, noise=0.3) + level(12, 1.6, seed=7, noise=0.3))
    assert e_divisive(series) == e_divisive(series)  # the permutations are seeded


def records(
    values: list[float], *, scale: str = "small", workload: str = "batch"
) -> list[RunRecord]:
    """One run record per value (its batch samples around it), commits 00.., 01.., ..."""
    return [
        run_record(n, scale=scale, batch=v, workload=workload,
                   samples={"batch_seconds": [v * 0.98, v, v * 1.02]})
        for n, v in enumerate(values)
    ]  # fmt: skip


def test_a_step_in_a_history_names_its_commit_range_and_its_size() -> None:
    runs = records(level(10, 0.005, seed=8) + level(6, 0.015, seed=9))
    (step,) = series_steps(runs, "batch_seconds")
    assert step.commits == (runs[9].commit, runs[10].commit)
    assert step.last_before is runs[9] and step.first_after is runs[10]
    assert step.before == pytest.approx(0.005, rel=0.05)
    assert step.after == pytest.approx(0.015, rel=0.05)
    assert step.ratio == pytest.approx(3.0, rel=0.08)
    assert (step.runs_before, step.runs_after) == (10, 6) and not step.dataset_changed
    before, after = (str(c)[:10] for c in step.commits)
    assert step.sentence().startswith(
        f"small batch_seconds (batch): ×{step.ratio:.2f} between {before} and {after}, 5."
    )
    assert step.to_dict()["first_commit_after"] == runs[10].commit


def test_a_small_but_clear_drift_is_not_listed_as_a_step() -> None:
    runs = records(level(15, 0.005, seed=10, noise=0.005) + level(15, 0.0052, seed=11, noise=0.005))
    assert e_divisive(logs([r.metrics["batch_seconds"] for r in runs]))  # significant ...
    assert series_steps(runs, "batch_seconds") == []  # ... but under MIN_STEP
    assert len(series_steps(runs, "batch_seconds", min_step=0.0)) == 1
    assert MIN_STEP == 0.10


def test_each_metric_lists_steps_from_its_own_size() -> None:
    """``compare --history`` passes each metric's regression threshold: a timing's 20 % drift
    (a shared machine's) is not listed where its threshold is 1.0, a threefold step is."""
    drift = records(level(10, 0.005, seed=20, noise=0.01) + level(10, 0.006, seed=21, noise=0.01))
    assert len(history_steps(History.of(drift), metrics=("batch_seconds",))) == 1
    sizes = {"batch_seconds": 1.0, "statements": 0.2}
    assert history_steps(History.of(drift), metrics=("batch_seconds",), min_step=sizes) == []
    tripled = records(level(10, 0.005, seed=22) + level(6, 0.015, seed=23))
    (step,) = history_steps(History.of(tripled), metrics=("batch_seconds",), min_step=sizes)
    assert step.ratio == pytest.approx(3.0, rel=0.08)
    # a size under MIN_STEP is raised to it
    assert history_steps(History.of(drift), metrics=("batch_seconds",), min_step={"x": 0}) != []


def test_history_steps_go_per_workload_and_scale() -> None:
    small = records(level(8, 0.005, seed=12) + level(8, 0.02, seed=13))
    medium = records(level(16, 0.05, seed=14), scale="medium")
    other = records(level(16, 0.005, seed=15), workload="other")
    history = History.of([*small, *medium, *other])
    (step,) = history_steps(history, metrics=("batch_seconds", "statements"))
    assert (step.scale, step.workload, step.metric) == ("small", "batch", "batch_seconds")
    assert history_steps(history, metrics=("batch_seconds",), scales=("medium",)) == []


def test_a_step_too_small_to_list_does_not_cut_the_next_steps_before() -> None:
    """A clear but small drift (4 %) before a real step (×3): the step's "before" reaches back
    over the drift to the start of the history, not to the unlisted split."""
    drifted = level(12, 0.005, seed=16, noise=0.004) + level(12, 0.0052, seed=17, noise=0.004)
    runs = records(drifted + level(8, 0.0156, seed=18, noise=0.004))
    found = e_divisive(logs([r.metrics["batch_seconds"] for r in runs]))
    assert [i for i, _ in found] == [12, 24]  # the drift is a split of its own ...
    (step,) = series_steps(runs, "batch_seconds")  # ... but only the ×3 step is listed
    assert (step.runs_before, step.runs_after) == (24, 8)
    assert step.commits == (runs[23].commit, runs[24].commit)
    assert step.ratio == pytest.approx(3.0, rel=0.08)
