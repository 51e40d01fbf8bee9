"""The deadline-alert batch's pure helpers (the batch itself runs against a real server in
tests/integration/test_deadline_alerts.py)."""

from __future__ import annotations

import datetime as dt

from perfkit.apps.welfare.batch import japanese_date


def test_japanese_date() -> None:
    assert japanese_date(dt.date(2026, 2, 9)) == "2026年2月9日（月）"
