"""The statistical gate: is a candidate's timing worse than its baseline's, beyond noise?

A timing is never one number: a run times its workload ``measure.repeat`` times, and runs of
unchanged code differ from each other too (on a shared 2-core machine, by up to ×1.8 when
another job starts). So a **regression** needs all three of these (one-sided, in the metric's
worse direction):

1. **significant**: the candidate's samples are worse than the baseline's, by a Mann-Whitney U
   test (:func:`compare_samples`; a Wilcoxon signed-rank test on the pairs of an A/B job,
   :func:`compare_pairs`) at p < :data:`ALPHA`;
2. **past the threshold, with confidence**: the lower bound of the 99 % bootstrap confidence
   interval of the ratio of medians (:data:`RESAMPLES` resamples, seeded with :data:`SEED`,
   so the same inputs always give the same verdict) is above ``1 + threshold``
   (scales.yaml's ``regression.threshold``: the smallest change worth failing a build for);
3. **beyond noise**: the ratio of medians is above ``1 + floor``, the noise floor below.

The **noise floor** is never a constant in seconds. It is the larger of

- the timer's resolution: :data:`RESOLUTION_TICKS` ticks of ``perf_counter``
  (``time.get_clock_info("perf_counter").resolution``), relative to the baseline's median;
- the history's own run-to-run spread (:func:`run_spread`): how far each earlier run's median
  strayed from the median of the runs before it (the very comparison the gate makes), as a
  robust standard deviation, times Student's t quantile at 1 - :data:`FLOOR_ALPHA` for as many
  runs as it saw. With fewer than :data:`MIN_SPREAD_RUNS` earlier runs that spread is unknown,
  and the floor is :data:`UNKNOWN_SPREAD_FLOOR` (×2: the worst swing of unchanged code
  measured on a shared 2-core machine was ×1.84, docs/regression-and-report.md).

In an A/B job (:func:`compare_pairs`) base and candidate run interleaved, so the machine's
drift falls on both alike and only the resolution floor applies.

A metric measured once per run (data-ready time, restore time, seeding speed) has no samples
to test: :func:`compare_values` uses the prediction test instead (is the new value outside
what the earlier runs' spread predicts, at p < :data:`FLOOR_ALPHA`), and the threshold.

An **improvement** is the mirror image. A change past the threshold that fails a check is
**within noise**; anything else is **unchanged**. The result, :class:`Evidence`, carries the
numbers (ratio, interval, p-value, effect size, floor) and one sentence saying why.

numpy and scipy are imported inside the functions: front ends that never compare start fast.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

Direction = Literal["lower", "higher"]
Decision = Literal["regression", "improvement", "unchanged", "within noise", "no baseline"]

#: Significance level of the one-sided tests; the confidence interval is the 1 - ALPHA one.
ALPHA = 0.01
#: Significance level of the noise floor's prediction bound (stricter: run-to-run noise on a
#: shared machine has heavier tails than the normal curve).
FLOOR_ALPHA = 0.001
#: Bootstrap resamples for the confidence interval; the generator is seeded with SEED.
RESAMPLES = 2000
SEED = 22
#: A change of fewer timer ticks than this is below what the clock can tell.
RESOLUTION_TICKS = 10
#: Samples each side needs for a test (fewer: the verdict is "within noise" at most).
MIN_SAMPLES = 3
#: Earlier runs the run-to-run spread is read from (the newest ones), and the fewest that
#: tell it (each run but the first gives one deviation from the runs before it).
SPREAD_RUNS = 30
MIN_SPREAD_RUNS = 4
#: Runs before each one that its deviation is measured against (as ``median:5`` does).
SPREAD_BASELINE = 5
#: The floor (×2) while the history is too short to know its run-to-run spread.
UNKNOWN_SPREAD_FLOOR = 1.0


def timer_resolution() -> float:
    """The resolution of ``time.perf_counter``, in seconds (what every timing is read with)."""
    return float(time.get_clock_info("perf_counter").resolution)


@dataclass(frozen=True)
class Spread:
    """How much unchanged runs stray from their baseline: a robust standard deviation of the
    log of (run median / median of the runs before it), from ``deviations`` runs."""

    sigma: float
    deviations: int

    def floor(self) -> float:
        """The relative floor it sets: exp(t × sigma) - 1, t at 1 - FLOOR_ALPHA."""
        from scipy import stats

        t = float(stats.t.ppf(1 - FLOOR_ALPHA, self.deviations - 1))
        return math.expm1(t * self.sigma)


def run_spread(runs: Sequence[Sequence[float]]) -> Spread | None:
    """The run-to-run spread of ``runs`` (each run's samples, or its one value; oldest first;
    the newest :data:`SPREAD_RUNS` are used), or ``None`` when fewer than
    :data:`MIN_SPREAD_RUNS` runs tell it.

    Each run after the first is set against the pooled median of the (up to
    :data:`SPREAD_BASELINE`) runs before it, as the gate would set it; the spread is the
    normal-consistent median absolute deviation of those log ratios, or their root mean
    square when that is larger and most of them agree (a few big swings in a long history
    are a step it went through, not its noise; many are its noise).
    """
    import numpy as np

    kept = [np.asarray(r, dtype=float) for r in runs if len(r)][-SPREAD_RUNS:]
    if len(kept) < MIN_SPREAD_RUNS:
        return None
    deviations = []
    for i in range(1, len(kept)):
        before = np.concatenate(kept[max(0, i - SPREAD_BASELINE) : i])
        base, new = float(np.median(before)), float(np.median(kept[i]))
        if base > 0 and new > 0:
            deviations.append(math.log(new / base))
    if len(deviations) < MIN_SPREAD_RUNS - 1:
        return None
    dev = np.asarray(deviations)
    sigma = 1.4826 * float(np.median(np.abs(dev - np.median(dev))))
    return Spread(sigma=sigma, deviations=len(deviations))


@dataclass(frozen=True)
class Evidence:
    """What the gate found for one metric: the numbers, the decision and why.

    ``ratio`` and ``ci`` are candidate / baseline (of medians; in an A/B job, the median of
    the pairs' ratios), whatever the metric's direction. ``p_value`` is the one-sided p of
    the direction the change went. ``effect`` is Cliff's delta, P(candidate > baseline) -
    P(candidate < baseline), from -1 to 1 (in an A/B job, the same over the pairs).
    ``floor`` and ``threshold`` are fractions (0.2 = 20 %).
    """

    decision: Decision
    reason: str
    method: str
    threshold: float
    floor: float
    ratio: float | None = None
    ci: tuple[float, float] | None = None
    p_value: float | None = None
    effect: float | None = None
    n_baseline: int = 0
    n_candidate: int = 0
    #: Where the floor came from (``resolution``, ``run-to-run spread of N runs``, ...).
    floor_source: str = ""
    #: Whether the samples were an A/B job's pairs (``effect`` is then over the pairs).
    paired: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (the interval as ``[low, high]``)."""
        return {
            "decision": self.decision,
            "ratio": self.ratio,
            "ci": list(self.ci) if self.ci else None,
            "confidence": 1 - ALPHA,
            "p_value": self.p_value,
            "effect": self.effect,
            "threshold": self.threshold,
            "floor": self.floor,
            "floor_source": self.floor_source,
            "method": self.method,
            "n_baseline": self.n_baseline,
            "n_candidate": self.n_candidate,
            "paired": self.paired,
            "reason": self.reason,
        }


def compare_samples(
    baseline: Sequence[Sequence[float]],
    candidate: Sequence[float],
    *,
    threshold: float,
    history: Sequence[Sequence[float]] | None = None,
    direction: Direction = "lower",
    resolution: float | None = None,
) -> Evidence:
    """Judge ``candidate``'s samples against the pooled samples of the ``baseline`` runs.

    ``history`` is the earlier comparable runs' samples, oldest first, that the run-to-run
    spread is read from (default: the baseline runs). ``resolution`` is the clock's, in the
    samples' unit (default :func:`timer_resolution`; 0 for a metric not read from a clock).
    """
    import numpy as np
    from scipy import stats

    pooled = [float(x) for run in baseline for x in run]
    new = [float(x) for x in candidate]
    method = "Mann-Whitney U + bootstrap CI of the ratio of medians"
    if not pooled or not new:
        return Evidence("no baseline", "no samples on one side", method, threshold, 0.0)
    b, c = np.asarray(pooled), np.asarray(new)
    ratio = _ratio(float(np.median(c)), float(np.median(b)))
    floor, source = _floor(
        float(np.median(b)), history if history is not None else baseline, resolution
    )
    n_b, n_c = len(b), len(c)
    if ratio is None:
        return Evidence(
            "unchanged",
            "the baseline's median is 0",
            method,
            threshold,
            floor,
            n_baseline=n_b,
            n_candidate=n_c,
        )
    worse = _worse(ratio, direction)
    u = stats.mannwhitneyu(c, b, alternative="two-sided")
    effect = 2.0 * float(u.statistic) / (len(c) * len(b)) - 1.0
    if len(b) < MIN_SAMPLES or len(c) < MIN_SAMPLES:
        reason = f"too few samples for a test ({len(b)} and {len(c)}; {MIN_SAMPLES} needed)"
        return _decide(
            direction=direction, ratio=ratio, ci=None, p=None, threshold=threshold, floor=floor,
            method=method, effect=effect, source=source, too_few=reason, n_baseline=n_b,
            n_candidate=n_c,
        )  # fmt: skip
    side = _side(worse, direction)
    p = float(stats.mannwhitneyu(c, b, alternative=side).pvalue)
    ci = _bootstrap_ratio(c, b)
    return _decide(
        direction=direction, ratio=ratio, ci=ci, p=p, threshold=threshold, floor=floor,
        method=method, effect=effect, source=source, n_baseline=n_b, n_candidate=n_c,
    )  # fmt: skip


def compare_pairs(
    base: Sequence[float],
    candidate: Sequence[float],
    *,
    threshold: float,
    direction: Direction = "lower",
    resolution: float | None = None,
) -> Evidence:
    """Judge an A/B job's pairs: ``base[i]`` and ``candidate[i]`` ran one after the other.

    The test is Wilcoxon's signed-rank test on the log ratios of the pairs; the ratio is
    their median, with a bootstrap interval; the floor is the clock's resolution only (the
    machine's drift falls on both sides of a pair alike).
    """
    import numpy as np
    from scipy import stats

    method = "Wilcoxon signed-rank on paired ratios + bootstrap CI of their median"
    if len(base) != len(candidate):
        raise ValueError("compare_pairs needs as many base as candidate samples")
    res = timer_resolution() if resolution is None else resolution
    b = np.maximum(np.asarray(base, dtype=float), max(res, 1e-300))
    c = np.maximum(np.asarray(candidate, dtype=float), max(res, 1e-300))
    n_b, n_c = len(b), len(c)
    if not len(b):
        return Evidence("no baseline", "no pairs", method, threshold, 0.0)
    median_b = float(np.median(b))
    floor = RESOLUTION_TICKS * res / median_b if median_b > 0 else 0.0
    source = "the clock's resolution; the pairs share the machine's state"
    logs = np.log(c) - np.log(b)
    ratio = math.exp(float(np.median(logs)))
    effect = float(np.mean(np.sign(logs)))
    if len(logs) < MIN_SAMPLES:
        reason = f"too few pairs for a test ({len(logs)}; {MIN_SAMPLES} needed)"
        return _decide(
            direction=direction, ratio=ratio, ci=None, p=None, threshold=threshold, floor=floor,
            method=method, effect=effect, source=source, paired=True, too_few=reason,
            n_baseline=n_b, n_candidate=n_c,
        )  # fmt: skip
    side = _side(_worse(ratio, direction), direction)
    p = float(stats.wilcoxon(logs, alternative=side).pvalue) if np.any(logs) else 1.0
    boot = stats.bootstrap(
        (logs,), np.median, n_resamples=RESAMPLES, confidence_level=1 - ALPHA,
        method="percentile", rng=np.random.default_rng(SEED),
    )  # fmt: skip
    low, high = boot.confidence_interval
    ci = (math.exp(float(low)), math.exp(float(high)))
    return _decide(
        direction=direction, ratio=ratio, ci=ci, p=p, threshold=threshold, floor=floor,
        method=method, effect=effect, source=source, paired=True, n_baseline=n_b, n_candidate=n_c,
    )  # fmt: skip


def compare_values(
    baseline: Sequence[float],
    candidate: float,
    *,
    threshold: float,
    history: Sequence[float] | None = None,
    direction: Direction = "lower",
) -> Evidence:
    """Judge a metric measured once per run: ``candidate`` against the ``baseline`` runs'
    values, the floor from ``history`` (the earlier runs' values; default the baseline's).

    With one value per run there is no sample to test: the new value must lie outside the
    earlier runs' spread (the floor, at p < FLOOR_ALPHA) and past the threshold."""
    method = "prediction bound from the run-to-run spread (one value per run)"
    if not baseline:
        return Evidence("no baseline", "no baseline value", method, threshold, 0.0)
    base = float(statistics.median(baseline))
    ratio = _ratio(float(candidate), base)
    runs = [[v] for v in (history if history is not None else baseline)]
    floor, source = _floor(base, runs, 0.0)
    n_b, n_c = len(baseline), 1
    if ratio is None:
        return Evidence(
            "unchanged",
            "the baseline's median is 0",
            method,
            threshold,
            floor,
            n_baseline=n_b,
            n_candidate=n_c,
        )
    return _decide(
        direction=direction, ratio=ratio, ci=None, p=None, threshold=threshold, floor=floor,
        method=method, effect=None, source=source, n_baseline=n_b, n_candidate=n_c,
    )  # fmt: skip


# --------------------------------------------------------------------------------------------
# the pieces


def _ratio(new: float, base: float) -> float | None:
    if base <= 0 or new < 0 or not math.isfinite(new / base):
        return None
    return new / base


def _worse(ratio: float, direction: Direction) -> bool:
    """Whether candidate / baseline = ``ratio`` points the worse way."""
    return ratio > 1 if direction == "lower" else ratio < 1


def _side(worse: bool, direction: Direction) -> Literal["greater", "less"]:
    """The one-sided alternative "candidate is larger" or "smaller" that the change took."""
    larger = worse if direction == "lower" else not worse
    return "greater" if larger else "less"


def _floor(
    median: float, runs: Sequence[Sequence[float]], resolution: float | None
) -> tuple[float, str]:
    """The relative noise floor and where it came from (module docstring)."""
    res = timer_resolution() if resolution is None else resolution
    by_clock = RESOLUTION_TICKS * res / median if median > 0 and res > 0 else 0.0
    spread = run_spread(runs)
    if spread is None:
        by_spread = UNKNOWN_SPREAD_FLOOR
        source = f"fewer than {MIN_SPREAD_RUNS} earlier runs: run-to-run spread unknown"
    else:
        by_spread = spread.floor()
        source = f"run-to-run spread of {spread.deviations + 1} runs"
    if by_clock > by_spread:
        return by_clock, f"the clock's resolution, {RESOLUTION_TICKS} ticks of {res:.0e} s"
    return by_spread, source


def _bootstrap_ratio(c: NDArray[np.float64], b: NDArray[np.float64]) -> tuple[float, float]:
    """The 1 - ALPHA percentile-bootstrap interval of median(c) / median(b), seeded."""
    import numpy as np
    from scipy import stats

    def ratio_of_medians(x: Any, y: Any, axis: int = -1) -> Any:
        return np.median(x, axis=axis) / np.median(y, axis=axis)

    boot = stats.bootstrap(
        (c, b), ratio_of_medians, n_resamples=RESAMPLES, confidence_level=1 - ALPHA,
        method="percentile", vectorized=True, rng=np.random.default_rng(SEED),
    )  # fmt: skip
    low, high = boot.confidence_interval
    return float(low), float(high)


def _decide(
    *,
    direction: Direction,
    ratio: float,
    ci: tuple[float, float] | None,
    p: float | None,
    threshold: float,
    floor: float,
    method: str,
    effect: float | None,
    source: str,
    n_baseline: int,
    n_candidate: int,
    too_few: str | None = None,
    paired: bool = False,
) -> Evidence:
    """The decision from the numbers, and the reason in words (module docstring)."""
    worse = _worse(ratio, direction)
    way = "worse" if worse else "better"
    # the change as a factor > 1 the way it went, and the interval's bound nearest to 1
    factor = max(ratio, 1 / ratio) if ratio > 0 else math.inf
    bound: float | None = None
    if ci is not None:
        bound = ci[0] if ratio >= 1 else (1 / ci[1] if ci[1] > 0 else math.inf)
    decision: Decision = "within noise"
    if factor <= 1 + threshold:
        decision = "unchanged"
        reason = f"{_pct(factor - 1)} {way}, within the {_pct(threshold)} threshold"
    elif too_few is not None:
        reason = too_few
    elif p is not None and p >= ALPHA:
        reason = f"{_pct(factor - 1)} {way} but not significant (p = {_p(p)} ≥ {ALPHA:g})"
    elif bound is not None and bound <= 1 + threshold:
        reason = (
            f"{_pct(factor - 1)} {way} but its {_pct(1 - ALPHA)} interval reaches "
            f"{_pct(bound - 1)}, within the {_pct(threshold)} threshold"
        )
    elif factor <= 1 + floor:
        reason = f"{_pct(factor - 1)} {way}, inside the noise floor of {_pct(floor)} ({source})"
    else:
        decision = "regression" if worse else "improvement"
        reason = (
            f"{_pct(factor - 1)} {way}: past the {_pct(threshold)} threshold"
            + (f" with {_pct(1 - ALPHA)} confidence" if bound is not None else "")
            + f" and the {_pct(floor)} noise floor ({source})"
        )
    return Evidence(
        decision=decision, reason=reason, method=method, threshold=threshold, floor=floor,
        ratio=ratio, ci=ci, p_value=p, effect=effect, n_baseline=n_baseline,
        n_candidate=n_candidate, floor_source=source, paired=paired,
    )  # fmt: skip


def _pct(fraction: float) -> str:
    """``0.2`` as ``20 %`` (``< 0.1 %`` for less)."""
    if not math.isfinite(fraction):
        return "∞ %"
    if abs(fraction) < 0.001:
        return "< 0.1 %" if fraction > 0 else "0 %"
    return (
        f"{fraction:.1%}".replace("%", " %")
        if abs(fraction) < 0.1
        else (f"{fraction:.0%}".replace("%", " %"))
    )


def _p(p: float | None) -> str:
    if p is None:
        return "—"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"
