"""Run records: the JSON line format, appending, and reading back past damage."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pytest

from perfkit.config import load_config
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


def record(**changes: object) -> RunRecord:
    base = RunRecord(
        run_id=new_run_id(),
        scale="small",
        when=dt.datetime(2026, 2, 9, 3, tzinfo=dt.UTC).isoformat(),
        commit="0" * 40,
        machine=machine_info(),
        backend="native",
        server_version="15.10",
        dataset={"mode": "realistic", "seed": 42, "generator_version": "1",
                 "anchor_date": "2026-02-09", "rows": {"offices": 10}},
        metrics={"batch_seconds": 0.01, "statements": 1, "emails": 85, "offices": 10,
                 "seconds_per_office": 0.001, "peak_memory_mb": 1.5, "prepare_seconds": 0.2},
        samples={"batch_seconds": [0.011, 0.01, 0.012]},
        budgets={"batch": 2.0, "prepare": 30.0, "restore": 5.0},
        passed=True,
        workload="deadline_alerts",
    )  # fmt: skip
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_a_record_is_one_json_line_with_schema_first(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "results.jsonl"
    first, second = record(), record(scale="medium", passed=False, failures=["batch 3 s > 2 s"])
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
    append_record(path, record())
    with path.open("a", encoding="utf-8") as f:
        f.write('{"schema": 1, "run_id": "cut off mid-wri\n')
        f.write('{"schema": 1}\n')
        f.write("\n")
    append_record(path, record(scale="large"))
    with pytest.warns(CorruptRecordWarning) as caught:
        records = read_records(path)
    assert [r.scale for r in records] == ["small", "large"]
    assert [str(w.message).split(": ")[0] for w in caught] == [f"{path}:2", f"{path}:3"]


def test_reading_tolerates_unknown_keys_and_a_missing_file(tmp_path: Path) -> None:
    assert read_records(tmp_path / "none.jsonl") == []
    path = tmp_path / "results.jsonl"
    data = record().to_dict() | {"added_later": {"x": 1}}
    path.write_text(json.dumps(data) + "\n", encoding="utf-8")
    assert read_records(path) == [record(run_id=data["run_id"])]


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


def test_commit_comes_from_ci_first_then_git(tmp_path: Path, project_root: Path) -> None:
    assert current_commit(tmp_path, env={"GITHUB_SHA": "abc123"}) == "abc123"
    assert current_commit(tmp_path, env={}) is None  # not a checkout
    commit = current_commit(project_root, env={})
    assert commit is None or len(commit) == 40
