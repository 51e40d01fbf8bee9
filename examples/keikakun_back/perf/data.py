"""What keikakun's team knows better than inference: the overrides scales.yaml calls.

Each function is ``fn(row) -> value``: ``row["_index"]`` is the row's number in its table; in
a child table (``per``), ``row["_parent"]`` is its parent's row number and ``row["_rank"]`` its
rank among the parent's rows, from 0. scales.yaml's ``app.data`` gives every recipient two
support-plan cycles (rank 0 finished, rank 1 the latest: cycle row ``2 r + rank`` of recipient
``r``) and every cycle one deliverable. The values depend on row numbers only, so a seed is
deterministic.
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
    return int(row["_rank"]) == 1


def cycle_number(row: Mapping[str, Any]) -> int:
    """support_plan_cycles.cycle_number: 1 for the finished cycle, 2 for the latest."""
    return int(row["_rank"]) + 1


def deliverable_type(row: Mapping[str, Any]) -> str:
    """plan_deliverables.deliverable_type: an assessment sheet on every cycle, except the
    latest cycles of every tenth recipient (10 %): their assessment is not done yet, so the
    batch raises "assessment incomplete" alerts for them. The parent is cycle ``2 r + rank``."""
    recipient, rank = divmod(int(row["_parent"]), 2)
    missing = rank == 1 and recipient % 10 == 0
    return "final_plan_signed_pdf" if missing else "assessment_sheet"


def series_cycle(row: Mapping[str, Any]) -> int:
    """calendar_event_series.support_plan_cycle_id: cycle ``n + 1`` for series ``n`` (cycles
    are numbered from 1, and there are more cycles than series at every scale)."""
    return int(row["_index"]) + 1
