"""The commands given bad URLs, ports and names: exit 2, one line, no secret, no traceback (in
process: :func:`perfkit.testing.run_perfkit`).

No server is started: every case here is refused while the config loads, or (for a URL whose
only fault is where it keeps its password) fails to connect to a port nothing listens on.
"""

from __future__ import annotations

import socket
import subprocess
import textwrap
from pathlib import Path

import pytest

from perfkit.testing import run_perfkit

pytestmark = pytest.mark.integration

SECRET = "Sup3rSecretPw"

#: (TEST_DATABASE_URL, the parts of it that must never be shown)
BAD_URLS = [
    pytest.param("postgresql://u:p@ss w0rd@127.0.0.1:5/x", ("ss w0rd", "p@ss"), id="space-and-at"),
    pytest.param(f"postgresql://u:{SECRET}@x@127.0.0.1:5/x", (SECRET,), id="two-at-signs"),
    pytest.param(f"postgresql://u:{SECRET}@127.0.0.1:70000/x", (SECRET,), id="port-70000"),
    pytest.param(f"postgresql://u:{SECRET}@127.0.0.1:abc/x", (SECRET,), id="port-not-a-number"),
    pytest.param(f"postgresql://u:{SECRET}#1@127.0.0.1:5/x", (SECRET,), id="hash-in-password"),
    pytest.param(f"postgresql://u:{SECRET}/1@127.0.0.1:5/x", (SECRET,), id="slash-in-password"),
    pytest.param(f"postgresql://u:{SECRET}@127.0.0.1:5/" + "d" * 64, (SECRET,), id="long-name"),
]


def invoke(root: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``perfkit <args>`` from the project folder as a user would, with ``env`` on top (of
    :func:`perfkit.testing.clean_env`: no ``PERFKIT_*``, no database URL)."""
    return run_perfkit(*args, cwd=root, env=env)


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """A private state folder, so nothing is written into the project."""
    state = tmp_path / "state"
    state.mkdir()
    return state


def closed_port() -> int:
    """A port nothing listens on (bound once, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def assert_refused(done: subprocess.CompletedProcess[str], *secrets: str) -> str:
    """Exit status 2, one line on stderr, no traceback, none of ``secrets``; returns stderr."""
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "Traceback" not in output
    assert done.stderr.startswith("perfkit: "), output
    assert len(done.stderr.strip().splitlines()) == 1, output
    for secret in secrets:
        assert secret not in output
    return done.stderr


@pytest.mark.parametrize("task", ["db-status", "db-up", "db-url", "db-down"])
@pytest.mark.parametrize(("url", "secrets"), BAD_URLS)
def test_an_ambiguous_url_is_refused_in_one_line(
    project_root: Path, state_dir: Path, task: str, url: str, secrets: tuple[str, ...]
) -> None:
    env = {"TEST_DATABASE_URL": url, "PERFKIT_STATE_DIR": str(state_dir)}
    err = assert_refused(invoke(project_root, task, env=env), url, *secrets)
    assert "TEST_DATABASE_URL" in err
    assert list(state_dir.iterdir()) == []


def test_seed_refuses_an_ambiguous_url_too(project_root: Path, state_dir: Path) -> None:
    url = f"postgresql://u:{SECRET}@perf@127.0.0.1:5/x_test"
    env = {"PERFORMANCE_TEST_DATABASE_URL": url, "PERFKIT_STATE_DIR": str(state_dir)}
    err = assert_refused(invoke(project_root, "seed", "--scale", "small", env=env), url, SECRET)
    assert "PERFORMANCE_TEST_DATABASE_URL" in err
    assert "percent-encode" in err


@pytest.mark.parametrize("args", [("explain", "--scale", "small"), ("prepare", "--scale", "small")])
@pytest.mark.parametrize("query", ["dbname=shop_prod", "database=shop_prod", "host=prod.example"])
def test_a_url_whose_query_names_another_target_is_refused(
    project_root: Path, state_dir: Path, args: tuple[str, ...], query: str
) -> None:
    """Issue 18: checked as perf_test, while psycopg (``?dbname=``) and SQLAlchemy's asyncpg
    dialect (``?database=``) would connect to shop_prod and commit there."""
    url = f"postgresql://u:{SECRET}@127.0.0.1:5/perf_test?{query}"
    env = {"PERFORMANCE_TEST_DATABASE_URL": url, "PERFKIT_STATE_DIR": str(state_dir)}
    err = assert_refused(invoke(project_root, *args, env=env), url, SECRET)
    assert "PERFORMANCE_TEST_DATABASE_URL" in err
    assert list(state_dir.iterdir()) == []


@pytest.mark.parametrize("port", ["70000", "0x1561", "abc", "0", "05473"])
@pytest.mark.parametrize("task", ["db-status", "db-url"])
def test_perfkit_port_must_be_decimal_1_to_65535(
    project_root: Path, state_dir: Path, port: str, task: str
) -> None:
    env = {"PERFKIT_PORT": port, "PERFKIT_STATE_DIR": str(state_dir), "PERFKIT_BACKEND": "native"}
    err = assert_refused(invoke(project_root, task, env=env))
    assert "PERFKIT_PORT" in err
    assert ":5473/" not in err  # 0x1561 is not read as hex


@pytest.mark.parametrize("port", ["70000", "0x1561"])
def test_a_port_flag_is_refused_in_one_line(project_root: Path, state_dir: Path, port: str) -> None:
    env = {"PERFKIT_STATE_DIR": str(state_dir), "PERFKIT_BACKEND": "native"}
    assert "command line" in assert_refused(invoke(project_root, "db-url", "--port", port, env=env))


def test_a_database_name_over_63_bytes_gives_the_real_reason(
    project_root: Path, state_dir: Path
) -> None:
    env = {
        "PERFKIT_DATABASE": "perf_test_" + "データ" * 20,
        "PERFKIT_STATE_DIR": str(state_dir),
        "PERFKIT_BACKEND": "native",
    }
    err = assert_refused(invoke(project_root, "db-status", env=env))
    assert "63 bytes" in err
    assert "PERFKIT_DATABASE" in err
    assert "db-status" not in err  # not a hint about the server's state


def test_a_password_in_the_query_is_masked_by_db_status_and_db_up(
    project_root: Path, state_dir: Path, tmp_path: Path
) -> None:
    """A URL that parses fine but keeps its password in ``?password=``; nothing listens."""
    config = tmp_path / "scales.yaml"
    config.write_text(
        textwrap.dedent(
            """
            scales:
              small: {offices: 1}
            pool: {connect_timeout: 1}
            """
        ),
        encoding="utf-8",
    )
    url = f"postgresql://app@127.0.0.1:{closed_port()}/perf_test?password={SECRET}"
    env = {
        "TEST_DATABASE_URL": url,
        "PERFKIT_STATE_DIR": str(state_dir),
        "PERFKIT_CONFIG": str(config),
    }
    status = invoke(project_root, "db-status", env=env)
    up = invoke(project_root, "db-up", env=env)
    for done in (status, up):
        output = done.stdout + done.stderr
        assert "Traceback" not in output
        assert SECRET not in output
    assert status.returncode == 0 and "password=***" in status.stdout
    assert up.returncode == 3 and "password=***" in up.stderr
