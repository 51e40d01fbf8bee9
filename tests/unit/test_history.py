"""The results history: ordering, selection, damaged lines and git refs."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from pathlib import Path

import pytest

from perfkit.history import (
    History,
    HistoryError,
    dataset_key,
    load_history,
    metric_value,
    resolve_git_ref,
)
from perfkit.results import append_record
from perfkit.testing import run_record

#: Runs here are a minute apart: run ``n``'s id is ``20260209T030n00Z-…``, so ids share prefixes.
record = functools.partial(run_record, step=dt.timedelta(minutes=1))


def test_records_are_sorted_by_time_with_file_order_breaking_ties(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    late, early = record(5), record(1)
    same_a, same_b = record(3, scale="small"), record(3, scale="medium")
    for r in (late, same_a, early, same_b):
        append_record(path, r)
    history = load_history(path)
    assert [r.run_id for r in history] == [early.run_id, same_a.run_id, same_b.run_id, late.run_id]
    assert history.records[1].scale == "small" and history.records[2].scale == "medium"
    assert history.source == path and history.skipped == ()


def test_a_missing_file_is_an_empty_history(tmp_path: Path) -> None:
    history = load_history(tmp_path / "nothing.jsonl")
    assert len(history) == 0 and not history
    assert history.latest() is None and history.latest_run_id() is None


def test_damaged_lines_are_skipped_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    append_record(path, record(1))
    with path.open("a", encoding="utf-8") as f:
        f.write('{"schema": 1, "run_id": "half-writ\n')
    append_record(path, record(2, when="not a time"))
    append_record(path, record(3))
    history = load_history(path)
    assert [r.run_id for r in history] == [record(1).run_id, record(3).run_id]
    assert len(history.skipped) == 2
    assert ":2:" in history.skipped[0]
    assert "unreadable time" in history.skipped[1]


def test_scales_follow_the_given_order_then_first_appearance() -> None:
    history = History.of(
        [record(1, scale="xl"), record(2, scale="medium"), record(3, scale="small")]
    )
    assert history.scales(("small", "medium", "large")) == ("small", "medium", "xl")
    assert history.scales() == ("xl", "medium", "small")


def test_per_scale_latest_and_last_n() -> None:
    runs = [record(i, scale="small" if i % 2 else "medium") for i in range(1, 9)]
    history = History.of(reversed(runs))
    small = history.for_scale("small")
    assert [r.run_id for r in small] == [runs[i].run_id for i in (0, 2, 4, 6)]
    assert history.latest("small") == runs[6]
    assert history.latest() == runs[7]
    assert [r.run_id for r in history.last("small", 2)] == [runs[4].run_id, runs[6].run_id]
    assert len(history.last("small", 50)) == 4
    assert history.latest("large") is None
    with pytest.raises(ValueError):
        history.last("small", 0)


def test_a_run_is_found_by_id_or_unique_prefix() -> None:
    a_small, a_medium = record(1), record(1, scale="medium")
    b = record(2)
    history = History.of([a_small, a_medium, b])
    assert history.run(a_small.run_id) == (a_small, a_medium)
    assert history.run(b.run_id[:15]) == (b,)
    assert history.latest_run_id() == b.run_id


def test_an_unknown_or_ambiguous_run_id_is_an_error_with_hints() -> None:
    history = History.of([record(1), record(2)])
    with pytest.raises(HistoryError) as unknown:
        history.run("19990101")
    assert unknown.value.exit_code == 2
    assert record(2).run_id in (unknown.value.hint or "")
    with pytest.raises(HistoryError) as ambiguous:
        history.run("20260209T03")
    assert "ambiguous" in ambiguous.value.message


def test_runs_by_commit_prefix() -> None:
    one, two = record(1), record(2)
    history = History.of([one, two, record(3, commit=None)])
    assert history.by_commit(two.commit or "") == (two,)
    assert history.by_commit((one.commit or "")[:12].upper()) == (one,)
    assert history.by_commit("f" * 40) == ()
    with pytest.raises(ValueError):
        history.by_commit("abc")


def test_comparable_runs_are_earlier_same_scale_workload_and_dataset() -> None:
    other_rows = {**record(0).dataset, "rows": {"offices": 11}}
    runs = [
        record(1),
        record(2, scale="medium"),
        record(3, dataset=other_rows),
        record(4, workload="another"),
        record(5, dataset={**record(0).dataset, "anchor_date": "2026-03-01"}),
        record(6),
        record(7),
    ]
    history = History.of(runs)
    assert [r.run_id for r in history.comparable(runs[5])] == [runs[0].run_id, runs[4].run_id]
    assert history.comparable(runs[0]) == ()
    assert dataset_key(runs[0]) == dataset_key(runs[4])  # the anchor date does not count


def test_metric_value_is_the_median_of_samples_else_the_stored_number() -> None:
    r = record(1, samples={"batch_seconds": [0.3, 0.1, 0.2, 9.0]})
    assert metric_value(r, "batch_seconds") == pytest.approx(0.25)
    assert metric_value(r, "statements") == 1.0
    assert metric_value(r, "restore_seconds") is None


def test_git_refs_resolve_to_commits_in_a_scratch_repository(
    tmp_path: Path, git: Callable[..., str]
) -> None:
    git(tmp_path, "init", "--quiet", "--initial-branch=main")
    git(tmp_path, "commit", "--quiet", "--allow-empty", "-m", "one")
    first = git(tmp_path, "rev-parse", "HEAD")
    git(tmp_path, "tag", "v1")
    git(tmp_path, "commit", "--quiet", "--allow-empty", "-m", "two")
    assert resolve_git_ref("v1", repo=tmp_path) == first
    assert resolve_git_ref("main~1", repo=tmp_path) == first
    assert resolve_git_ref("HEAD", repo=tmp_path) != first
    with pytest.raises(HistoryError) as info:
        resolve_git_ref("no-such-branch", repo=tmp_path)
    assert "git fetch" in (info.value.hint or "")
    with pytest.raises(HistoryError):
        resolve_git_ref("--all", repo=tmp_path)
