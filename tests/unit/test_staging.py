"""The plan's staging rule, read from scales.yaml's order, and the perf session's steps."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from perfkit.config import load_config
from perfkit.errors import UnknownScaleError
from perfkit.staging import (
    PERFORMANCE_TESTS,
    perf_session_commands,
    perf_session_env,
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


def test_session_steps_are_db_up_prepare_then_pytest(config_file: Path) -> None:
    medium = load_config(config_file, env={}).scale("medium")
    steps = perf_session_commands(medium, pytest_args=["-k", "batch"])
    assert steps == [
        ("perfkit", "db-up"),
        ("perfkit", "prepare", "--scale", "medium"),
        ("pytest", "-m", "performance", "tests/performance", "--timeout=1800", "-k", "batch"),
    ]
    assert perf_session_env(medium) == {"PERF_TEST_SCALE": "medium"}


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

    medium = load_config(config_file, env={}).scale("medium")
    tool, *args = perf_session_commands(medium)[-1]
    assert tool == "pytest" and medium.timeout != 300
    assert timeout_in_effect(PERFORMANCE_TESTS) == "timeout: 300.0s"
    assert timeout_in_effect(*args) == f"timeout: {medium.timeout:.1f}s"
