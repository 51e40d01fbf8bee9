"""``invoke seed`` as a user meets it: output, exit statuses and one-line errors."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from perfkit.testing import one_error_line, run_invoke, scratch_database
from perfkit.urls import password_of

pytestmark = pytest.mark.integration


def invoke(root: Path, *args: str, url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """:func:`run_invoke` against ``url`` (the external backend), state kept in ``tmp_path``."""
    env = {"TEST_DATABASE_URL": url, "PERFKIT_STATE_DIR": str(tmp_path)}
    return run_invoke(*args, root=root, env=env)


@pytest.fixture
async def cli_db(pg_url: str) -> AsyncIterator[str]:
    async with scratch_database(pg_url, "seed_cli_test", perfkit_made=True) as url:
        yield url


def test_seed_then_seed_again(project_root: Path, cli_db: str, tmp_path: Path) -> None:
    args = ("seed", "--scale", "small", "--mode", "plan", "--anchor", "2026-02-09")
    first = invoke(project_root, *args, url=cli_db, tmp_path=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "seeded" in first.stderr and "3,110 rows" in first.stderr
    assert "support_plan_cycles" in first.stderr and "swap" in first.stderr
    password = password_of(cli_db)
    assert password and password not in first.stdout + first.stderr

    again = invoke(project_root, *args, url=cli_db, tmp_path=tmp_path)
    assert again.returncode == 0 and "already holds this dataset" in again.stderr

    other = invoke(project_root, "seed", "--scale", "small", url=cli_db, tmp_path=tmp_path)
    assert other.returncode == 1
    assert "another dataset" in one_error_line(other) and "--reset" in other.stderr


def test_bad_input_is_one_line(project_root: Path, cli_db: str, tmp_path: Path) -> None:
    unknown = invoke(project_root, "seed", "--scale", "huge", url=cli_db, tmp_path=tmp_path)
    assert unknown.returncode == 2 and "unknown scale 'huge'" in one_error_line(unknown)

    mode = invoke(project_root, "seed", "-s", "small", "--mode", "plna", url=cli_db,
                  tmp_path=tmp_path)  # fmt: skip
    assert mode.returncode == 2 and "Did you mean 'plan'?" in one_error_line(mode)

    anchor = invoke(project_root, "seed", "-s", "small", "--anchor", "soon", url=cli_db,
                    tmp_path=tmp_path)  # fmt: skip
    assert anchor.returncode == 2 and "--anchor" in one_error_line(anchor)


async def test_reset_of_a_non_test_database_is_refused(
    project_root: Path, pg_url: str, tmp_path: Path
) -> None:
    name = "welfare_cli"
    async with scratch_database(pg_url, name) as url:
        done = invoke(project_root, "seed", "-s", "small", "--reset", url=url, tmp_path=tmp_path)
        assert done.returncode == 4
        assert f"--confirm-database {name}" in one_error_line(done)
        confirmed = invoke(
            project_root, "seed", "-s", "small", "--reset", "--confirm-database", name,
            url=url, tmp_path=tmp_path,
        )  # fmt: skip
        assert confirmed.returncode == 0, confirmed.stderr
