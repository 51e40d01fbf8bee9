"""What keikakun's team knows better than inference: the overrides scales.yaml calls.

Each function is ``fn(row) -> value``; ``row["_index"]`` is the row's number in its table.
The tables are laid out by scales.yaml's ``app.data``: every recipient has two support-plan
cycles, rows ``2 r`` (finished) and ``2 r + 1`` (the latest), and every cycle one deliverable
(same row number). The values depend on the row number only, so a seed is deterministic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: E-mail thresholds (days) the staff choose, in turn; keikakun's batch looks 30 days ahead.
EMAIL_THRESHOLDS = (30, 30, 30, 14, 60)


def preferences(row: Mapping[str, Any]) -> str:
    """staffs.notification_preferences: keikakun's five keys. 15 % of the staff have e-mail
    off, 30 % want push (system_notification) too, thresholds in turn from EMAIL_THRESHOLDS."""
    i = int(row["_index"])
    email = i % 20 >= 3
    push = i % 10 < 3
    return (
        f'{{"email_notification": {str(email).lower()}, "in_app_notification": true, '
        f'"push_threshold_days": 10, "system_notification": {str(push).lower()}, '
        f'"email_threshold_days": {EMAIL_THRESHOLDS[i % len(EMAIL_THRESHOLDS)]}}}'
    )


def latest_cycle(row: Mapping[str, Any]) -> bool:
    """support_plan_cycles.is_latest_cycle: the second cycle of each recipient."""
    return int(row["_index"]) % 2 == 1


def cycle_number(row: Mapping[str, Any]) -> int:
    """support_plan_cycles.cycle_number: 1 for the finished cycle, 2 for the latest."""
    return int(row["_index"]) % 2 + 1


def deliverable_type(row: Mapping[str, Any]) -> str:
    """plan_deliverables.deliverable_type: an assessment sheet on every cycle, except the
    latest cycles of every tenth recipient (10 %): their assessment is not done yet, so the
    batch raises "assessment incomplete" alerts for them."""
    i = int(row["_index"])
    missing = i % 2 == 1 and (i // 2) % 10 == 0
    return "final_plan_signed_pdf" if missing else "assessment_sheet"


def renewal_event(row: Mapping[str, Any]) -> str:
    """calendar_events.event_type: each cycle's renewal-deadline event (one per cycle, so
    the partial unique index on (support_plan_cycle_id, event_type) holds)."""
    return "renewal_deadline"


def null(row: Mapping[str, Any]) -> None:
    """NULL, as a call: a column of a unique key that is always NULL (perfkit's unique-key
    check counts a call's values as the team's own; PostgreSQL checks the key)."""
    return None


def series_cycle(row: Mapping[str, Any]) -> int:
    """calendar_event_series.support_plan_cycle_id: cycle ``n + 1`` for series ``n`` (cycles
    are numbered from 1, and there are more cycles than series at every scale)."""
    return int(row["_index"]) + 1
