"""The database lifecycle commands as a user meets them: exit codes, one-line errors, masked
passwords, results on stdout (in process: :func:`perfkit.testing.run_perfkit`)."""

from __future__ import annotations

import json
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from perfkit.testing import free_port, run_perfkit

pytestmark = pytest.mark.integration


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
    run_perfkit("db-down", "--remove-data", cwd=project_root, env=env)
    shutil.rmtree(state, ignore_errors=True)


def test_lifecycle_through_invoke_masks_the_password(
    project_root: Path, cli_env: dict[str, str]
) -> None:
    up = run_perfkit("db-up", cwd=project_root, env=cli_env)
    assert up.returncode == 0, up.stderr
    url = run_perfkit("db-url", cwd=project_root, env=cli_env)
    assert url.returncode == 0
    password = url.stdout.strip().split(":")[2].split("@")[0]
    assert len(password) >= 16
    assert url.stdout.strip().endswith(f":{cli_env['PERFKIT_PORT']}/perfkit_cli_test")

    again = run_perfkit("db-up", cwd=project_root, env=cli_env)
    assert again.returncode == 0 and "already running" in again.stdout
    status = run_perfkit("db-status", cwd=project_root, env=cli_env)
    assert status.returncode == 0 and "running" in status.stdout
    as_json = run_perfkit("db-status", "--json", cwd=project_root, env=cli_env)
    report = json.loads(as_json.stdout)
    assert report["running"] and report["backend"] == "native" and report["version"]
    assert report["url"].endswith(f":{cli_env['PERFKIT_PORT']}/perfkit_cli_test")
    assert report["details"]["port"] == cli_env["PERFKIT_PORT"]
    for done in (up, again, status, as_json):
        assert password not in done.stdout + done.stderr
        assert "***" in done.stdout

    down = run_perfkit("db-down", cwd=project_root, env=cli_env)
    assert down.returncode == 0 and "stopped" in down.stdout
    assert "stopped" in run_perfkit("db-status", cwd=project_root, env=cli_env).stdout


def test_port_conflict_message_through_invoke(project_root: Path, cli_env: dict[str, str]) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = str(blocker.getsockname()[1])
        done = run_perfkit("db-up", "--port", port, cwd=project_root, env=cli_env)
    assert done.returncode == 3
    assert f"port {port}" in done.stderr and "--port" in done.stderr
    assert "Traceback" not in done.stderr
