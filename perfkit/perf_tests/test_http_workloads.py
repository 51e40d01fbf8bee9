"""Every HTTP workload of scales.yaml (``app.workloads.<name>`` with ``kind: http``) under its
load at every scale, written on perfkit's pytest plugin: what ``nox -s perf-<scale>`` runs for
them. The budgets are the workload's at the scale (percentiles, errors, statements per
request); the record holds the percentiles, throughput and errors.
"""

from __future__ import annotations

import pytest

from perfkit.pytest_http import PerfLoad

# run by pytest-asyncio in any of its modes (a project without asyncio settings: strict)
pytestmark = [pytest.mark.performance, pytest.mark.asyncio]


async def test_http_workload(http_workload: str, perf_scale: str, perf_load: PerfLoad) -> None:
    """An HTTP workload of scales.yaml, under its load, with its budgets."""
    await perf_load(http_workload)
