"""Run records: the JSON line format, appending, and reading back past damage."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from perfkit.config import load_config
from perfkit.results import (
    CorruptRecordWarning,
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
