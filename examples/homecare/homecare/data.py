"""What the agency's team knows better than perfkit's inference: the functions scales.yaml's
``app.data`` calls (``fn(row) -> value``).

perfkit fills every table from the catalogue; scales.yaml says how many rows (per agency,
per caregiver, per client...) and overrides the columns whose values carry the application's
rules. These few need the row's place among its parent's rows (``row["_rank"]``, from 0;
``row["_parent"]``, the parent's row number), so they are functions; everything else is a
constant, a choice, dates counted from the data's day, or SQL over the row's parents.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Caregivers of an agency by their rank in it: the first owns it, the next two coordinate,
#: the others are aides.
COORDINATORS = 2
#: Every review cycle has this many deliverables, by rank: its assessment, the care plan,
#: the monitoring report.
DOCUMENT_KINDS = ("assessment", "care_plan", "monitoring_report")
#: One latest cycle in this many has an unsigned assessment (by the cycle's row number).
UNSIGNED_EVERY = 5


def role(row: Mapping[str, Any]) -> str:
    """caregivers.role: ``owner``, then ``COORDINATORS`` coordinators, then aides."""
    rank = int(row["_rank"])
    return "owner" if rank == 0 else "coordinator" if rank <= COORDINATORS else "aide"


def cycle_number(row: Mapping[str, Any]) -> int:
    """review_cycles.cycle_number: 1 for the earlier cycle, 2 for the latest."""
    return int(row["_rank"]) + 1


def is_latest(row: Mapping[str, Any]) -> bool:
    """review_cycles.is_latest: the second cycle of each plan."""
    return int(row["_rank"]) == 1


def review_status(row: Mapping[str, Any]) -> str:
    """review_cycles.status: the latest cycle is open, the earlier one closed."""
    return "open" if is_latest(row) else "closed"


def document_kind(row: Mapping[str, Any]) -> str:
    """documents.kind: one of each deliverable per cycle ((review_cycle_id, kind) is unique)."""
    return DOCUMENT_KINDS[int(row["_rank"])]


def signed(row: Mapping[str, Any]) -> bool:
    """documents.signed: every document, except the assessment of one cycle in
    ``UNSIGNED_EVERY`` (so the batch has both of its reasons to remind)."""
    return int(row["_rank"]) != 0 or int(row["_parent"]) % UNSIGNED_EVERY != 0
