"""The application's default workload at every scale, written on perfkit's pytest plugin.

What ``perfkit perf --scale <name>`` (``nox -s perf-<name>``) measures for every application:
its ``app.default_workload``, called as scales.yaml says, with the budgets of
``app.workloads.<name>.budgets`` or the scale's. perfkit's own checkout measures the sample
application with ``tests/performance/test_batch_at_scale.py`` instead (its conftest deselects
this test).
"""

from __future__ import annotations

import pytest

from perfkit.pipeline import Timed
from perfkit.pytest_support import PerfMeasure

# run by pytest-asyncio in any of its modes (a project without asyncio settings: strict)
pytestmark = [pytest.mark.performance, pytest.mark.asyncio]


async def test_default_workload(perf_workload: Timed, perf_measure: PerfMeasure) -> None:
    """The application's default workload (its own label shows in the summary)."""
    await perf_measure(perf_workload)
