"""Wiring only: which test measures the default workload in perfkit's own checkout.

The fixtures (``perf_scale``, ``perf_data``, ``perf_measure``...) come from perfkit's pytest
plugin (:mod:`perfkit.pytest_plugin`). ``perfkit perf --scale <name>`` (``nox -s perf-<name>``)
runs this folder (scales.yaml ``perf.tests``) and perfkit's built-in tests
(:mod:`perfkit.perf_tests`: the default workload, the HTTP workloads). The sample application
is measured by the plan's test, ``test_batch_at_scale.py`` (the worked example in
docs/performance-tests.md), so the built-in ``test_default_workload`` is deselected for it; any
other application (``PERFKIT_CONFIG=its/scales.yaml``) by the built-in one, and the plan's test
is not collected. Exactly one of the two runs, so a run records one measurement per scale.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from perfkit.config import AppConfig, Config
from perfkit.pytest_plugin import perf_config

SAMPLE_APP_TEST = "test_batch_at_scale.py"
#: The built-in test of the default workload (:mod:`perfkit.perf_tests`).
BUILT_IN_DEFAULT = "perfkit.perf_tests.test_default_workload"


def is_sample_application(cfg: Config) -> bool:
    """Whether scales.yaml's ``app:`` measures the sample application's batch on its tables."""
    sample, app = AppConfig(), cfg.app
    default = app.call_workloads.get(app.default_workload)
    return (
        app.schema.metadata == sample.schema.metadata
        and default is not None
        and default.call == sample.call_workloads[sample.default_workload].call
    )


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """The plan's test only for the sample application."""
    if collection_path.name != SAMPLE_APP_TEST:
        return None
    return not is_sample_application(perf_config(config))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """For the sample application, the plan's test measures the default workload: the
    built-in test of it is deselected."""
    if not is_sample_application(perf_config(config)):
        return
    kept = [i for i in items if getattr(i.module, "__name__", "") != BUILT_IN_DEFAULT]  # type: ignore[attr-defined]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept
