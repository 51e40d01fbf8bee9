"""The home-care agency's data recipe: perfkit's entities mapped onto its seven tables.

perfkit makes one deterministic world (:mod:`perfkit.datagen.entities`); this module only says
which entity becomes which row:

========================  ==========  ===================================================
table                     entity      rows
========================  ==========  ===================================================
``agencies``              office      one per office; ``created_by`` is its owner
``caregivers``            staff       one per staff member; roles renamed, preferences kept
``clients``               recipient   one per recipient
``agency_caregivers``     staff       one per caregiver who is still a member of the home
                                      agency: the last caregiver of each agency has left it
``care_plans``            plan        one per plan
``review_cycles``         cycle       one per cycle; the ``SERIAL`` key is the cycle's
                                      number across the dataset (``entity_number``)
``documents``             cycle       two per open cycle (assessment, care plan), three per
                                      closed one (plus its monitoring report)
========================  ==========  ===================================================

Every NOT NULL column the application gives no default for is filled (``Const`` where every
row holds the same value). Open cycles' assessments are left unsigned for one cycle in
:data:`UNSIGNED_EVERY`, so the reminder batch has both of its reasons to remind. The dates
that move with the calendar on a restore are the review cycles' and the documents'; birth
dates and membership dates are facts about the past and stay.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from perfkit.config import DataConfig, DataMode, Scale
from perfkit.datagen.recipe import Computed, Const, Recipe, Row, Source, TableRecipe

#: Bump whenever a change here changes the rows a seed makes.
GENERATOR_VERSION = 1

#: perfkit's staff roles -> the agency's caregiver roles.
ROLES: Mapping[str, str] = {
    "owner": "owner",
    "service_manager": "coordinator",
    "employee": "aide",
}
#: perfkit's cycle states -> the agency's review states.
REVIEW_STATUS: Mapping[str, str] = {"active": "open", "completed": "closed"}
#: One open cycle in this many has an unsigned assessment (by its number in the dataset).
UNSIGNED_EVERY = 5
#: Days from a cycle's start to each deliverable's upload (the monitoring report: before the
#: cycle's due date); documents are signed two days after their upload.
UPLOAD_AFTER_START = {"assessment": 7, "care_plan": 14}
MONITORING_BEFORE_DUE = 7
SIGNED_AFTER_UPLOAD = 2
#: Membership of the home agency began this many days before the data's day, per position.
JOINED_DAYS_PER_POSITION = 45

Block = Mapping[str, Sequence[Any]]


def _roles(block: Block) -> list[str]:
    return [ROLES[role] for role in block["role"]]


def _review_status(block: Block) -> list[str]:
    return [REVIEW_STATUS[status] for status in block["status"]]


def _cycle_key(block: Block) -> Sequence[int]:
    """The ``SERIAL`` key of a review cycle: the cycle's 1-based number in the dataset."""
    return block["entity_number"]


def _named(columns: Sequence[str]) -> dict[str, Source]:
    """The columns of a table whose ``rows`` function gives every value, in row order (the
    mapping only names them)."""
    return {name: name for name in columns}


# -- agency_caregivers --------------------------------------------------------------------------


def memberships_per_office(scale: Scale, data: DataConfig, mode: DataMode) -> int:
    """Every caregiver of an agency but its last one (who left), or the only one."""
    return max(1, scale.staff_per_office - 1)


#: The columns :func:`memberships` fills, in row order.
MEMBERSHIP_COLUMNS = ("agency_id", "caregiver_id", "is_primary", "joined_on")


def memberships(block: Block) -> Iterator[Row]:
    """A :data:`MEMBERSHIP_COLUMNS` row for each caregiver still a member of the home agency."""
    last = max(block["position"], default=0)
    for agency_id, caregiver_id, position, created in zip(
        block["office_id"], block["id"], block["position"], block["created_at"], strict=True
    ):
        if position == last and last > 0:
            continue
        joined = created.date() - dt.timedelta(days=JOINED_DAYS_PER_POSITION * (position + 1))
        yield (agency_id, caregiver_id, True, joined)


# -- documents ----------------------------------------------------------------------------------


