"""perfkit's deterministic entities: offices, staff, recipients, plans and their cycles.

Every application measured by perfkit is some shape of the plan's world, so perfkit makes that
world once, here, and an application's recipe (:mod:`perfkit.datagen.recipe`) only maps its
entities onto the application's own tables. Each kind of entity comes in *blocks*: a block is
a mapping of field name to a list of values (one per entity), covering whole offices of about
:data:`~perfkit.datagen.recipe.BLOCK_ROWS` entities. Columns are drawn in bulk
(``random.choices`` over the pools), so Python does little per entity.

Each kind is generated on its own, from seeded random streams (:meth:`Shape.rng`,
:meth:`Shape.ids`); a child kind replays its parents' id streams instead of reading anything
back, so an application's tables load independently, on parallel connections, and the same
shape always gives the same entities, ids included.

The kinds and their fields (every kind also has ``created_at``: midnight of the anchor in
Japan):

``office``
    ``id``, ``number`` (1-based), ``name``, ``address``, ``phone_number``, ``owner_id`` (its
    first staff member with role ``owner``, else its first staff member).
``staff``
    ``id``, ``office_id``, ``position`` (0-based within the office), ``first_name``,
    ``last_name``, ``full_name``, ``first_name_romaji``, ``last_name_romaji``, ``email``,
    ``hashed_password``, ``role`` (``owner``, ``service_manager``, ``employee``),
    ``email_notification``, ``email_threshold_days``, ``push_threshold_days``,
    ``notification_preferences`` (the five settings as JSON text).
``recipient``
    ``id``, ``office_id``, ``first_name``, ``last_name``, ``full_name``, ``date_of_birth``.
``plan``
    ``id``, ``office_id``, ``recipient_id`` (one plan per recipient), ``responsible_staff_id``.
``cycle``
    ``id``, ``plan_id``, ``office_id``, ``recipient_id``, ``cycle_number``, ``start_date``,
    ``end_date``, ``status`` (``active`` or ``completed``), ``is_latest``.

Two modes decide the dates and preferences:

``plan``
    The plan's exact shape: every cycle is active, starts 335 days before the anchor and ends
    25 days after it; every staff member wants e-mail at 30 days.
``realistic``
    Spread per ``data.realistic`` in scales.yaml: current cycles end overdue / within 10 days /
    within 30 days / later, earlier finished cycles per plan, staff with e-mail off and
    thresholds other than 30 days, a role mix per office, and each plan's responsible staff
    member drawn among the office's service managers.

Dates are relative to the anchor date; which of an application's columns hold them is its
recipe's to say (:attr:`~perfkit.datagen.recipe.Recipe.dated_columns`).

Over 400 lines: five entity kinds, each generated on its own from replayed random streams;
they share the streams' keys and the mode rules, so they live together.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal

from perfkit.config import DataConfig, DataMode, RealisticData, Scale
from perfkit.datagen import pools
from perfkit.datagen.shape import Shape, apportion, blocks, days, repeat_each

#: Bump whenever a change here or in the pools changes the entities a shape makes.
ENTITY_VERSION = 1

Kind = Literal["office", "staff", "recipient", "plan", "cycle"]
#: Field name -> one value per entity of the block.
Block = Mapping[str, Sequence[Any]]

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
#: Local time of the generated ``created_at`` values.
JST = dt.timezone(dt.timedelta(hours=9), "JST")

#: The random streams of each kind (their names are part of the entities' identity).
STREAM = {
    "office": "offices",
    "staff": "staffs",
    "recipient": "welfare_recipients",
    "plan": "individual_support_plans",
    "cycle": "support_plan_cycles",
}


def created_at(shape: Shape) -> dt.datetime:
    """The ``created_at`` of every entity: midnight of the anchor date in Japan."""
    return dt.datetime.combine(shape.anchor, dt.time(0), tzinfo=JST)


def cycles_per_plan(scale: Scale, data: DataConfig, mode: DataMode) -> int:
    """Current cycles, plus the finished earlier ones in realistic mode."""
    finished = data.realistic.finished_cycles_per_plan if mode == "realistic" else 0
    return scale.cycles_per_plan + finished


def per_office(kind: Kind, scale: Scale, data: DataConfig, mode: DataMode) -> int:
    """How many entities of ``kind`` each office has."""
    if kind == "office":
        return 1
    if kind == "staff":
        return scale.staff_per_office
    if kind in ("recipient", "plan"):
        return scale.recipients_per_office
    return scale.recipients_per_office * cycles_per_plan(scale, data, mode)


def entity_blocks(kind: Kind, shape: Shape) -> Iterator[Block]:
    """The entities of ``kind`` for ``shape``, block by block (see the module docstring)."""
    return _GENERATORS[kind](shape)


def parameters(scale: Scale, data: DataConfig) -> dict[str, Any]:
    """Everything besides seed and mode that shapes the entities, as plain JSON values."""
    realistic = data.realistic
    return {
        "offices": scale.offices,
        "staff_per_office": scale.staff_per_office,
        "recipients_per_office": scale.recipients_per_office,
        "cycles_per_plan": scale.cycles_per_plan,
        "realistic": {
            "cycle_due": {key: getattr(realistic.cycle_due, key) for key in DUE_WINDOWS},
            "finished_cycles_per_plan": realistic.finished_cycles_per_plan,
            "staff_email_off": realistic.staff_email_off,
            "email_threshold_days": list(realistic.email_threshold_days),
            "roles": dict(realistic.roles),
        },
    }


# --------------------------------------------------------------------------------------------
# helpers


class _Roles:
    """Each office's staff roles in staff order: the configured mix apportioned exactly per
    office, shuffled by a stream of its own (so other kinds can replay it)."""

    def __init__(self, shape: Shape) -> None:
        self._template = apportion(shape.data.realistic.roles, shape.scale.staff_per_office)
        self._rng = shape.rng(STREAM["staff"], "roles")

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


def _preference_variants(realistic: RealisticData) -> tuple[list[tuple[bool, int]], list[float]]:
    """(e-mail on, threshold) variants and their cumulative weights for ``random.choices``."""
    variants: list[tuple[bool, int]] = []
    weights: list[float] = []
    per_threshold = 1 / len(realistic.email_threshold_days)
    for threshold in realistic.email_threshold_days:
        for email, share in (
            (True, 1 - realistic.staff_email_off),
            (False, realistic.staff_email_off),
        ):
            variants.append((email, threshold))
            weights.append(share * per_threshold)
    return variants, list(itertools.accumulate(weights))


def _names(rng: random.Random, n: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    return rng.choices(pools.SURNAMES, k=n), rng.choices(pools.GIVEN_NAMES, k=n)


def _owner_positions(shape: Shape) -> Iterator[int]:
    """Per office, the position of its first owner (0 when it has none, or in plan mode)."""
    roles = _Roles(shape)
    while True:
        office_roles = roles.next_office()
        yield (
            0
            if shape.mode == "plan"
            else next((i for i, role in enumerate(office_roles) if role == "owner"), 0)
        )


# --------------------------------------------------------------------------------------------
# kinds


def _offices(shape: Shape) -> Iterator[Block]:
    rng = shape.rng(STREAM["office"])
    ids, staff_ids = shape.ids(STREAM["office"]), shape.ids(STREAM["staff"])
    spo = shape.scale.staff_per_office
    owners = _owner_positions(shape)
    created = created_at(shape)
    for first, count in blocks(shape.scale.offices, 1):
        names, addresses, phones = [], [], []
        numbers = list(range(first + 1, first + count + 1))
        for number in numbers:
            prefecture, city, area = rng.choice(pools.PLACES)
            names.append(
                f"{rng.choice(pools.OFFICE_BRANDS)}{rng.choice(pools.SERVICE_KINDS)} {city}"
            )
            addresses.append(
                f"{prefecture}{city}{rng.choice(pools.TOWNS)}"
                f"{rng.randint(1, 9)}-{rng.randint(1, 30)}-{rng.randint(1, 20)}"
            )
            middle = 10 - 4 - len(area)  # ten digits in all, the area code's 0 included
            phones.append(f"{area}-{rng.randrange(10**middle):0{middle}d}-{number % 10000:04d}")
        staff = staff_ids.take(count * spo)
        owner_ids = [staff[k * spo + next(owners)] for k in range(count)]
        yield {
            "id": ids.take(count),
            "number": numbers,
            "name": names,
            "address": addresses,
            "phone_number": phones,
            "owner_id": owner_ids,
            "created_at": [created] * count,
        }


def _staff(shape: Shape) -> Iterator[Block]:
    per_office = shape.scale.staff_per_office
    rng = shape.rng(STREAM["staff"])
    ids, office_ids, roles = shape.ids(STREAM["staff"]), shape.ids(STREAM["office"]), _Roles(shape)
    created = created_at(shape)
    if shape.mode == "realistic":
        variants, cum_weights = _preference_variants(shape.data.realistic)
        texts = [_preferences(email=e, threshold=t) for e, t in variants]
    number = 0
    for _, count in blocks(shape.scale.offices, per_office):
        n = count * per_office
        office_col = repeat_each(office_ids.take(count), per_office)
        surnames, given = _names(rng, n)
        role_col = [role for _ in range(count) for role in roles.next_office()]
        if shape.mode == "plan":
            picks = None
            email_on = [True] * n
            threshold = [PLAN_EMAIL_THRESHOLD_DAYS] * n
            prefs = [_preferences(email=True, threshold=PLAN_EMAIL_THRESHOLD_DAYS)] * n
        else:
            picks = rng.choices(range(len(variants)), cum_weights=cum_weights, k=n)
            email_on = [variants[p][0] for p in picks]
            threshold = [variants[p][1] for p in picks]
            prefs = [texts[p] for p in picks]
        emails = [
            f"{s[1]}.{g[1]}.{i:07d}@{pools.EMAIL_DOMAIN}"
            for i, s, g in zip(range(number + 1, number + n + 1), surnames, given, strict=True)
        ]
        number += n
        yield {
            "id": ids.take(n),
            "office_id": office_col,
            "position": list(range(per_office)) * count,
            "first_name": [g[0] for g in given],
            "last_name": [s[0] for s in surnames],
            "full_name": [f"{s[0]} {g[0]}" for s, g in zip(surnames, given, strict=True)],
            "first_name_romaji": [g[1] for g in given],
            "last_name_romaji": [s[1] for s in surnames],
            "email": emails,
            "hashed_password": [pools.HASHED_PASSWORD] * n,
            "role": role_col,
            "email_notification": email_on,
            "email_threshold_days": threshold,
            "push_threshold_days": [PUSH_THRESHOLD_DAYS] * n,
            "notification_preferences": prefs,
            "created_at": [created] * n,
        }


def _recipients(shape: Shape) -> Iterator[Block]:
    per_office = shape.scale.recipients_per_office
    rng = shape.rng(STREAM["recipient"])
    ids, office_ids = shape.ids(STREAM["recipient"]), shape.ids(STREAM["office"])
    created = created_at(shape)
    youngest, oldest = RECIPIENT_AGES
    birthdays = days(shape.anchor, -oldest * 365, -youngest * 365)
    for _, count in blocks(shape.scale.offices, per_office):
        n = count * per_office
        office_col = repeat_each(office_ids.take(count), per_office)
        surnames, given = _names(rng, n)
        yield {
            "id": ids.take(n),
            "office_id": office_col,
            "first_name": [g[0] for g in given],
            "last_name": [s[0] for s in surnames],
            "full_name": [f"{s[0]} {g[0]}" for s, g in zip(surnames, given, strict=True)],
            "date_of_birth": rng.choices(birthdays, k=n),
            "created_at": [created] * n,
        }


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


def _plans(shape: Shape) -> Iterator[Block]:
    per_office = shape.scale.recipients_per_office
    staff_per_office = shape.scale.staff_per_office
    rng = shape.rng(STREAM["plan"])
    ids = shape.ids(STREAM["plan"])
    office_ids, staff_ids = shape.ids(STREAM["office"]), shape.ids(STREAM["staff"])
    recipient_ids = shape.ids(STREAM["recipient"])
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
        yield {
            "id": ids.take(n),
            "office_id": repeat_each(offices, per_office),
            "recipient_id": recipient_ids.take(n),
            "responsible_staff_id": responsible,
            "created_at": [created] * n,
        }


def _cycles(shape: Shape) -> Iterator[Block]:
    """Every plan's cycles, oldest first; the last one of a plan is its latest."""
    realistic = shape.data.realistic
    current = shape.scale.cycles_per_plan
    finished = realistic.finished_cycles_per_plan if shape.mode == "realistic" else 0
    per_plan = current + finished
    plans_per_office = shape.scale.recipients_per_office
    rng = shape.rng(STREAM["cycle"])
    ids, plan_ids = shape.ids(STREAM["cycle"]), shape.ids(STREAM["plan"])
    office_ids, recipient_ids = shape.ids(STREAM["office"]), shape.ids(STREAM["recipient"])
    created = created_at(shape)
    plan_dates = (
        shape.anchor + dt.timedelta(days=PLAN_CYCLE_START),
        shape.anchor + dt.timedelta(days=PLAN_CYCLE_END),
    )
    dates_of = _realistic_dates(shape, finished) if shape.mode == "realistic" else None
    if dates_of is not None:
        offsets, cum_weights, current_dates, history = dates_of
    for _, count in blocks(shape.scale.offices, plans_per_office * per_plan):
        n_plans = count * plans_per_office
        plans = plan_ids.take(n_plans)
        recipients = recipient_ids.take(n_plans)
        plan_offices = repeat_each(office_ids.take(count), plans_per_office)
        numbers: list[int] = []
        starts: list[dt.date] = []
        ends: list[dt.date] = []
        statuses: list[str] = []
        if dates_of is None:
            numbers = list(range(1, per_plan + 1)) * n_plans
            starts = [plan_dates[0]] * (n_plans * per_plan)
            ends = [plan_dates[1]] * (n_plans * per_plan)
            statuses = ["active"] * (n_plans * per_plan)
        else:
            drawn = rng.choices(offsets, cum_weights=cum_weights, k=n_plans * current)
            for i in range(n_plans):
                plan_ends = drawn[i * current : (i + 1) * current]
                for number, start, end in history[plan_ends[0]]:
                    numbers.append(number)
                    starts.append(start)
                    ends.append(end)
                    statuses.append("completed")
                for number, e in enumerate(plan_ends, start=finished + 1):
                    start, end = current_dates[e]
                    numbers.append(number)
                    starts.append(start)
                    ends.append(end)
                    statuses.append("active")
        rows = n_plans * per_plan
        yield {
            "id": ids.take(rows),
            "plan_id": repeat_each(plans, per_plan),
            "office_id": repeat_each(plan_offices, per_plan),
            "recipient_id": repeat_each(recipients, per_plan),
            "cycle_number": numbers,
            "start_date": starts,
            "end_date": ends,
            "status": statuses,
            "is_latest": [number == per_plan for number in numbers],
            "created_at": [created] * rows,
        }


def _realistic_dates(
    shape: Shape, finished: int
) -> tuple[
    list[int],
    list[float],
    dict[int, tuple[dt.date, dt.date]],
    dict[int, list[tuple[int, dt.date, dt.date]]],
]:
    """(end offsets, their cumulative weights, current cycle dates by end offset, finished
    cycles' (number, start, end) by the first current cycle's end offset)."""
    due = shape.data.realistic.cycle_due
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
    return offsets, cum_weights, current_dates, history


_GENERATORS: Mapping[Kind, Callable[[Shape], Iterator[Block]]] = {
    "office": _offices,
    "staff": _staff,
    "recipient": _recipients,
    "plan": _plans,
    "cycle": _cycles,
}
