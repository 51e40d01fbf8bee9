"""The front end's errors that need no database: exit statuses and one-line messages.

Each test runs a ``perfkit`` command in process (:func:`perfkit.testing.run_perfkit`) that
stops before it reaches a server (a bad config, a bad environment value, a server that is not
there). The commands that do reach one are in tests/integration/test_cli.py and
test_seed_cli.py; the process itself (exit statuses, stdout and stderr apart, signals) in
tests/integration/test_console.py and test_hostile_cli.py.
"""

from __future__ import annotations

from pathlib import Path

from perfkit.testing import free_port, one_error_line, run_perfkit


def test_config_error_is_one_line_with_exit_status_2(project_root: Path, tmp_path: Path) -> None:
    bad = tmp_path / "scales.yaml"
    bad.write_text("scales:\n  small: {ofices: 10}\n")
    done = run_perfkit("db-status", "--config", str(bad), cwd=project_root)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "scales.small.ofices" in lines[0] and "Did you mean 'offices'?" in lines[0]


def test_bad_environment_value_is_exit_status_2(project_root: Path) -> None:
    done = run_perfkit("db-status", cwd=project_root, env={"PERFKIT_PORT": "lots"})
    assert done.returncode == 2
    assert "PERFKIT_PORT" in done.stderr and "Traceback" not in done.stderr


def test_seed_with_the_database_down_is_one_line(project_root: Path, tmp_path: Path) -> None:
    url = f"postgresql://postgres:secret-pw@127.0.0.1:{free_port()}/perfkit_test"
    done = run_perfkit(
        "seed", "--scale", "small", cwd=project_root,
        env={"TEST_DATABASE_URL": url, "PERFKIT_STATE_DIR": str(tmp_path)},
    )  # fmt: skip
    assert done.returncode == 3
    line = one_error_line(done)
    assert "cannot connect" in line and "secret-pw" not in line
