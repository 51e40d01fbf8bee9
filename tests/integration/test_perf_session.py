"""The ``perf-<scale>`` session end to end, and one scale's run, against the private server.

The session test runs what ``nox -s perf-<scale>`` runs, ``perfkit perf --scale <scale>`` (the
database up once, pytest in the same process, the data prepared once by perfkit's plugin), in a
process of its own, with a test config holding a 2-office scale, and checks the summary, the
staging rule's skip and the run record. No nox here: tests/integration/test_team_repository.py
runs nox itself.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
import yaml

from perfkit.config import Budgets, Config, load_config
from perfkit.pipeline import run_scale
from perfkit.results import read_records, results_path
from perfkit.run import Run
from perfkit.testing import PrivateServer, run_perfkit_process, scratch_database
from perfkit.urls import password_of

pytestmark = pytest.mark.integration

SCALES = {
    "tiny": {
        "offices": 2,
        "timeout": 300,
        "description": "2 offices: the session test's scale",
        "budgets": {"batch": 30, "prepare": 120, "restore": 60},
    },
    "later": {"offices": 3, "timeout": 300},
}


@pytest.fixture
async def wiring_db(pg: PrivateServer) -> AsyncIterator[str]:
    """A database of its own on the private server (its name says "test")."""
    async with scratch_database(pg.url, "perfkit_wiring_test") as url:
        yield url


def write_config(tmp_path: Path, config_file: Path, *, mode: str) -> Path:
    """The project's scales.yaml with the scales replaced and the data mode chosen."""
    raw = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    raw["scales"] = SCALES
    raw["data"]["mode"] = mode
    raw["perf"] = {"tests": [str(config_file.parent / "tests" / "performance")]}
    path = tmp_path / "scales.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_the_perf_session_steps_run_end_to_end(
    project_root: Path, tmp_path: Path, config_file: Path, wiring_db: str
) -> None:
    cfg_path = write_config(tmp_path, config_file, mode="plan")
    state = tmp_path / "state"
    env = {
        "PERFKIT_CONFIG": str(cfg_path),
        "PERFORMANCE_TEST_DATABASE_URL": wiring_db,
        "PERFKIT_STATE_DIR": str(state),
        "PERFKIT_SNAPSHOT_DIR": str(tmp_path / "snapshots"),
    }
    done = run_perfkit_process(
        "perf", "--scale", "tiny", "--", "-q", "-p", "no:cacheprovider",
        cwd=project_root, env=env, timeout=300,
    )  # fmt: skip
    outputs = [done.stdout, done.stderr]
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    assert not (state / "prepare").exists()  # nothing handed over between processes
    report = done.stdout
    # the plan's test measures the sample application; the built-in test of the default
    # workload is deselected, so one measurement per scale
    assert "1 passed, 1 skipped" in report
    assert "[tiny] Deadline-alert e-mail batch" in report
    for shown in ("elapsed", "e-mails   20 for 2 offices", "ms per office", "statement(s)"):
        assert shown in report
    assert "PERF_TEST_SCALE=tiny runs tiny only: 'later' comes after 'tiny'" in report

    records = read_records(state / "results" / "results.jsonl")
    assert len(records) == 1
    rec = records[0]
    assert rec.scale == "tiny" and rec.passed and rec.backend == "external"
    assert rec.dataset["mode"] == "plan" and rec.dataset["rows"]["offices"] == 2
    # perfkit's plugin made the data ready once, in the same process: it seeded it
    assert rec.dataset["prepared"] == "seeded" and rec.metrics["seed_rows_per_second"] > 0
    assert report.count("prepare   seeded in") == 1 and "[this run]" in report
    assert rec.metrics["emails"] == 20 and rec.metrics["offices"] == 2
    assert rec.metrics["statements"] == 1
    assert len(rec.samples["batch_seconds"]) == load_config(cfg_path, env={}).measure.repeat
    assert rec.budgets["batch"] == 30
    password = password_of(wiring_db)
    assert password and password not in (state / "results" / "results.jsonl").read_text()
    assert all(password not in out for out in outputs)


async def test_a_run_over_budget_fails_and_is_recorded_as_failed(
    pg: PrivateServer, tmp_path: Path, config_file: Path, wiring_db: str
) -> None:
    cfg: Config = load_config(
        write_config(tmp_path, config_file, mode="realistic"),
        env={"PERFORMANCE_TEST_DATABASE_URL": wiring_db, "PERFKIT_STATE_DIR": str(tmp_path)},
    )
    cfg = msgspec.structs.replace(
        cfg, snapshots=msgspec.structs.replace(cfg.snapshots, directory=tmp_path / "snapshots")
    )
    tight = msgspec.structs.replace(
        cfg.scale("tiny"), budgets=Budgets(batch=1e-9, prepare=120, restore=60, statements=1)
    )
    run = await run_scale(Run(cfg, db=wiring_db), tight, run_id="test-run")
    assert not run.passed
    assert [f.split(" ")[0] for f in run.failures] == ["batch"]
    assert "OVER BUDGET" in run.failures[0]
    assert "batch" in run.failures[0] and " > " in run.failures[0]  # a true inequality
    assert any(
        "budget    statements 1 <= 1 (budget from scales.yaml scales.tiny.budgets.statements)"
        in line
        for line in run.summary_lines()
    )

    (rec,) = read_records(results_path(cfg))
    assert rec.run_id == "test-run" and not rec.passed and rec.failures == run.failures
    assert rec.dataset["mode"] == "realistic" and rec.metrics["emails"] > 0
    line = json.loads(results_path(cfg).read_text(encoding="utf-8").splitlines()[0])
    assert next(iter(line)) == "schema"