def documents_per_office(scale: Scale, data: DataConfig, mode: DataMode) -> int:
    """Two documents per open cycle, three per closed one (see :func:`documents`)."""
    closed = data.realistic.finished_cycles_per_plan if mode == "realistic" else 0
    return scale.recipients_per_office * (2 * scale.cycles_per_plan + 3 * closed)


def _document_id(cycle_id: uuid.UUID, kind: str) -> uuid.UUID:
    """A document's id, made from its cycle's id and its kind (the same on every seed)."""
    return uuid.uuid5(cycle_id, kind)


#: The columns :func:`documents` fills, in row order.
DOCUMENT_COLUMNS = (
    "id",
    "review_cycle_id",
    "kind",
    "title",
    "signed",
    "uploaded_on",
    "signed_on",
    "created_at",
)


def documents(block: Block) -> Iterator[Row]:
    """The :data:`DOCUMENT_COLUMNS` rows of each cycle's deliverables."""
    for cycle_id, number, status, start, due, created in zip(
        block["id"],
        block["entity_number"],
        block["status"],
        block["start_date"],
        block["end_date"],
        block["created_at"],
        strict=True,
    ):
        closed = status == "completed"
        uploads = {kind: start + dt.timedelta(days=d) for kind, d in UPLOAD_AFTER_START.items()}
        if closed:
            uploads["monitoring_report"] = due - dt.timedelta(days=MONITORING_BEFORE_DUE)
        for kind, uploaded in uploads.items():
            signed = closed or kind != "assessment" or number % UNSIGNED_EVERY != 0
            signed_on = uploaded + dt.timedelta(days=SIGNED_AFTER_UPLOAD) if signed else None
            title = f"{kind.replace('_', ' ').capitalize()} #{number}"
            yield (
                _document_id(cycle_id, kind),
                number,
                kind,
                title,
                signed,
                uploaded,
                signed_on,
                created,
            )


#: The recipe the application hands perfkit, tables parents first (the schema's order).
RECIPE = Recipe(
    version=GENERATOR_VERSION,
    tables=(
        TableRecipe(
            "agencies",
            "office",
            {
                "id": "id",
                "name": "name",
                "phone": "phone_number",
                "created_by": "owner_id",
                "is_active": Const(True),
                "created_at": "created_at",
            },
        ),
        TableRecipe(
            "caregivers",
            "staff",
            {
                "id": "id",
                "home_agency_id": "office_id",
                "full_name": "full_name",
                "email": "email",
                "role": Computed(_roles),
                "is_active": Const(True),
                "reminders_enabled": "email_notification",
                "reminder_lead_days": "email_threshold_days",
                "created_at": "created_at",
            },
        ),
        TableRecipe(
            "clients",
            "recipient",
            {
                "id": "id",
                "agency_id": "office_id",
                "full_name": "full_name",
                "date_of_birth": "date_of_birth",
                "is_active": Const(True),
                "created_at": "created_at",
            },
        ),
        TableRecipe(
            "agency_caregivers",
            "staff",
            _named(MEMBERSHIP_COLUMNS),
            rows=memberships,
            rows_per_office=memberships_per_office,
        ),
        TableRecipe(
            "care_plans",
            "plan",
            {
                "id": "id",
                "agency_id": "office_id",
                "client_id": "recipient_id",
                "caregiver_id": "responsible_staff_id",
                "is_archived": Const(False),
                "created_at": "created_at",
            },
        ),
        TableRecipe(
            "review_cycles",
            "cycle",
            {
                "id": Computed(_cycle_key),
                "care_plan_id": "plan_id",
                "cycle_number": "cycle_number",
                "starts_on": "start_date",
                "due_on": "end_date",
                "status": Computed(_review_status),
                "is_latest": "is_latest",
                "created_at": "created_at",
            },
        ),
        TableRecipe(
            "documents",
            "cycle",
            _named(DOCUMENT_COLUMNS),
            rows=documents,
            rows_per_office=documents_per_office,
        ),
    ),
    dated_columns={
        "review_cycles": ("starts_on", "due_on"),
        "documents": ("uploaded_on", "signed_on"),
    },
)
