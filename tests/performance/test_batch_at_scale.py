"""The plan's scalability test of the deadline-alert batch, written on perfkit's pytest plugin.

The worked example of docs/performance-tests.md ("Your own performance tests"), run against the
sample application: one test per scale of scales.yaml, staged by PERF_TEST_SCALE (``nox -s
perf-<scale>`` sets it). ``perf_data`` makes the scale's data ready by the cheapest route;
``perf_measure`` times the batch with warm-up and repeats, checks the budgets (seconds from
scales.yaml, one statement from the marker), appends the run record, and the summary at the end
shows elapsed time, e-mails, time per office, statements and memory per scale.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from perfkit.apps.welfare.batch import send_deadline_alert_emails
from perfkit.pytest_support import PerfData, PerfMeasure

pytestmark = pytest.mark.performance


@pytest.mark.perf_budget(statements=1)  # one SQL statement at every scale; seconds: scales.yaml
async def test_deadline_alerts(
    perf_data: PerfData, perf_session: AsyncSession, perf_today: dt.date, perf_measure: PerfMeasure
) -> None:
    """Deadline-alert e-mail batch (dry run): one digest per staff member due an alert."""
    run = await perf_measure(
        lambda: send_deadline_alert_emails(perf_session, dry_run=True, today=perf_today)
    )
    emails, staff = run.numbers["emails"], perf_data.rows["staffs"]
    assert emails == staff if perf_data.mode == "plan" else 0 < emails <= staff
