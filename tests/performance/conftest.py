"""Wiring only: which test measures the application scales.yaml configures.

The fixtures (``perf_scale``, ``perf_data``, ``perf_measure``...) come from perfkit's pytest
plugin (:mod:`perfkit.pytest_plugin`), installed with perfkit. The sample application is measured
by the plan's test, ``test_batch_at_scale.py`` (the worked example in
docs/performance-tests.md); any other application (``PERFKIT_CONFIG=its/scales.yaml nox -s
perf-small``) by its default workload, ``test_default_workload.py``. Exactly one of the two is
collected, so a run records one measurement per scale.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from perfkit.config import AppConfig, Config
from perfkit.pytest_plugin import perf_config

SAMPLE_APP_TEST = "test_batch_at_scale.py"
ANY_APP_TEST = "test_default_workload.py"


def is_sample_application(cfg: Config) -> bool:
    """Whether scales.yaml's ``app:`` measures the sample application's batch on its tables."""
    sample, app = AppConfig(), cfg.app
    return (
        app.schema.metadata == sample.schema.metadata
        and app.workloads[app.default_workload].call
        == sample.workloads[sample.default_workload].call
    )


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Collect the plan's test for the sample application, the default workload's otherwise."""
    if collection_path.name not in (SAMPLE_APP_TEST, ANY_APP_TEST):
        return None
    return (collection_path.name == SAMPLE_APP_TEST) != is_sample_application(perf_config(config))
