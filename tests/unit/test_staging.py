"""The plan's staging rule, read from scales.yaml's order, and the perf session's steps."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from perfkit.config import load_config
from perfkit.errors import UnknownScaleError
from perfkit.staging import (
    BUILT_IN_TESTS,
    REWRITE_WARNING_IGNORED,
    perf_pytest_args,
    perf_session_env,
    perf_test_paths,
    scale_gates,
    target_scale,
)
from perfkit.testing import clean_env


def running(config_file: Path, target: str | None) -> list[str]:
    cfg = load_config(config_file, env={})
    return [g.scale.name for g in scale_gates(cfg, target) if g.runs]


def test_the_plans_rule_with_the_shipped_scales(config_file: Path) -> None:
    assert running(config_file, "small") == ["small"]
    assert running(config_file, "medium") == ["small", "medium"]
    assert running(config_file, "large") == ["small", "medium", "large"]


def test_order_comes_from_the_file_not_from_names(tmp_path: Path) -> None:
    path = tmp_path / "scales.yaml"
    path.write_text("scales:\n  zeta: {offices: 1}\n  alpha: {offices: 5}\n  mid: {offices: 9}\n")
    assert running(path, "alpha") == ["zeta", "alpha"]
    gates = scale_gates(load_config(path, env={}), "alpha")
    skipped = [g for g in gates if not g.runs]
    assert [g.scale.name for g in skipped] == ["mid"]
    assert "PERF_TEST_SCALE=alpha runs zeta, alpha only" in skipped[0].reason
    assert "staging rule" in skipped[0].reason


def test_unset_runs_nothing_and_says_how_to_run(config_file: Path) -> None:
    gates = scale_gates(load_config(config_file, env={}), None)
    assert [g.scale.name for g in gates] == ["small", "medium", "large"]
    assert not any(g.runs for g in gates)
    assert all("nox -s perf-<scale>" in g.reason for g in gates)
    assert target_scale({"PERF_TEST_SCALE": ""}) is None
    assert target_scale({"PERF_TEST_SCALE": "medium"}) == "medium"


def test_an_unknown_scale_lists_the_valid_ones(config_file: Path) -> None:
    with pytest.raises(UnknownScaleError) as caught:
        scale_gates(load_config(config_file, env={}), "huge")
    assert caught.value.valid == ("small", "medium", "large")


def test_perf_runs_the_projects_tests_and_the_built_in_ones_under_the_scales_timeout(
    config_file: Path, project_root: Path, tmp_path: Path
) -> None:
    cfg = load_config(config_file, env={})
    medium = cfg.scale("medium")
    args = perf_pytest_args(cfg, medium, pytest_args=["-k", "batch"])
    assert args == [
        "-m", "performance", "--timeout=1800", "-W", REWRITE_WARNING_IGNORED,
        "-p", "no:hypothesispytest",
        str(project_root / "tests" / "performance"),
        "--pyargs", BUILT_IN_TESTS, "-k", "batch",
    ]  # fmt: skip
    assert perf_session_env(medium) == {"PERF_TEST_SCALE": "medium"}
    # no perf.tests: the config's own folder (a team's perf/ folder)
    team = tmp_path / "perf" / "scales.yaml"
    team.parent.mkdir()
    team.write_text("scales: {small: {offices: 1}}\n", encoding="utf-8")
    team_cfg = load_config(team, env={})
    assert perf_test_paths(team_cfg) == (team.parent,)


def test_the_sessions_timeout_overrides_the_pytest_configs_default(
    config_file: Path, project_root: Path
) -> None:
    """pyproject.toml gives every test 300 s; a perf session's ``--timeout`` wins over that."""

    def timeout_in_effect(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", *args, "--collect-only", "-p", "no:cacheprovider"],
            cwd=project_root, env=clean_env(), capture_output=True, text=True, timeout=120,
            check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        (line,) = [line for line in done.stdout.splitlines() if line.startswith("timeout: ")]
        return line

    cfg = load_config(config_file, env={})
    medium = cfg.scale("medium")
    args = perf_pytest_args(cfg, medium)
    assert medium.timeout != 300
    assert timeout_in_effect("tests/performance") == "timeout: 300.0s"
    assert timeout_in_effect(*args) == f"timeout: {medium.timeout:.1f}s"
