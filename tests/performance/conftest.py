"""Wiring only: which test measures the application scales.yaml configures.

The fixtures (``perf_scale``, ``perf_data``, ``perf_measure``...) come from perfkit's pytest
plugin (:mod:`perfkit.pytest_plugin`), installed with perfkit. The sample application is measured
by the plan's test, ``test_batch_at_scale.py`` (the worked example in
docs/performance-tests.md); any other application (``PERFKIT_CONFIG=its/scales.yaml nox -s
perf-small``) by its default workload, ``test_default_workload.py``. Exactly one of the two is
collected, so a run records one measurement per scale. Every HTTP workload of scales.yaml
(``kind: http``) runs under its load in ``test_http_workloads.py``, one test per workload.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from perfkit.config import AppConfig, Config
from perfkit.pytest_plugin import perf_config

SAMPLE_APP_TEST = "test_batch_at_scale.py"
ANY_APP_TEST = "test_default_workload.py"
HTTP_TEST = "test_http_workloads.py"


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
    """Collect the plan's test for the sample application, the default workload's otherwise;
    the HTTP workloads' test when scales.yaml has HTTP workloads."""
    if collection_path.name == HTTP_TEST:
        return not perf_config(config).app.http_workloads
    if collection_path.name not in (SAMPLE_APP_TEST, ANY_APP_TEST):
        return None
    cfg = perf_config(config)
    if collection_path.name == ANY_APP_TEST and cfg.app.default_workload in cfg.app.http_workloads:
        return True  # an HTTP default workload runs in the HTTP workloads' test
    return (collection_path.name == SAMPLE_APP_TEST) != is_sample_application(cfg)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One ``test_http_workloads`` test per HTTP workload of scales.yaml, in the file's order."""
    if "http_workload" not in metafunc.fixturenames:
        return
    names = list(perf_config(metafunc.config).app.http_workloads)
    params = [pytest.param(n, id=n) for n in names]
    metafunc.parametrize("http_workload", params)
