"""keikakun_back's data recipe: perfkit's entities mapped onto the seven tables its
deadline-alert batch reads (``app.tasks.deadline_notification:send_deadline_alert_emails``).

The tables, in the order of the application's metadata (parents first), and where their rows
come from:

``staffs`` (one row per staff entity)
    names, e-mail (unique), password hash and notification preferences from perfkit; the role
    mapped onto keikakun's ``staffrole`` (``service_manager`` -> ``manager``); every NOT NULL
    column the application fills only in Python (``is_mfa_enabled``, ``is_locked``, ...) as a
    constant, since COPY sees no ORM defaults.
``welfare_recipients`` (one per recipient entity)
    the id is supplied (keikakun's default is Python's ``uuid.uuid4``, the table has none);
    furigana, which must not be NULL, is the romanized reading from perfkit's name pools;
    gender follows the given name.
``offices`` (one per office entity)
    ``created_by`` and ``last_modified_by`` are the office's owner (a staff member of the
    office, as when an owner signs up and creates it).
``push_subscriptions`` (the first :data:`PUSH_DEVICES` staff members of each office)
    one browser subscription each, so the batch's fifth query returns rows.
``office_staffs`` (one per staff entity)
    the staff member's membership of their office (keikakun has no ``staffs.office_id``).
``support_plan_cycles`` (one per cycle entity)
    keikakun has no plan table: a plan is a recipient within an office, carried on each
    cycle. ``next_renewal_deadline`` is the cycle's end date, ``is_latest_cycle`` its
    ``is_latest``. The id is an INTEGER (``SERIAL``): see :func:`cycle_ids`.
``plan_deliverables`` (the assessment sheets: most latest cycles have one)
    every latest cycle has its ``assessment_sheet`` except one plan in
    :data:`ASSESSMENT_MISSING_EVERY` per office; those raise the batch's "assessment
    incomplete" alerts. The uploader is the plan's responsible staff member.

Every row is test data (``is_test_data = true``): the batch runs with ``TESTING=1`` (see
scales.yaml), under which it reads only test offices. Timestamps are perfkit's ``created_at``
(midnight of the anchor day in Japan), so a seed is the same bytes whenever it runs; only the
cycles' two dates move with the calendar when a snapshot is restored.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from perfkit.config import DataConfig, DataMode, Scale
from perfkit.datagen import pools
from perfkit.datagen.recipe import Computed, Const, Recipe, Row, Source, TableRecipe

#: Bump whenever a change here changes the rows a seed makes.
GENERATOR_VERSION = 1

#: One block of entities: field name -> one value per entity.
Block = Mapping[str, Sequence[Any]]

#: Every generated row is test data: with TESTING=1 the batch reads only test offices.
TEST_DATA = Const(True)
#: perfkit's staff roles -> keikakun's ``staffrole`` labels.
ROLES = {"owner": "owner", "service_manager": "manager", "employee": "employee"}
#: keikakun's ``officetype`` of every office (就労継続支援B型, the commonest kind).
OFFICE_TYPE = "type_B_office"
#: ``support_plan_cycles.next_plan_start_date``: a number of days (the models' comment says 7).
NEXT_PLAN_START_DAYS = 7
#: Plan ``p``'s cycles get the ids just below ``p * CYCLE_ID_STRIDE`` (see :func:`cycle_ids`).
CYCLE_ID_STRIDE = 100
#: In each office, the plans at positions 0, 10, 20, ... have no assessment sheet yet.
ASSESSMENT_MISSING_EVERY = 10
#: Staff members per office (the first ones) with one push subscription each.
PUSH_DEVICES = 2

#: Romanized readings of perfkit's pool names, for the NOT NULL furigana columns.
READINGS: dict[str, str] = {**dict(pools.SURNAMES), **dict(pools.GIVEN_NAMES)}
#: perfkit's given-name pool lists the men's names first, then the women's.
MALE_GIVEN_NAMES = frozenset(name for name, _ in pools.GIVEN_NAMES[: len(pools.GIVEN_NAMES) // 2])

#: UUID bits that say "version 4, RFC 4122 variant"; a mask that leaves them alone.
_LAYOUT_BITS = (0xF << 76) | (0x3 << 62)


def _mask(purpose: str) -> int:
    digest = int(hashlib.sha256(f"keikakun_back/{purpose}".encode()).hexdigest()[:32], 16)
    return digest & ~_LAYOUT_BITS


_MEMBERSHIP_MASK = _mask("office_staffs")
_DEVICE_MASK = _mask("push_subscriptions")


def derived_ids(ids: Sequence[uuid.UUID], mask: int) -> list[uuid.UUID]:
    """Deterministic version-4 ids of rows that exist once per entity (a membership, a device):
    the entity's id with some random bits flipped, so different from it and still unique."""
    return [uuid.UUID(int=i.int ^ mask) for i in ids]


