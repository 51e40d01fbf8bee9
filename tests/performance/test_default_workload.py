"""The application's default workload at every scale, written on perfkit's pytest plugin.

What ``nox -s perf-<scale>`` measures for an application other than the sample one (scales.yaml
``app:``; ``PERFKIT_CONFIG`` names the file): its ``app.default_workload``, called as scales.yaml
says, with the budgets of ``app.workloads.<name>.budgets`` or the scale's. The sample application
is measured by ``test_batch_at_scale.py`` instead (conftest.py collects one of the two).
"""

from __future__ import annotations

import pytest

from perfkit.pipeline import Timed
from perfkit.pytest_support import PerfMeasure

pytestmark = pytest.mark.performance


async def test_default_workload(perf_workload: Timed, perf_measure: PerfMeasure) -> None:
    """The application's default workload (its own label shows in the summary)."""
    await perf_measure(perf_workload)
