"""Which built-in test runs: the default workload's, unless it is an HTTP workload (the HTTP
workloads' test runs it then); the HTTP workloads' test only when scales.yaml has HTTP workloads,
one test per workload, in the file's order.

A project whose own tests measure the default workload themselves deselects
``test_default_workload`` in its conftest (perfkit's own ``tests/performance/conftest.py``
does, for the sample application), so that a run records one measurement per scale.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from perfkit.pytest_plugin import perf_config

DEFAULT_WORKLOAD_TEST = "test_default_workload.py"
HTTP_TEST = "test_http_workloads.py"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """The HTTP workloads' test only when scales.yaml has some; the default workload's unless
    that workload is an HTTP one."""
    if collection_path.name == HTTP_TEST:
        return not perf_config(config).app.http_workloads
    if collection_path.name == DEFAULT_WORKLOAD_TEST:
        app = perf_config(config).app
        return app.default_workload in app.http_workloads
    return None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One ``test_http_workload`` test per HTTP workload of scales.yaml, in the file's order."""
    if "http_workload" not in metafunc.fixturenames:
        return
    names = list(perf_config(metafunc.config).app.http_workloads)
    metafunc.parametrize("http_workload", [pytest.param(n, id=n) for n in names])
