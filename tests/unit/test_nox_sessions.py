"""perfkit.nox: the perf sessions a project's noxfile gets, and what the shared venv installs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nox
import pytest

from perfkit.commands.perf import perf
from perfkit.config import load_config
from perfkit.errors import ConfigError
from perfkit.nox import (
    STAMP_FILE,
    Install,
    ensure_shared_venv,
    perf_sessions,
    perfkit_requirement,
    requirement_from_direct_url,
    shared_install,
    with_extras,
)
from perfkit.run import Run


@pytest.fixture
def registry() -> Iterator[dict[str, Any]]:
    """nox's session registry, with what a test registered taken out again."""
    sessions = nox.registry._REGISTRY
    before = dict(sessions)
    yield sessions
    sessions.clear()
    sessions.update(before)


def test_perf_sessions_registers_one_session_per_scale_in_order(
    config_file: Path, registry: dict[str, Any]
) -> None:
    names = perf_sessions(config_file)
    assert names == ["perf-small", "perf-medium", "perf-large"]
    fn = registry["perf-medium"]
    assert "Performance run at scale 'medium' (daily)" in str(fn.__doc__)
    assert fn.venv_backend == "none"


def test_a_checkout_installs_itself_editable_with_the_test_extra(project_root: Path) -> None:
    args, watched = perfkit_requirement()
    assert args == ("-e", f"{project_root}[test]")
    assert watched == (project_root / "pyproject.toml",)


def test_pip_s_record_of_a_wheel_a_git_url_or_an_editable_folder_is_installed_again() -> None:
    wheel = "file:///tmp/dist/perfkit-0.1.0-py3-none-any.whl"
    assert requirement_from_direct_url({"url": wheel, "archive_info": {}}) == (
        (f"perfkit @ {wheel}",),
        (Path("/tmp/dist/perfkit-0.1.0-py3-none-any.whl"),),
    )
    git = {
        "url": "https://example.invalid/perfkit.git",
        "vcs_info": {"vcs": "git", "commit_id": "abc123"},
    }
    assert requirement_from_direct_url(git) == (
        ("perfkit @ git+https://example.invalid/perfkit.git@abc123",),
        (),
    )
    editable = {"url": "file:///src/perfkit", "dir_info": {"editable": True}}
    assert requirement_from_direct_url(editable) == (
        ("-e", "/src/perfkit"),
        (Path("/src/perfkit/pyproject.toml"),),
    )


def test_the_shared_venv_gets_the_extras_the_project_needs(project_root: Path) -> None:
    """pip's record of a wheel keeps no extras: an HTTP workload on psycopg (the home-care
    example) asks for perfkit[http,psycopg] again, whatever form the requirement takes."""
    homecare = load_config(project_root / "examples" / "homecare" / "scales.yaml", env={})
    assert shared_install(homecare).perfkit == ("-e", f"{project_root}[test,http,psycopg]")
    assert shared_install(load_config(project_root / "scales.yaml", env={})).perfkit == (
        "-e",
        f"{project_root}[test]",
    )
    extras = ("http", "psycopg")
    wheel = "perfkit @ file:///tmp/dist/perfkit-0.1.0-py3-none-any.whl"
    assert with_extras((wheel,), extras) == (
        "perfkit[http,psycopg] @ file:///tmp/dist/perfkit-0.1.0-py3-none-any.whl",
    )
    assert with_extras(("-e", "/src/perfkit"), extras) == ("-e", "/src/perfkit[http,psycopg]")
    assert with_extras(("perfkit==0.1.0",), ("http",)) == ("perfkit[http]==0.1.0",)
    assert with_extras(("perfkit[http] @ x",), extras) == ("perfkit[http,psycopg] @ x",)


def test_the_stamp_changes_with_the_requirements_and_skips_an_up_to_date_venv(
    tmp_path: Path,
) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("fastapi>=0.110\n")
    install = Install(perfkit=("perfkit==0.1.0",), requirements=requirements)
    first = install.stamp()
    requirements.write_text("fastapi>=0.111\n")
    assert install.stamp() != first

    venv = tmp_path / "perf"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "perfkit").write_text("")
    (venv / STAMP_FILE).write_text(install.stamp())
    # an up-to-date venv: nothing is run (the session is never touched)
    assert ensure_shared_venv(object(), venv, install) == venv / "bin" / "perfkit"


def test_perf_refuses_a_missing_tests_folder_before_touching_the_database(
    tmp_path: Path,
) -> None:
    config = tmp_path / "scales.yaml"
    config.write_text("scales: {small: {offices: 1}}\nperf: {tests: [nowhere]}\n")
    with pytest.raises(ConfigError) as caught:
        perf(Run(load_config(config, env={})), scale="small")
    assert caught.value.key_path == "perf.tests"