def reading(names: Sequence[str]) -> list[str]:
    """The romanized reading of each pool name (the name itself if it is not in the pools)."""
    return [READINGS.get(name, name) for name in names]


def by_rows(*columns: str) -> dict[str, Source]:
    """The columns of a table whose ``rows`` function makes its rows, in the order of the row
    tuples (a :class:`TableRecipe` with ``rows`` reads only the names)."""
    return dict.fromkeys(columns, Const(None))


def genders(given_names: Sequence[str]) -> list[str]:
    """keikakun's ``gendertype`` label that fits each given name."""
    return ["male" if name in MALE_GIVEN_NAMES else "female" for name in given_names]


def per_plan(scale: Scale, data: DataConfig, mode: DataMode) -> int:
    """Cycles per plan: current ones, plus the finished earlier ones in realistic mode."""
    finished = data.realistic.finished_cycles_per_plan if mode == "realistic" else 0
    return scale.cycles_per_plan + finished


def cycle_ids(block: Block) -> list[int]:
    """``support_plan_cycles.id`` (an INTEGER fed by a sequence): plan ``p``'s latest cycle is
    ``p * CYCLE_ID_STRIDE``, its earlier cycles count down from there. The deliverables, made
    from plan entities, know ``p`` but not the cycle entities' numbers; this way both tables
    compute the same id. A block holds whole plans, numbered 1 to ``n`` per plan, so the number
    of cycles per plan is the block's highest ``cycle_number``."""
    numbers: Sequence[int] = block["cycle_number"]
    cycles = max(numbers)
    return [
        ((entity - number) // cycles + 1) * CYCLE_ID_STRIDE - (cycles - number)
        for entity, number in zip(block["entity_number"], numbers, strict=True)
    ]


def _missing_assessment(position: int) -> bool:
    return position % ASSESSMENT_MISSING_EVERY == 0


def assessment_rows(block: Block) -> Iterator[Row]:
    """One ``assessment_sheet`` deliverable per plan whose latest cycle has one (plans in
    office order; the position restarts at each office)."""
    position = -1
    office = None
    for plan, office_id, staff, created in zip(
        block["entity_number"],
        block["office_id"],
        block["responsible_staff_id"],
        block["created_at"],
        strict=True,
    ):
        position = position + 1 if office_id == office else 0
        office = office_id
        if _missing_assessment(position):
            continue
        cycle = plan * CYCLE_ID_STRIDE
        yield (
            cycle,  # id: one sheet per cycle at most, so the cycle's id is free
            cycle,
            "assessment_sheet",
            f"perfkit/assessments/{cycle}.pdf",
            "assessment_sheet.pdf",
            staff,
            created,
            True,
        )


def assessments_per_office(scale: Scale, data: DataConfig, mode: DataMode) -> int:
    """Assessment sheets each office gets (exact: the loader checks the count)."""
    if per_plan(scale, data, mode) >= CYCLE_ID_STRIDE:
        raise ValueError(
            f"keikakun_back's recipe numbers at most {CYCLE_ID_STRIDE - 1} cycles per plan "
            f"(got {per_plan(scale, data, mode)}); raise CYCLE_ID_STRIDE"
        )
    plans = scale.recipients_per_office
    return sum(1 for position in range(plans) if not _missing_assessment(position))


def device_rows(block: Block) -> Iterator[Row]:
    """One push subscription for each of the first :data:`PUSH_DEVICES` staff per office."""
    ids = derived_ids(block["id"], _DEVICE_MASK)
    for device, staff, position, created in zip(
        ids, block["id"], block["position"], block["created_at"], strict=True
    ):
        if position < PUSH_DEVICES:
            yield (
                device,
                staff,
                f"https://push.example.invalid/perfkit/{staff}",
                "BPerfkitP256dhKeyPlaceholderNotARealKey0000000000000000000000000000000000000000",
                "perfkitAuthKey00",
                "perfkit",
                created,
                created,
            )


def devices_per_office(scale: Scale, data: DataConfig, mode: DataMode) -> int:
    return min(PUSH_DEVICES, scale.staff_per_office)


#: The recipe scales.yaml names (``app.recipe``), tables in the schema's order.
RECIPE = Recipe(
    version=GENERATOR_VERSION,
    tables=(
        TableRecipe(
            "staffs",
            "staff",
            {
                "id": "id",
                "email": "email",
                "hashed_password": "hashed_password",
                "last_name": "last_name",
                "first_name": "first_name",
                "last_name_furigana": Computed(lambda b: reading(b["last_name"])),
                "first_name_furigana": Computed(lambda b: reading(b["first_name"])),
                "full_name": "full_name",
                "role": Computed(lambda b: [ROLES[r] for r in b["role"]]),
                "is_email_verified": Const(True),
                "is_mfa_enabled": Const(False),
                "is_mfa_verified_by_user": Const(False),
                "mfa_backup_codes_used": Const(0),
                "failed_password_attempts": Const(0),
                "is_locked": Const(False),
                "is_deleted": Const(False),
                "created_at": "created_at",
                "updated_at": "created_at",
                "is_test_data": TEST_DATA,
                "notification_preferences": "notification_preferences",
            },
        ),
        TableRecipe(
            "welfare_recipients",
            "recipient",
            {
                "id": "id",
                "first_name": "first_name",
                "last_name": "last_name",
                "first_name_furigana": Computed(lambda b: reading(b["first_name"])),
                "last_name_furigana": Computed(lambda b: reading(b["last_name"])),
                "birth_day": "date_of_birth",
                "gender": Computed(lambda b: genders(b["first_name"])),
                "created_at": "created_at",
                "updated_at": "created_at",
                "is_test_data": TEST_DATA,
            },
        ),
        TableRecipe(
            "offices",
            "office",
            {
                "id": "id",
                "name": "name",
                "is_group": Const(False),
                "type": Const(OFFICE_TYPE),
                "address": "address",
                "phone_number": "phone_number",
                "created_by": "owner_id",
                "last_modified_by": "owner_id",
                "created_at": "created_at",
                "updated_at": "created_at",
                "is_test_data": TEST_DATA,
                "is_deleted": Const(False),
            },
        ),
        TableRecipe(
            "push_subscriptions",
            "staff",
            by_rows(
                "id",
                "staff_id",
                "endpoint",
                "p256dh_key",
                "auth_key",
                "user_agent",
                "created_at",
                "updated_at",
            ),
            rows=device_rows,
            rows_per_office=devices_per_office,
        ),
        TableRecipe(
            "office_staffs",
            "staff",
            {
                "id": Computed(lambda b: derived_ids(b["id"], _MEMBERSHIP_MASK)),
                "staff_id": "id",
                "office_id": "office_id",
                "is_primary": Const(True),
                "created_at": "created_at",
                "updated_at": "created_at",
                "is_test_data": TEST_DATA,
            },
        ),
        TableRecipe(
            "support_plan_cycles",
            "cycle",
            {
                "id": Computed(cycle_ids),
                "welfare_recipient_id": "recipient_id",
                "office_id": "office_id",
                "plan_cycle_start_date": "start_date",
                "next_renewal_deadline": "end_date",
                "is_latest_cycle": "is_latest",
                "cycle_number": "cycle_number",
                "next_plan_start_date": Const(NEXT_PLAN_START_DAYS),
                "created_at": "created_at",
                "updated_at": "created_at",
                "is_test_data": TEST_DATA,
            },
        ),
        TableRecipe(
            "plan_deliverables",
            "plan",
            by_rows(
                "id",
                "plan_cycle_id",
                "deliverable_type",
                "file_path",
                "original_filename",
                "uploaded_by",
                "uploaded_at",
                "is_test_data",
            ),
            rows=assessment_rows,
            rows_per_office=assessments_per_office,
        ),
    ),
    dated_columns={"support_plan_cycles": ("plan_cycle_start_date", "next_renewal_deadline")},
)
