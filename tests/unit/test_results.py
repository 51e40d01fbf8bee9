"""Run records: the JSON line format, appending, and reading back past damage."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from perfkit.compare import compare_history, rules_from_config
from perfkit.config import RegressionConfig, load_config
from perfkit.history import load_history
from perfkit.report import build_report, render_html, render_markdown
from perfkit.results import (
    CorruptRecordWarning,
    RunRecord,
    append_record,
    current_commit,
    machine_info,
    new_run_id,
    read_records,
    results_path,
)
from perfkit.testing import run_record


def test_a_record_is_one_json_line_with_schema_first(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "results.jsonl"
    first = run_record(machine=machine_info())
    second = run_record(scale="medium", passed=False, failures=["batch 3 s > 2 s"])
    append_record(path, first)
    append_record(path, second)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    data = json.loads(lines[0])
    assert next(iter(data)) == "schema" and data["schema"] == 1
    assert {"run_id", "scale", "when", "commit", "machine", "backend", "server_version",
            "dataset", "metrics", "samples", "budgets", "passed"} <= data.keys()  # fmt: skip
    assert set(data["machine"]) == {"hostname", "cpus", "python", "platform"}
    assert read_records(path) == [first, second]


def test_a_damaged_line_is_skipped_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    append_record(path, run_record())
    with path.open("a", encoding="utf-8") as f:
        f.write('{"schema": 1, "run_id": "cut off mid-wri\n')
        f.write('{"schema": 1}\n')
        f.write("\n")
    append_record(path, run_record(scale="large"))
    with pytest.warns(CorruptRecordWarning) as caught:
        records = read_records(path)
    assert [r.scale for r in records] == ["small", "large"]
    assert [str(w.message).split(": ")[0] for w in caught] == [f"{path}:2", f"{path}:3"]


def test_reading_tolerates_unknown_keys_and_a_missing_file(tmp_path: Path) -> None:
    assert read_records(tmp_path / "none.jsonl") == []
    path = tmp_path / "results.jsonl"
    data = run_record().to_dict() | {"added_later": {"x": 1}}
    path.write_text(json.dumps(data) + "\n", encoding="utf-8")
    assert read_records(path) == [run_record()]


def test_results_folder_follows_state_dir_unless_configured(tmp_path: Path) -> None:
    cfg_file = tmp_path / "scales.yaml"
    cfg_file.write_text("scales:\n  small: {offices: 1}\n")
    cfg = load_config(cfg_file, env={"PERFKIT_STATE_DIR": str(tmp_path / "state")})
    assert results_path(cfg) == tmp_path / "state" / "results" / "results.jsonl"
    cfg = load_config(cfg_file, env={"PERFKIT_RESULTS_DIR": "out"})
    assert results_path(cfg) == tmp_path / "out" / "results.jsonl"


def test_run_ids_sort_by_time_and_are_unique() -> None:
    early = new_run_id(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    late = new_run_id(dt.datetime(2026, 1, 2, tzinfo=dt.UTC))
    assert early < late and early.startswith("20260101T000000Z-")
    assert new_run_id() != new_run_id()


def test_commit_comes_from_ci_first_then_git(tmp_path: Path, git: Callable[..., str]) -> None:
    assert current_commit(tmp_path, env={"GITHUB_SHA": "abc123"}) == "abc123"
    assert current_commit(tmp_path, env={}) is None  # not a checkout
    repo = tmp_path / "checkout"
    repo.mkdir()
    git(repo, "init", "--quiet")
    git(repo, "commit", "--quiet", "--allow-empty", "-m", "measured")
    head = git(repo, "rev-parse", "HEAD")
    assert len(head) == 40 and current_commit(repo, env={}) == head
    assert current_commit(repo, env={"GITHUB_SHA": "abc123"}) == "abc123"  # CI's comes first


# -- hostile lines: every one is skipped like any damaged line, the good ones still read ------

PLAN = {"shape": {"node": "Seq Scan", "relation": "offices"}, "shape_hash": "ab12",
        "slowest_node": "Seq Scan on offices", "slowest_node_ms": 0.5, "execution_ms": 1.0,
        "plan": {"Plan": {"Node Type": "Seq Scan"}, "Execution Time": 1.0}}  # fmt: skip
ENTRY = {"fingerprint": "f1", "statement": "SELECT ?", "calls": 3, "total_ms": 1.5,
         "mean_ms": 0.5, "rows": 3, "plan": PLAN}  # fmt: skip


def good_line(n: int = 0, **changes: Any) -> dict[str, Any]:
    """A valid record (with a profile entry and its plan), as parsed JSON."""
    return {**run_record(n, profile=[ENTRY]).to_dict(), **changes}


def nested(levels: int, inner: str = "1") -> str:
    return "[" * levels + inner + "]" * levels


def chain(levels: int) -> dict[str, Any]:
    """A plan shape ``levels`` nodes deep."""
    node: dict[str, Any] = {"node": "Result"}
    for _ in range(levels - 1):
        node = {"node": "Nested Loop", "children": [node]}
    return node


def with_entry(**fields: Any) -> dict[str, Any]:
    return good_line(9, profile=[{**ENTRY, **fields}])


def with_plan(**fields: Any) -> dict[str, Any]:
    return with_entry(plan={**PLAN, **fields})


def with_shape(shape: Any) -> dict[str, Any]:
    return with_plan(shape=shape)


#: A plan shape whose third node's index is a number.
DEEP_WRONG = {
    "node": "Hash",
    "children": [{"node": "Sort", "children": [{"node": "X", "index": 1}]}],
}

#: Lines that are JSON text (or nearly) but not records: deep nesting, numbers JSON or
#: readers cannot hold, and a wrong type at each level of a record.
HOSTILE: dict[str, str] = {
    "nesting-100k-whole-line": nested(100_000),
    "nesting-100k-objects": '{"a":' * 100_000 + "1" + "}" * 100_000,
    "nesting-in-a-field": json.dumps(good_line(9))[:-1] + ',"extra":' + nested(5000) + "}",
    "nesting-250-in-a-field": json.dumps(good_line(9, extra=json.loads(nested(250)))),
    "nesting-in-raw-plan": json.dumps(with_plan(plan=json.loads(nested(300)))),
    "shape-65-deep": json.dumps(with_shape(chain(65))),
    "huge-float-metric": json.dumps(good_line(9))[:-1] + ',"metrics":{"batch_seconds":1e999}}',
    "huge-int-sample": json.dumps(good_line(9, samples={"batch_seconds": [10**30]})),
    "int-of-5000-digits": json.dumps(good_line(9))[:-1]
    + ',"budgets":{"batch":'
    + "9" * 5000
    + "}}",
    "huge-int-in-ignored-field": json.dumps(good_line(9, extra={"n": 10**40})),
    "nan-metric": json.dumps(good_line(9))[:-1] + ',"metrics":{"batch_seconds":NaN}}',
    "infinity-sample": json.dumps(good_line(9))[:-1] + ',"samples":{"b":[Infinity]}}',
    "minus-infinity-machine": json.dumps(good_line(9))[:-1] + ',"machine":{"cpus":-Infinity}}',
    "nan-rows": json.dumps(good_line(9))[:-1] + ',"dataset":{"rows":{"offices":NaN}}}',
    "nan-in-plan": json.dumps(good_line(9))[:-1]
    + ',"profile":[{"fingerprint":"f","statement":"s","calls":1,"total_ms":1,"mean_ms":1,'
    '"plan":{"execution_ms":NaN}}]}',
    "nan-in-raw-plan": json.dumps(good_line(9))[:-1]
    + ',"profile":[{"fingerprint":"f","statement":"s","calls":1,"total_ms":1,"mean_ms":1,'
    '"plan":{"plan":{"Execution Time":NaN}}}]}',
    "top-level-list": json.dumps([good_line(9)]),
    "top-level-number": "5",
    "machine-nested": json.dumps(good_line(9, machine={"cpus": {"n": 2}})),
    "dataset-list": json.dumps(good_line(9, dataset=["realistic"])),
    "dataset-rows-text": json.dumps(good_line(9, dataset={"rows": {"offices": "ten"}})),
    "dataset-rows-negative": json.dumps(good_line(9, dataset={"rows": {"offices": -1}})),
    "dataset-rows-list": json.dumps(good_line(9, dataset={"rows": [10]})),
    "dataset-seed-list": json.dumps(good_line(9, dataset={"seed": [42]})),
    "dataset-key-number": json.dumps(good_line(9, dataset={"key": 7})),
    "metrics-list": json.dumps(good_line(9, metrics=[1.0])),
    "metric-bool": json.dumps(good_line(9, metrics={"batch_seconds": True})),
    "samples-nested": json.dumps(good_line(9, samples={"batch_seconds": [[0.1]]})),
    "samples-null": json.dumps(good_line(9, samples={"batch_seconds": None})),
    "failures-objects": json.dumps(good_line(9, failures=[{"x": 1}])),
    "profile-object": json.dumps(good_line(9, profile={"0": ENTRY})),
    "profile-entry-list": json.dumps(good_line(9, profile=[[ENTRY]])),
    "entry-no-total": json.dumps(
        good_line(9, profile=[{k: v for k, v in ENTRY.items() if k != "total_ms"}])
    ),
    "entry-calls-text": json.dumps(with_entry(calls="3")),
    "entry-mean-null": json.dumps(with_entry(mean_ms=None)),
    "entry-rows-list": json.dumps(with_entry(rows=[3])),
    "entry-statement-number": json.dumps(with_entry(statement=5)),
    "entry-server-calls-text": json.dumps(with_entry(server_calls="many")),
    "plan-list": json.dumps(with_entry(plan=[PLAN])),
    "plan-error-number": json.dumps(with_entry(plan={"error": 5})),
    "plan-hash-number": json.dumps(with_plan(shape_hash=12)),
    "plan-slowest-ms-text": json.dumps(with_plan(slowest_node_ms="fast")),
    "plan-raw-list": json.dumps(with_plan(plan=[1])),
    "shape-text": json.dumps(with_shape("Seq Scan")),
    "shape-node-missing": json.dumps(with_shape({"relation": "offices"})),
    "shape-node-number": json.dumps(with_shape({"node": 5})),
    "shape-children-object": json.dumps(with_shape({"node": "Hash", "children": {"a": 1}})),
    "shape-child-text": json.dumps(with_shape({"node": "Hash", "children": ["Seq Scan"]})),
    "shape-deep-child-wrong": json.dumps(with_shape(DEEP_WRONG)),
}


@pytest.mark.parametrize("case", list(HOSTILE), ids=list(HOSTILE))
def test_a_hostile_line_is_skipped_with_the_same_warning(tmp_path: Path, case: str) -> None:
    path = tmp_path / "results.jsonl"
    good = [run_record(n, profile=[ENTRY]) for n in range(2)]
    path.write_text(
        f"{good[0].to_json()}\n{HOSTILE[case]}\n{good[1].to_json()}\n", encoding="utf-8"
    )
    with pytest.warns(CorruptRecordWarning) as caught:
        records = read_records(path)
    assert records == good
    (warning,) = caught
    message = str(warning.message)
    assert message.startswith(f"{path}:2: skipped a damaged run record (")
    assert "\n" not in message and len(message) < 400, message


def test_hostile_lines_leave_report_and_compare_working(tmp_path: Path) -> None:
    """What `perfkit report` and `perfkit compare` do with the history (they failed with
    "internal error: RecursionError" on one deeply nested line)."""
    path = tmp_path / "results.jsonl"
    good = [run_record(n, profile=[{**ENTRY, "plan": {**PLAN, "shape": chain(64)}}])
            for n in range(3)]  # fmt: skip
    lines = [good[0].to_json(), *HOSTILE.values(), good[1].to_json(), good[2].to_json()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    history = load_history(path)
    assert list(history) == good and len(history.skipped) == len(HOSTILE)
    comparisons = compare_history(
        history, baseline="median:5", rules=rules_from_config(RegressionConfig())
    )
    data = build_report(history, comparisons=comparisons)
    assert "small" in render_markdown(data) and "<html" in render_html(data)


def test_the_records_perfkit_writes_pass_the_shape_check() -> None:
    """The deepest plan shape allowed, and every optional field, still read."""
    record = run_record(1, profile=[{**ENTRY, "server_calls": 3, "server_total_ms": 1.0,
                                     "plan": {**PLAN, "shape": chain(64)}},
                                    {**ENTRY, "fingerprint": "f2", "plan": {"error": "x"}}],
                        dataset={"mode": "realistic", "seed": 42, "generator_version": 1,
                                 "anchor_date": "2026-02-09", "rows": {"offices": 10},
                                 "prepared": "kept", "key": "abc"})  # fmt: skip
    assert RunRecord.from_dict(json.loads(record.to_json())) == record
