"""The invoke front end as a user meets it: exit codes, one-line errors, masked passwords."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from perfkit.testing import free_port

pytestmark = pytest.mark.integration


def invoke(root: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``invoke`` as a user would, from the project folder, with ``env`` on top."""
    full = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TEST_DATABASE_URL", "PERFORMANCE_TEST_DATABASE_URL")
    }
    full.update(env)
    return subprocess.run(
        [sys.executable, "-m", "invoke", "--search-root", str(root), *args],
        capture_output=True, text=True, env=full, cwd=root, timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def cli_env(project_root: Path) -> Iterator[dict[str, str]]:
    """A private state folder and port for the CLI's own cluster; removed afterwards."""
    state = Path(tempfile.mkdtemp(prefix="perfkit-cli-"))
    env = {
        "PERFKIT_STATE_DIR": str(state),
        "PERFKIT_PORT": str(free_port()),
        "PERFKIT_BACKEND": "native",
        "PERFKIT_DATABASE": "perfkit_cli_test",
    }
    yield env
    invoke(project_root, "db-down", "--remove-data", env=env)
    shutil.rmtree(state, ignore_errors=True)


def test_lifecycle_through_invoke_masks_the_password(
    project_root: Path, cli_env: dict[str, str]
) -> None:
    up = invoke(project_root, "db-up", env=cli_env)
    assert up.returncode == 0, up.stderr
    url = invoke(project_root, "db-url", env=cli_env)
    assert url.returncode == 0
    password = url.stdout.strip().split(":")[2].split("@")[0]
    assert len(password) >= 16
    assert url.stdout.strip().endswith(f":{cli_env['PERFKIT_PORT']}/perfkit_cli_test")

    again = invoke(project_root, "db-up", env=cli_env)
    assert again.returncode == 0 and "already running" in again.stderr
    status = invoke(project_root, "db-status", env=cli_env)
    assert status.returncode == 0 and "running" in status.stderr
    for done in (up, again, status):
        assert password not in done.stdout + done.stderr
        assert "***" in done.stderr

    down = invoke(project_root, "db-down", env=cli_env)
    assert down.returncode == 0 and "stopped" in down.stderr
    assert "stopped" in invoke(project_root, "db-status", env=cli_env).stderr


def test_config_error_is_one_line_with_exit_status_2(project_root: Path, tmp_path: Path) -> None:
    bad = tmp_path / "scales.yaml"
    bad.write_text("scales:\n  small: {ofices: 10}\n")
    done = invoke(project_root, "db-status", "--config", str(bad), env={})
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "scales.small.ofices" in lines[0] and "Did you mean 'offices'?" in lines[0]


def test_bad_environment_value_is_exit_status_2(project_root: Path) -> None:
    done = invoke(project_root, "db-status", env={"PERFKIT_PORT": "lots"})
    assert done.returncode == 2
    assert "PERFKIT_PORT" in done.stderr and "Traceback" not in done.stderr


def test_port_conflict_message_through_invoke(project_root: Path, cli_env: dict[str, str]) -> None:
    import socket

    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = str(blocker.getsockname()[1])
        done = invoke(project_root, "db-up", "--port", port, env=cli_env)
    assert done.returncode == 3
    assert f"port {port}" in done.stderr and "--port" in done.stderr
    assert "Traceback" not in done.stderr
