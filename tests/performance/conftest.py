"""Wiring for the staged performance tests: scales from scales.yaml, the staging rule, the
run id shared by every scale of one run, and the summary printed at the end.

The logic lives in :mod:`perfkit.staging` (which scales run) and
:mod:`perfkit.pipeline` (what a scale's run does and prints).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from perfkit.config import Config, load_config
from perfkit.errors import PerfkitError
from perfkit.pipeline import ScaleRun
from perfkit.results import new_run_id
from perfkit.staging import scale_gates, target_scale

RUNS = pytest.StashKey[list[ScaleRun]]()
ROOT = Path(__file__).resolve().parents[2]


def _config() -> Config:
    """$PERFKIT_CONFIG, else the project's scales.yaml (wherever pytest was started from)."""
    try:
        return load_config(os.environ.get("PERFKIT_CONFIG") or ROOT / "scales.yaml")
    except PerfkitError as exc:
        raise pytest.UsageError(f"perfkit: {exc.one_line()}") from None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One test per scale of scales.yaml, in its order; scales past PERF_TEST_SCALE skip."""
    if "perf_scale" not in metafunc.fixturenames:
        return
    try:
        gates = scale_gates(_config(), target_scale(os.environ))
    except PerfkitError as exc:
        raise pytest.UsageError(f"perfkit: {exc.one_line()}") from None
    metafunc.parametrize(
        "perf_scale",
        [
            pytest.param(
                g.scale.name,
                id=g.scale.name,
                # each scale's test gets its own timeout (scales.yaml: scales.<name>.timeout)
                marks=(
                    pytest.mark.timeout(g.scale.timeout)
                    if g.runs
                    else pytest.mark.skip(reason=g.reason)
                ),
            )
            for g in gates
        ],
    )


@pytest.fixture(scope="session")
def perf_config() -> Config:
    """scales.yaml ($PERFKIT_CONFIG), with the environment's overrides."""
    return _config()


@pytest.fixture(scope="session")
def run_id() -> str:
    """One id for every scale measured in this pytest run."""
    return new_run_id()


@pytest.fixture(scope="session")
def perf_runs(request: pytest.FixtureRequest) -> list[ScaleRun]:
    """Where each test leaves its run, for the summary."""
    return request.config.stash.setdefault(RUNS, [])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    runs = terminalreporter.config.stash.get(RUNS, [])
    if not runs:
        return
    terminalreporter.section("performance")
    for run in runs:
        for line in run.summary_lines():
            terminalreporter.write_line(line)
