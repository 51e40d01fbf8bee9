"""Change points over the results history: where a metric stepped, and between which commits.

One comparison asks "is this run worse than the ones before it?"; a history answers a
different question: "when did it get worse, and has it stayed so?". :func:`history_steps`
walks ``results.jsonl`` per (workload, scale, metric), oldest first, one value per run (the
median of its timed samples), and finds the steps with **E-Divisive with means**
(:func:`e_divisive`), the method MongoDB built its performance CI on (Daly et al., "The Use of
Change Point Detection to Identify Software Performance Regressions in a Continuous
Integration System", ICPE 2020) and that Hunter and Apache Otava start from (Matteson and
James, "A Nonparametric Approach for Multiple Change Point Analysis of Multivariate Data",
2014):

1. In a segment of the series, the split that maximises the energy statistic q̂ (the
   weighted energy distance between the values before and after it; α = 1) is the candidate.
2. Its significance is a permutation test: the values are shuffled within each segment found
   so far, :data:`PERMUTATIONS` times (seeded with :data:`SEED`: the same history always gives
   the same steps), and p is the share of shuffles whose best split scores as high.
3. While p < :data:`SIGNIFICANCE`, the split is kept and the search goes on in the segments.

A step is reported when its segments' medians differ by at least :data:`MIN_STEP` (10 %),
so that a statistically clear but tiny drift is not listed. Each segment needs
:data:`MIN_SIZE` runs, so one odd run is never a step. Values are compared as logarithms
(a step is a ratio, whatever the level). ``signal-processing-algorithms`` (MongoDB's library)
pins numpy < 2, so the method is implemented here on numpy.

A :class:`Step` names the last commit before and the first after, the medians before and
after, and the size (their ratio); :meth:`Step.sentence` and :meth:`Step.to_dict` are what
``perfkit compare --history`` and a report show.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from perfkit.history import History, dataset_key, metric_value
from perfkit.results import RunRecord
from perfkit.text import human_seconds

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

#: Shuffles per significance test, and the seed of their generator.
PERMUTATIONS = 199
SEED = 22
#: A split is kept while its permutation p-value is below this.
SIGNIFICANCE = 0.01
#: Runs each segment needs.
MIN_SIZE = 3
#: Segments whose medians differ by less than this fraction are not reported as a step.
MIN_STEP = 0.10


def e_divisive(
    values: Sequence[float],
    *,
    significance: float = SIGNIFICANCE,
    permutations: int = PERMUTATIONS,
    min_size: int = MIN_SIZE,
    seed: int = SEED,
) -> list[tuple[int, float]]:
    """The change points of ``values``: ``(index, p)`` pairs, sorted by index, where
    ``values[index]`` is the first value after a step and ``p`` its permutation p-value."""
    import numpy as np

    series = np.asarray(values, dtype=float)
    if len(series) < 2 * min_size:
        return []
    rng = np.random.default_rng(seed)
    bounds = [0, len(series)]  # segment i is series[bounds[i]:bounds[i + 1]]
    found: list[tuple[int, float]] = []
    while True:
        best = _best_split(series, bounds, min_size)
        if best is None:
            break
        tau, q = best
        exceed = 0
        for _ in range(permutations):
            shuffled = series.copy()
            for start, stop in itertools.pairwise(bounds):
                shuffled[start:stop] = rng.permutation(shuffled[start:stop])
            again = _best_split(shuffled, bounds, min_size)
            if again is not None and again[1] >= q:
                exceed += 1
        p = (exceed + 1) / (permutations + 1)
        if p >= significance:
            break
        found.append((tau, p))
        bounds = sorted([*bounds, tau])
    return sorted(found)


def _best_split(
    series: NDArray[np.float64], bounds: Sequence[int], min_size: int
) -> tuple[int, float] | None:
    """The split, over every segment, with the largest q̂: ``(index, q̂)``."""
    best: tuple[int, float] | None = None
    for start, stop in itertools.pairwise(bounds):
        found = _segment_split(series[start:stop], min_size)
        if found is not None and (best is None or found[1] > best[1]):
            best = (start + found[0], found[1])
    return best


def _segment_split(z: NDArray[np.float64], min_size: int) -> tuple[int, float] | None:
    """The split of one segment with the largest q̂ (Matteson and James, α = 1), computed for
    every split at once from the pairwise distances and cumulative sums."""
    import numpy as np

    n = len(z)
    if n < 2 * min_size:
        return None
    d = np.abs(z[:, None] - z[None, :])
    upper = np.triu(d, k=1)
    # within_left[t]: sum of distances among z[:t]; within_right[t]: among z[t:]
    within_left = np.concatenate(([0.0], np.cumsum(upper.sum(axis=0))))
    within_right = np.concatenate((np.cumsum(upper.sum(axis=1)[::-1])[::-1], [0.0]))
    total = within_left[n]
    taus = np.arange(min_size, n - min_size + 1)
    m, k = taus.astype(float), (n - taus).astype(float)
    left, right = within_left[taus], within_right[taus]
    cross = total - left - right
    energy = 2 * cross / (m * k) - left / (m * (m - 1) / 2) - right / (k * (k - 1) / 2)
    q = m * k / (m + k) * energy
    i = int(np.argmax(q))
    return int(taus[i]), float(q[i])


@dataclass(frozen=True)
class Step:
    """A step in one metric's history: between two runs, the value moved and stayed."""

    workload: str | None
    scale: str
    metric: str
    #: The last run before the step and the first after it.
    last_before: RunRecord
    first_after: RunRecord
    #: Medians of the segments before and after (one value per run).
    before: float
    after: float
    #: Runs in those segments.
    runs_before: int
    runs_after: int
    p_value: float

    @property
    def ratio(self) -> float:
        """after / before (``inf`` from 0)."""
        return self.after / self.before if self.before else math.inf

    @property
    def commits(self) -> tuple[str | None, str | None]:
        """The commit range: last commit before the step, first after."""
        return self.last_before.commit, self.first_after.commit

    @property
    def dataset_changed(self) -> bool:
        """The runs either side measured different data (the step may be the data's)."""
        return dataset_key(self.last_before) != dataset_key(self.first_after)

    def _value(self, value: float) -> str:
        return human_seconds(value) if self.metric.endswith("_seconds") else f"{value:,.4g}"

    def sentence(self) -> str:
        """``small batch_seconds (deadline_alerts): ×3.02 between 1a2b3c4d5e and 5e6f7a8b9c,
        4.90 ms → 14.8 ms (20 runs before, 4 after; p = 0.005)``."""
        old, new = (c[:10] if c else "no commit" for c in self.commits)
        of = f" ({self.workload})" if self.workload else ""
        note = "; the dataset changed here too" if self.dataset_changed else ""
        return (
            f"{self.scale} {self.metric}{of}: ×{self.ratio:.2f} between {old} and {new}, "
            f"{self._value(self.before)} → {self._value(self.after)} ({self.runs_before} runs "
            f"before, {self.runs_after} after; p = {self.p_value:.3f}){note}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields, the sentence included."""
        return {
            "workload": self.workload,
            "scale": self.scale,
            "metric": self.metric,
            "last_commit_before": self.commits[0],
            "first_commit_after": self.commits[1],
            "last_run_before": self.last_before.run_id,
            "first_run_after": self.first_after.run_id,
            "before": self.before,
            "after": self.after,
            "ratio": self.ratio,
            "runs_before": self.runs_before,
            "runs_after": self.runs_after,
            "p_value": self.p_value,
            "dataset_changed": self.dataset_changed,
            "sentence": self.sentence(),
        }


def series_steps(
    records: Sequence[RunRecord], metric: str, *, min_step: float = MIN_STEP
) -> list[Step]:
    """The steps of ``metric`` over ``records`` (one workload and scale, oldest first)."""
    pairs = [(r, v) for r in records if (v := metric_value(r, metric)) is not None]
    if not pairs:
        return []
    values = [v for _, v in pairs]
    logs = [math.log(v) for v in values] if min(values) > 0 else values
    points = _kept_points(values, e_divisive(logs), min_step=min_step)
    bounds = [0, *(i for i, _ in points), len(values)]
    steps = []
    for n, (index, p) in enumerate(points, start=1):
        before = values[bounds[n - 1] : index]
        after = values[index : bounds[n + 1]]
        first = pairs[0][0]
        steps.append(
            Step(
                workload=first.workload, scale=first.scale, metric=metric,
                last_before=pairs[index - 1][0], first_after=pairs[index][0],
                before=float(statistics.median(before)), after=float(statistics.median(after)),
                runs_before=len(before), runs_after=len(after), p_value=p,
            )
        )  # fmt: skip
    return steps


def _kept_points(
    values: Sequence[float], points: Sequence[tuple[int, float]], *, min_step: float
) -> list[tuple[int, float]]:
    """``points`` without the splits whose segments differ by less than ``min_step``: such a
    split is merged into its neighbours, so a listed step's "before" and "after" reach back to
    the previous listed step (not to a split too small to list). Merging can make a
    neighbouring step smaller in turn: repeated until every remaining step is big enough."""
    kept = list(points)
    while True:
        bounds = [0, *(i for i, _ in kept), len(values)]
        sizes = []
        for n, (index, _p) in enumerate(kept, start=1):
            b = float(statistics.median(values[bounds[n - 1] : index]))
            a = float(statistics.median(values[index : bounds[n + 1]]))
            sizes.append(abs(a / b - 1) if b else math.inf)
        small = [n for n, size in enumerate(sizes) if size < min_step]
        if not small:
            return kept
        del kept[min(small, key=lambda n: sizes[n])]


def history_steps(
    history: History | Iterable[RunRecord],
    *,
    metrics: Sequence[str],
    scales: Sequence[str] = (),
    min_step: float | Mapping[str, float] = MIN_STEP,
) -> list[Step]:
    """Every step of ``metrics`` in ``history``, per (workload, scale), in the order the
    series first appear (``scales``: only these). ``min_step`` is one size for every metric,
    or each metric's own (``perfkit compare --history`` and the report pass the regression
    rules' thresholds: a step is listed when the gate would call it a change; at least
    :data:`MIN_STEP`)."""
    groups: dict[tuple[str | None, str], list[RunRecord]] = {}
    for record in history:
        if not scales or record.scale in scales:
            groups.setdefault((record.workload, record.scale), []).append(record)
    steps: list[Step] = []
    for records in groups.values():
        for metric in metrics:
            size = min_step if isinstance(min_step, float | int) else min_step.get(metric, MIN_STEP)
            steps += series_steps(records, metric, min_step=max(MIN_STEP, float(size)))
    return steps
