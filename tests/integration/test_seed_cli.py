"""``perfkit seed`` as a user meets it: output, exit statuses and one-line errors (in
process: :func:`perfkit.testing.run_perfkit`)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from perfkit.testing import one_error_line, run_perfkit, scratch_database
from perfkit.urls import password_of

pytestmark = pytest.mark.integration


def command(root: Path, *args: str, url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``perfkit <args>`` against ``url`` (the external backend), state kept in ``tmp_path``."""
    env = {"TEST_DATABASE_URL": url, "PERFKIT_STATE_DIR": str(tmp_path)}
    return run_perfkit(*args, cwd=root, env=env)


@pytest.fixture
async def cli_db(pg_url: str) -> AsyncIterator[str]:
    async with scratch_database(pg_url, "seed_cli_test", perfkit_made=True) as url:
        yield url


def test_seed_then_seed_again(project_root: Path, cli_db: str, tmp_path: Path) -> None:
    args = ("seed", "--scale", "small", "--mode", "plan", "--anchor", "2026-02-09")
    first = command(project_root, *args, url=cli_db, tmp_path=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "seeded" in first.stdout and "3,110 rows" in first.stdout  # results: stdout
    assert "support_plan_cycles" in first.stdout and "swap" in first.stdout
    password = password_of(cli_db)
    assert password and password not in first.stdout + first.stderr

    again = command(project_root, *args, url=cli_db, tmp_path=tmp_path)
    assert again.returncode == 0 and "already holds this dataset" in again.stdout
    as_json = command(project_root, *args, "--json", url=cli_db, tmp_path=tmp_path)
    report = json.loads(as_json.stdout)
    assert report["created"] is False and report["total_rows"] == 3110
    assert report["dataset"]["scale"] == "small" and report["dataset"]["mode"] == "plan"
    assert (
        report["rows"]["support_plan_cycles"]
        == report["dataset"]["row_counts"]["support_plan_cycles"]
    )
    assert password not in as_json.stdout and "***" in report["database"]

    other = command(project_root, "seed", "--scale", "small", url=cli_db, tmp_path=tmp_path)
    assert other.returncode == 1
    assert "another dataset" in one_error_line(other) and "--reset" in other.stderr


def test_bad_input_is_one_line(project_root: Path, cli_db: str, tmp_path: Path) -> None:
    unknown = command(project_root, "seed", "--scale", "huge", url=cli_db, tmp_path=tmp_path)
    assert unknown.returncode == 2 and "unknown scale 'huge'" in one_error_line(unknown)

    mode = command(project_root, "seed", "-s", "small", "--mode", "plna", url=cli_db,
                  tmp_path=tmp_path)  # fmt: skip
    assert mode.returncode == 2 and "Did you mean 'plan'?" in one_error_line(mode)

    anchor = command(project_root, "seed", "-s", "small", "--anchor", "soon", url=cli_db,
                    tmp_path=tmp_path)  # fmt: skip
    assert anchor.returncode == 2 and "--anchor" in one_error_line(anchor)


async def test_reset_of_a_non_test_database_is_refused(
    project_root: Path, pg_url: str, tmp_path: Path
) -> None:
    name = "welfare_cli"
    async with scratch_database(pg_url, name) as url:
        done = command(project_root, "seed", "-s", "small", "--reset", url=url, tmp_path=tmp_path)
        assert done.returncode == 4
        assert f"--confirm-database {name}" in one_error_line(done)
        confirmed = command(
            project_root, "seed", "-s", "small", "--reset", "--confirm-database", name,
            url=url, tmp_path=tmp_path,
        )  # fmt: skip
        assert confirmed.returncode == 0, confirmed.stderr
