"""The results history: every run record, oldest first, and ways to pick runs out of it.

Records come from ``results.jsonl`` (:mod:`perfkit.results`), one per scale and run. A
:class:`History` sorts them by time (file order breaks ties) and answers the questions that
comparisons and reports ask: the runs of a scale, the latest one, the last N, one run by id,
the runs of a commit (or of a git ref, via :func:`resolve_git_ref`), and which earlier runs
measured the same dataset, so that a comparison never sets a 10-office run against a
100-office one.

Nothing here writes: the history is read-only. Git is only asked to resolve a ref
(``git rev-parse``), never to change anything.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import subprocess
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from perfkit.config import Config
from perfkit.errors import PerfkitError
from perfkit.results import CorruptRecordWarning, RunRecord, read_records, results_path
from perfkit.text import clipped, quoted


class HistoryError(PerfkitError):
    """A run or a git ref the user named cannot be found."""

    exit_code = 2


def metric_value(record: RunRecord, name: str) -> float | None:
    """The record's value of metric ``name``: the median of its samples when the record has
    them, else the stored number; ``None`` when the run did not measure it."""
    samples = record.samples.get(name)
    if samples:
        return float(statistics.median(samples))
    value = record.metrics.get(name)
    return None if value is None else float(value)


def timestamp_of(record: RunRecord) -> dt.datetime:
    """When the run happened, as an aware UTC datetime (a naive time is taken as UTC)."""
    when = record.timestamp
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


def dataset_key(record: RunRecord) -> str:
    """What makes two runs' data the same: generator mode, seed, generator version and the
    row counts. The anchor date is left out: snapshots pin it, and it changes with every
    fresh seed without changing the amount of work."""
    ds = record.dataset
    if isinstance(ds.get("key"), str):  # DatasetInfo.key(), in records written since it exists
        return str(ds["key"])
    key = {k: ds.get(k) for k in ("mode", "seed", "generator_version", "rows")}
    return json.dumps(key, sort_keys=True, default=str)


def same_work(a: RunRecord, b: RunRecord) -> bool:
    """Whether two runs measured the same thing: scale, workload and dataset."""
    return a.scale == b.scale and a.workload == b.workload and dataset_key(a) == dataset_key(b)


@dataclass(frozen=True)
class History:
    """Run records sorted oldest first (by ``when``; file order breaks ties)."""

    records: tuple[RunRecord, ...]
    #: Where they were read from (for messages); ``None`` when built in memory.
    source: Path | None = None
    #: Lines of the file that were damaged and skipped.
    skipped: tuple[str, ...] = ()

    @classmethod
    def of(cls, records: Iterable[RunRecord], *, source: Path | None = None) -> History:
        """A history of ``records`` in any order."""
        indexed = list(enumerate(records))
        indexed.sort(key=lambda pair: (timestamp_of(pair[1]), pair[0]))
        return cls(records=tuple(r for _, r in indexed), source=source)

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[RunRecord]:
        return iter(self.records)

    def __bool__(self) -> bool:
        return bool(self.records)

    def scales(self, order: Sequence[str] = ()) -> tuple[str, ...]:
        """The scales that have runs: those in ``order`` first (scales.yaml's order), then any
        others in the order they first ran (a scale since removed from scales.yaml)."""
        seen = list(dict.fromkeys(r.scale for r in self.records))
        known = [s for s in order if s in seen]
        return tuple(known + [s for s in seen if s not in known])

    def for_scale(self, scale: str) -> tuple[RunRecord, ...]:
        """Every run of ``scale``, oldest first."""
        return tuple(r for r in self.records if r.scale == scale)

    def latest(self, scale: str | None = None) -> RunRecord | None:
        """The newest record (of ``scale``, when given); ``None`` when there is none."""
        pool = self.for_scale(scale) if scale else self.records
        return pool[-1] if pool else None

    def last(self, scale: str, n: int) -> tuple[RunRecord, ...]:
        """The newest ``n`` runs of ``scale``, oldest first."""
        if n < 1:
            raise ValueError("n must be at least 1")
        return self.for_scale(scale)[-n:]

    def latest_run_id(self) -> str | None:
        """The id of the newest run (whatever its scales)."""
        return self.records[-1].run_id if self.records else None

    def run(self, run_id: str) -> tuple[RunRecord, ...]:
        """The records of one run (one per scale it measured).

        ``run_id`` may be a unique prefix of the id (``20260209T0300``). An unknown or
        ambiguous id is a :class:`HistoryError` that lists the newest ids.
        """
        exact = tuple(r for r in self.records if r.run_id == run_id)
        if exact:
            return exact
        ids = list(dict.fromkeys(r.run_id for r in self.records if r.run_id.startswith(run_id)))
        if len(ids) == 1:
            return tuple(r for r in self.records if r.run_id == ids[0])
        newest = list(dict.fromkeys(r.run_id for r in reversed(self.records)))[:3]
        if ids:
            raise HistoryError(
                f"run id {quoted(run_id)} is ambiguous: it starts {len(ids)} runs",
                hint="give more of the id (`perfkit report` lists them)",
            )
        raise HistoryError(
            f"no run {quoted(run_id)} in {self._where()}",
            hint="newest runs: " + ", ".join(newest) if newest else "no runs recorded yet",
        )

    def by_commit(self, commit: str, *, scale: str | None = None) -> tuple[RunRecord, ...]:
        """The runs measured at ``commit`` (a full hash, or a prefix of 7 or more characters)."""
        commit = commit.lower()
        if len(commit) < 7:
            raise ValueError("a commit prefix needs at least 7 characters")
        pool = self.for_scale(scale) if scale else self.records
        return tuple(r for r in pool if r.commit and r.commit.lower().startswith(commit))

    def before(self, record: RunRecord) -> tuple[RunRecord, ...]:
        """Every record that precedes ``record`` (by position when it is in this history,
        else by time), oldest first."""
        for i, r in enumerate(self.records):
            if r is record:
                return self.records[:i]
        for i, r in enumerate(self.records):
            if r == record:
                return self.records[:i]
        when = timestamp_of(record)
        return tuple(r for r in self.records if timestamp_of(r) < when)

    def comparable(self, record: RunRecord) -> tuple[RunRecord, ...]:
        """Runs of the same scale, workload and dataset as ``record`` that ran before it,
        oldest first."""
        return tuple(r for r in self.before(record) if same_work(r, record))

    def _where(self) -> str:
        return str(self.source) if self.source else "the results history"


def load_history(path: Path) -> History:
    """The history in ``path`` (a ``results.jsonl``); empty when the file does not exist.

    Damaged lines are skipped; their warnings are kept in :attr:`History.skipped`.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CorruptRecordWarning)
        records = read_records(path)
    skipped = [str(w.message) for w in caught if issubclass(w.category, CorruptRecordWarning)]
    readable: list[RunRecord] = []
    for record in records:
        try:
            timestamp_of(record)
        except (TypeError, ValueError, OverflowError):
            skipped.append(
                f"{path}: run {clipped(record.run_id)}: unreadable time {quoted(record.when)}"
            )
            continue
        readable.append(record)
    history = History.of(readable, source=path)
    return History(records=history.records, source=path, skipped=tuple(skipped))


def history_for(cfg: Config) -> History:
    """The configured results history (``results.directory`` / results.jsonl)."""
    return load_history(results_path(cfg))


def resolve_git_ref(ref: str, *, repo: Path) -> str:
    """The full commit hash ``ref`` names in the git checkout at ``repo`` (read-only).

    A branch, tag, ``HEAD~3`` or a hash all work; anything git cannot resolve is a
    :class:`HistoryError` with a hint.
    """
    if not ref or ref.startswith("-"):
        raise HistoryError(f"not a git ref: {quoted(ref)}", hint="use a branch, tag or commit")
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except FileNotFoundError:
        raise HistoryError(
            "git is not installed; cannot resolve a git: baseline",
            hint="install git, or use --baseline median:N or a run id",
        ) from None
    except subprocess.TimeoutExpired:
        raise HistoryError(f"git rev-parse {quoted(ref)} timed out") from None
    commit = done.stdout.strip()
    if done.returncode != 0 or not commit:
        raise HistoryError(
            f"git cannot resolve {quoted(ref)} in {repo}",
            hint="fetch it first (for example `git fetch origin main`), or check the name",
        )
    return commit
