"""The sample application's data recipe: one stream of rows per table, deterministic.

This is the :class:`~perfkit.datagen.recipe.Recipe` the welfare application hands perfkit.
Each table's generator works through the offices in fixed blocks and draws every column of a
block in bulk (``random.choices`` over the pools), so Python does little per row. Child tables
replay their parents' id streams (:meth:`~perfkit.datagen.recipe.Shape.ids`) instead of reading
ids back, which also lets the tables load independently, on parallel connections.

Two modes:

``plan``
    The plan's exact shape: every cycle is active, starts 335 days before the anchor and ends
    25 days after it; every staff member wants e-mail at 30 days. Expected e-mails = staff.
``realistic``
    Spread per ``data.realistic`` in scales.yaml: current cycles end overdue / within 10 days /
    within 30 days / later, earlier finished cycles per plan, staff with e-mail off and
    thresholds other than 30 days, a role mix per office, and each plan's responsible staff
    member drawn among the office's service managers.

Dates are relative to the anchor date, which is stored with the data, so later work can shift
them to "today" and tests can ask what the data was made for. Ids, names and e-mails do not
depend on the anchor.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import random
from collections.abc import Iterator, Mapping
from typing import Any

from perfkit.apps.welfare import pools
from perfkit.config import DataConfig, DataMode, RealisticData, Scale
from perfkit.datagen.recipe import (
    Recipe,
    Row,
    Shape,
    TableRecipe,
    apportion,
    blocks,
    days,
    one_per_office,
    per_office,
    repeat_each,
)

#: Bump whenever a change here or in the pools changes the rows a seed makes.
GENERATOR_VERSION = 1

#: The plan's dates: start and end of every cycle, in days from the anchor.
PLAN_CYCLE_START = -335
PLAN_CYCLE_END = 25
#: Realistic cycles last six months, the longest review interval of an individual support plan.
CYCLE_DAYS = 180
#: End dates of current cycles, in days from the anchor, per ``data.realistic.cycle_due`` key
#: (inclusive). A current cycle has started by the anchor date, so none ends later than
#: ``CYCLE_DAYS - 1`` days after it, and every finished cycle ended before it.
DUE_WINDOWS: Mapping[str, tuple[int, int]] = {
    "overdue": (-30, -1),
    "within_10_days": (0, 10),
    "within_30_days": (11, 30),
    "later": (31, CYCLE_DAYS - 1),
}
#: Ages of welfare recipients on the anchor date, in years.
RECIPIENT_AGES = (18, 80)
#: Push-notification threshold of every staff member, in days (the plan's value).
PUSH_THRESHOLD_DAYS = 10
#: The plan's e-mail threshold, in days.
PLAN_EMAIL_THRESHOLD_DAYS = 30
#: Every generated row is marked as test data.
IS_TEST_DATA = True
#: Local time of the generated ``created_at`` values.
JST = dt.timezone(dt.timedelta(hours=9), "JST")


def created_at(shape: Shape) -> dt.datetime:
    """The ``created_at`` of every row: midnight of the anchor date in Japan."""
    return dt.datetime.combine(shape.anchor, dt.time(0), tzinfo=JST)


def cycle_rows_per_plan(scale: Scale, data: DataConfig, mode: DataMode) -> int:
    """Current cycles, plus the finished earlier ones in realistic mode."""
    finished = data.realistic.finished_cycles_per_plan if mode == "realistic" else 0
    return scale.cycles_per_plan + finished


# --------------------------------------------------------------------------------------------
# helpers


class _Roles:
    """Each office's staff roles in staff order: the configured mix apportioned exactly per
    office, shuffled by a stream of its own (so the plans generator can replay it)."""

    def __init__(self, shape: Shape) -> None:
        self._template = apportion(shape.data.realistic.roles, shape.scale.staff_per_office)
        self._rng = shape.rng("staffs", "roles")

    def next_office(self) -> list[str]:
        roles = list(self._template)
        self._rng.shuffle(roles)
        return roles


def _preferences(*, email: bool, threshold: int) -> str:
    """A staff member's notification preferences as JSON text (jsonb's binary COPY input)."""
    return json.dumps(
        {
            "in_app_notification": True,
            "email_notification": email,
            "system_notification": True,
            "email_threshold_days": threshold,
            "push_threshold_days": PUSH_THRESHOLD_DAYS,
        },
        sort_keys=True,
    )


def _preference_draw(realistic: RealisticData) -> tuple[list[str], list[float]]:
    """Preference variants and their cumulative weights for ``random.choices``."""
    variants: list[str] = []
    weights: list[float] = []
    per_threshold = 1 / len(realistic.email_threshold_days)
    for threshold in realistic.email_threshold_days:
        for email, share in (
            (True, 1 - realistic.staff_email_off),
            (False, realistic.staff_email_off),
        ):
            variants.append(_preferences(email=email, threshold=threshold))
            weights.append(share * per_threshold)
    return variants, list(itertools.accumulate(weights))


def _names(rng: random.Random, n: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    return rng.choices(pools.SURNAMES, k=n), rng.choices(pools.GIVEN_NAMES, k=n)


# --------------------------------------------------------------------------------------------
# tables


def _offices(shape: Shape) -> Iterator[Row]:
    rng = shape.rng("offices")
    ids = shape.ids("offices")
    created = created_at(shape)
    for first, count in blocks(shape.scale.offices, 1):
        for number, office_id in enumerate(ids.take(count), start=first + 1):
            prefecture, city, area = rng.choice(pools.PLACES)
            name = f"{rng.choice(pools.OFFICE_BRANDS)}{rng.choice(pools.SERVICE_KINDS)} {city}"
            address = (
                f"{prefecture}{city}{rng.choice(pools.TOWNS)}"
                f"{rng.randint(1, 9)}-{rng.randint(1, 30)}-{rng.randint(1, 20)}"
            )
            middle = 10 - 4 - len(area)  # ten digits in all, the area code's 0 included
            phone = f"{area}-{rng.randrange(10**middle):0{middle}d}-{number % 10000:04d}"
            yield (office_id, name, address, phone, IS_TEST_DATA, created)


def _staffs(shape: Shape) -> Iterator[Row]:
    per_office = shape.scale.staff_per_office
    rng = shape.rng("staffs")
    ids, office_ids, roles = shape.ids("staffs"), shape.ids("offices"), _Roles(shape)
    created = created_at(shape)
    if shape.mode == "plan":
        plan_prefs = _preferences(email=True, threshold=PLAN_EMAIL_THRESHOLD_DAYS)
    else:
        variants, cum_weights = _preference_draw(shape.data.realistic)
    number = 0
    for _, count in blocks(shape.scale.offices, per_office):
        n = count * per_office
        office_col = repeat_each(office_ids.take(count), per_office)
        surnames, given = _names(rng, n)
        role_col = [role for _ in range(count) for role in roles.next_office()]
        if shape.mode == "plan":
            prefs = [plan_prefs] * n
        else:
            prefs = rng.choices(variants, cum_weights=cum_weights, k=n)
        emails = [
            f"{s[1]}.{g[1]}.{i:07d}@{pools.EMAIL_DOMAIN}"
            for i, s, g in zip(range(number + 1, number + n + 1), surnames, given, strict=True)
        ]
        number += n
        yield from zip(
            ids.take(n),
            office_col,
            [g[0] for g in given],
            [s[0] for s in surnames],
            [f"{s[0]} {g[0]}" for s, g in zip(surnames, given, strict=True)],
            emails,
            itertools.repeat(pools.HASHED_PASSWORD),
            role_col,
            prefs,
            itertools.repeat(IS_TEST_DATA),
            itertools.repeat(created),
        )


def _recipients(shape: Shape) -> Iterator[Row]:
    per_office = shape.scale.recipients_per_office
    rng = shape.rng("welfare_recipients")
    ids, office_ids = shape.ids("welfare_recipients"), shape.ids("offices")
    created = created_at(shape)
    youngest, oldest = RECIPIENT_AGES
    birthdays = days(shape.anchor, -oldest * 365, -youngest * 365)
    for _, count in blocks(shape.scale.offices, per_office):
        n = count * per_office
        office_col = repeat_each(office_ids.take(count), per_office)
        surnames, given = _names(rng, n)
        yield from zip(
            ids.take(n),
            office_col,
            [g[0] for g in given],
            [s[0] for s in surnames],
            [f"{s[0]} {g[0]}" for s, g in zip(surnames, given, strict=True)],
            rng.choices(birthdays, k=n),
            itertools.repeat(IS_TEST_DATA),
            itertools.repeat(created),
        )


def _responsible_staff(shape: Shape) -> Iterator[list[int]]:
    """Per office, the staff positions a plan's responsible member is drawn from: the service
    managers (any staff member when an office has none), or everyone in plan mode."""
    everyone = list(range(shape.scale.staff_per_office))
    roles = _Roles(shape)
    while True:
        office_roles = roles.next_office()
        if shape.mode == "plan":
            yield everyone
        else:
            managers = [i for i, role in enumerate(office_roles) if role == "service_manager"]
            yield managers or everyone


def _plans(shape: Shape) -> Iterator[Row]:
    per_office = shape.scale.recipients_per_office
    staff_per_office = shape.scale.staff_per_office
    rng = shape.rng("individual_support_plans")
    ids = shape.ids("individual_support_plans")
    office_ids, staff_ids = shape.ids("offices"), shape.ids("staffs")
    recipient_ids = shape.ids("welfare_recipients")
    candidates = _responsible_staff(shape)
    created = created_at(shape)
    for _, count in blocks(shape.scale.offices, per_office):
        n = count * per_office
        offices = office_ids.take(count)
        staff = staff_ids.take(count * staff_per_office)
        responsible: list[Any] = []
        for k in range(count):
            office_staff = staff[k * staff_per_office : (k + 1) * staff_per_office]
            pick = next(candidates)
            if shape.mode == "plan":  # round robin, as the plan's factory assigned them
                responsible += [office_staff[j % staff_per_office] for j in range(per_office)]
            else:
                responsible += [office_staff[j] for j in rng.choices(pick, k=per_office)]
        yield from zip(
            ids.take(n),
            repeat_each(offices, per_office),
            recipient_ids.take(n),
            responsible,
            itertools.repeat(IS_TEST_DATA),
            itertools.repeat(created),
        )


def _cycles(shape: Shape) -> Iterator[Row]:
    if shape.mode == "plan":
        return _plan_cycles(shape)
    return _realistic_cycles(shape)


def _plan_cycles(shape: Shape) -> Iterator[Row]:
    per_plan = shape.scale.cycles_per_plan
    plans_per_office = shape.scale.recipients_per_office
    ids, plan_ids = shape.ids("support_plan_cycles"), shape.ids("individual_support_plans")
    start = shape.anchor + dt.timedelta(days=PLAN_CYCLE_START)
    end = shape.anchor + dt.timedelta(days=PLAN_CYCLE_END)
    created = created_at(shape)
    numbers = list(range(1, per_plan + 1))
    for _, count in blocks(shape.scale.offices, plans_per_office * per_plan):
        n_plans = count * plans_per_office
        yield from zip(
            ids.take(n_plans * per_plan),
            repeat_each(plan_ids.take(n_plans), per_plan),
            itertools.cycle(numbers),
            itertools.repeat(start),
            itertools.repeat(end),
            itertools.repeat("active"),
            itertools.repeat(IS_TEST_DATA),
            itertools.repeat(created),
        )


def _realistic_cycles(shape: Shape) -> Iterator[Row]:
    realistic = shape.data.realistic
    current, finished = shape.scale.cycles_per_plan, realistic.finished_cycles_per_plan
    per_plan = current + finished
    plans_per_office = shape.scale.recipients_per_office
    rng = shape.rng("support_plan_cycles")
    ids, plan_ids = shape.ids("support_plan_cycles"), shape.ids("individual_support_plans")
    created = created_at(shape)

    # Every date is a function of a current cycle's end offset: precompute them per offset.
    due = realistic.cycle_due
    offsets: list[int] = []
    weights: list[float] = []
    for key, (lo, hi) in DUE_WINDOWS.items():
        width = hi - lo + 1
        offsets += range(lo, hi + 1)
        weights += [getattr(due, key) / width] * width
    cum_weights = list(itertools.accumulate(weights))
    lowest = min(offsets) - CYCLE_DAYS * (finished + 1)
    calendar = days(shape.anchor, lowest, max(offsets))

    def day(offset: int) -> dt.date:
        return calendar[offset - lowest]

    current_dates = {e: (day(e - CYCLE_DAYS + 1), day(e)) for e in offsets}
    history = {
        e: [
            (number, day(e - CYCLE_DAYS * back - CYCLE_DAYS + 1), day(e - CYCLE_DAYS * back))
            for number, back in zip(range(1, finished + 1), range(finished, 0, -1), strict=True)
        ]
        for e in offsets
    }

    def plan_rows(plan_id: Any, ends: list[int]) -> Iterator[tuple[Any, ...]]:
        for number, start, end in history[ends[0]]:
            yield (plan_id, number, start, end, "completed")
        for number, e in enumerate(ends, start=finished + 1):
            start, end = current_dates[e]
            yield (plan_id, number, start, end, "active")

    for _, count in blocks(shape.scale.offices, plans_per_office * per_plan):
        n_plans = count * plans_per_office
        plans = plan_ids.take(n_plans)
        ends = rng.choices(offsets, cum_weights=cum_weights, k=n_plans * current)
        body = [
            row
            for i, plan_id in enumerate(plans)
            for row in plan_rows(plan_id, ends[i * current : (i + 1) * current])
        ]
        for cycle_id, (plan_id, number, start, end, status) in zip(
            ids.take(len(body)), body, strict=True
        ):
            yield (cycle_id, plan_id, number, start, end, status, IS_TEST_DATA, created)


def _columns(names: str) -> tuple[str, ...]:
    return tuple(names.split())


def _cycle_rows_per_office(scale: Scale, data: DataConfig, mode: DataMode) -> int:
    return scale.recipients_per_office * cycle_rows_per_plan(scale, data, mode)


#: Every table's generator, parents first.
TABLES: tuple[TableRecipe, ...] = (
    TableRecipe(
        "offices",
        _columns("id name address phone_number is_test_data created_at"),
        one_per_office,
        _offices,
    ),
    TableRecipe(
        "staffs",
        _columns(
            "id office_id first_name last_name full_name email hashed_password role "
            "notification_preferences is_test_data created_at"
        ),
        per_office("staff_per_office"),
        _staffs,
    ),
    TableRecipe(
        "welfare_recipients",
        _columns(
            "id office_id first_name last_name full_name date_of_birth is_test_data created_at"
        ),
        per_office("recipients_per_office"),
        _recipients,
    ),
    TableRecipe(
        "individual_support_plans",
        _columns("id office_id welfare_recipient_id responsible_staff_id is_test_data created_at"),
        per_office("recipients_per_office"),
        _plans,
    ),
    TableRecipe(
        "support_plan_cycles",
        _columns(
            "id individual_support_plan_id cycle_number start_date end_date status "
            "is_test_data created_at"
        ),
        _cycle_rows_per_office,
        _cycles,
    ),
)


def parameters(scale: Scale, data: DataConfig) -> dict[str, Any]:
    """Everything besides seed and mode that shapes the rows, as plain JSON values."""
    realistic = data.realistic
    return {
        "offices": scale.offices,
        "staff_per_office": scale.staff_per_office,
        "recipients_per_office": scale.recipients_per_office,
        "cycles_per_plan": scale.cycles_per_plan,
        "realistic": {
            "cycle_due": dataclasses.asdict(realistic.cycle_due),
            "finished_cycles_per_plan": realistic.finished_cycles_per_plan,
            "staff_email_off": realistic.staff_email_off,
            "email_threshold_days": list(realistic.email_threshold_days),
            "roles": dict(realistic.roles),
        },
    }


#: The recipe the sample application hands perfkit. Only the schedule moves with the calendar:
#: ``date_of_birth`` stays (recipients age by a shift, which the batch never looks at), and
#: ``created_at`` keeps the time the rows were made.
RECIPE = Recipe(
    version=GENERATOR_VERSION,
    tables=TABLES,
    dated_columns={"support_plan_cycles": ("start_date", "end_date")},
    parameters=parameters,
)
