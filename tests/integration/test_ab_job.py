"""``perfkit ab``: base and candidate interleaved in one job, in a team's scratch repository.

The repository is laid out like examples/homecare: its own scales.yaml (the small scale, the
sample application's tables and data) and its own workload module, ``abapp/work.py``. HEAD~1
runs the deadline-alert batch; HEAD adds pure-Python busy work for twice the batch's time (x3,
no SQL). ``perfkit ab --base HEAD~1`` flags it (exit 6) and ``--base HEAD`` does not, on a
database of the session's private server. The workers' refusals (a base whose perfkit lacks
the contract, a workload that writes) are asked of a worker directly.
"""

from __future__ import annotations

import json
import signal
import subprocess
import textwrap
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from perfkit.ab import AbError, Worker
from perfkit.testing import (
    PrivateServer,
    one_error_line,
    run_perfkit,
    scratch_database,
    start_perfkit,
)

#: Timing verdicts: measured alone, after the tests that run in parallel (nox -s tests).
pytestmark = [pytest.mark.integration, pytest.mark.serial]

SCALES = """\
scales:
  small: {offices: 10, repeat: 20}
app:
  import_root: "."
  workloads:
    batch: {call: "abapp.work:batch"}
    writes: {call: "abapp.work:writes"}
  default_workload: batch
"""

WORK = '''\
"""The team's workloads."""

import time

from sqlalchemy import text

from perfkit.apps.welfare.batch import deadline_alerts
from perfkit.workload import WorkloadContext, workload


@workload("batch")
async def batch(ctx: WorkloadContext):
    """Deadline alerts, the team's way."""
    started = time.perf_counter()
    result = await deadline_alerts(ctx)
    SLOWDOWN
    return result


@workload("writes")
async def writes(ctx: WorkloadContext):
    """Touches a row (a writing workload)."""
    async with ctx.session_factory() as session:
        await session.execute(text("UPDATE offices SET name = name"))
        await session.commit()
    return 1
'''

FAST = "pass"
SLOW = textwrap.dedent("""\
    until = started + 3 * (time.perf_counter() - started)
        while time.perf_counter() < until:
            pass""")


@pytest.fixture(scope="module")
async def ab_db(pg: PrivateServer) -> AsyncIterator[str]:
    """The database both sides read (the name says "test": perfkit may seed it)."""
    async with scratch_database(pg.url, "perfkit_ab_test", perfkit_made=True) as url:
        yield url


def team_repo(root: Path, git: Callable[..., str]) -> Path:
    """The scratch repository: HEAD~1 the batch, HEAD the batch made x3 slower."""
    repo = root / "team"
    (repo / "abapp").mkdir(parents=True)
    (repo / "scales.yaml").write_text(SCALES, encoding="utf-8")
    (repo / ".gitignore").write_text(".perfkit/\n__pycache__/\n", encoding="utf-8")
    (repo / "abapp" / "__init__.py").write_text("", encoding="utf-8")
    work = repo / "abapp" / "work.py"
    git(repo, "init", "--quiet", "--initial-branch=main")
    for message, slowdown in (("the batch", FAST), ("x3 slower, no SQL added", SLOW)):
        work.write_text(WORK.replace("SLOWDOWN", slowdown), encoding="utf-8")
        git(repo, "add", "-A")
        git(repo, "commit", "--quiet", "-m", message)
    return repo


def ab(repo: Path, project_root: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_perfkit(
        "ab",
        "--config",
        str(repo / "scales.yaml"),
        *args,
        cwd=project_root,
        env={"PERFORMANCE_TEST_DATABASE_URL": url},
    )


def test_ab_flags_the_slowdown_head_adds_and_cleans_up(
    ab_db: str, project_root: Path, tmp_path: Path, git: Callable[..., str]
) -> None:
    repo = team_repo(tmp_path, git)
    done = ab(repo, project_root, ab_db, "--base", "HEAD~1", "--json")
    assert done.returncode == 6, done.stderr
    result = json.loads(done.stdout)
    assert result["ok"] is False and result["rounds"] == 20
    assert result["base"]["commit"] == git(repo, "rev-parse", "HEAD~1")
    assert result["candidate"]["commit"] == git(repo, "rev-parse", "HEAD")
    batch, statements = result["metrics"]
    assert batch["metric"] == "batch_seconds" and batch["decision"] == "regression"
    assert batch["ratio"] > 2 and batch["ci"][0] > 1.2 and batch["p_value"] < 0.01
    assert batch["sentence"].startswith("small: batch time (median) REGRESSED ×")
    assert statements["metric"] == "statements" and statements["decision"] == "unchanged"
    assert set(result["samples"]["base_statements"]) == {1}
    line = one_error_line(done)
    assert line.startswith("perfkit: performance regression against the base: small: batch")
    # the temporary worktree is gone
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_ab_against_the_same_commit_reports_no_regression(
    ab_db: str, project_root: Path, tmp_path: Path, git: Callable[..., str]
) -> None:
    repo = team_repo(tmp_path, git)
    done = ab(repo, project_root, ab_db, "--base", "HEAD", "--rounds", "10")
    assert done.returncode == 0, done.stderr
    headline, *metrics = done.stdout.splitlines()
    assert headline.endswith("10 rounds interleaved: no regression")
    assert metrics[0].startswith("  small: batch time (median) ")
    assert "REGRESSED" not in done.stdout
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_the_worktree_is_removed_when_the_job_is_stopped(
    ab_db: str, project_root: Path, tmp_path: Path, git: Callable[..., str], sig: int,
    status: int,
) -> None:  # fmt: skip
    repo = team_repo(tmp_path, git)
    scratch = tmp_path / "tmp"  # where the job makes its worktree's folder
    scratch.mkdir()
    job = start_perfkit(
        "ab", "--config", str(repo / "scales.yaml"), "--base", "HEAD~1", "--rounds", "10000",
        cwd=project_root, env={"PERFORMANCE_TEST_DATABASE_URL": ab_db, "TMPDIR": str(scratch)},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while git(repo, "worktree", "list", "--porcelain").count("worktree ") < 2:
            assert job.poll() is None and time.monotonic() < deadline, job.communicate()
            time.sleep(0.05)
        job.send_signal(sig)
        _, stderr = job.communicate(timeout=120)
    finally:
        if job.poll() is None:
            job.kill()
            job.communicate()
    assert job.returncode == status, stderr
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert list(scratch.glob("perfkit-ab-*")) == []


def test_an_unknown_base_is_one_line_and_exit_2(
    ab_db: str, project_root: Path, tmp_path: Path, git: Callable[..., str]
) -> None:
    repo = team_repo(tmp_path, git)
    done = ab(repo, project_root, ab_db, "--base", "no-such-branch")
    assert done.returncode == 2
    assert "git cannot resolve 'no-such-branch'" in one_error_line(done)


def test_a_base_whose_perfkit_lacks_the_contract_is_refused(tmp_path: Path) -> None:
    """A tree holding a perfkit without load_application: the worker says so, not a
    traceback (the tree comes first on the worker's sys.path)."""
    tree = tmp_path / "old"
    (tree / "perfkit").mkdir(parents=True)
    (tree / "perfkit" / "__init__.py").write_text("", encoding="utf-8")
    (tree / "perfkit" / "config.py").write_text("def load_config(*a, **k): ...\n")
    (tree / "perfkit" / "app.py").write_text("", encoding="utf-8")
    setup = {"op": "setup", "config": "x", "url": "y", "workload": "z", "day": "2026-01-05"}
    with Worker.start("base", tree) as worker, pytest.raises(AbError) as info:
        worker.ask(setup)
    assert info.value.kind == "contract" and info.value.exit_code == 2
    assert "perfkit.app" in info.value.message and "load_application" in info.value.message


async def test_a_writing_workload_is_refused(
    ab_db: str, project_root: Path, tmp_path: Path, git: Callable[..., str]
) -> None:
    repo = team_repo(tmp_path, git)
    done = ab(repo, project_root, ab_db, "--base", "HEAD", "--workload", "writes")
    assert done.returncode == 2, done.stderr
    assert "perfkit ab measures read-only workloads; this one writes" in one_error_line(done)
