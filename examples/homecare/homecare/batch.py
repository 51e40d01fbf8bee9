"""The nightly review-reminder batch: tell caregivers which of their clients' reviews need them.

Rules (a test states them again as one SQL statement of its own and compares the counts):

1. **Weekdays only**, by the UTC date: on a Saturday or Sunday the batch returns zeros without
   a single query (nobody is in the office to act on a reminder).
2. A **review cycle needs a reminder** when it is the latest cycle of a care plan that is not
   archived, it is still open, and either

   a. it is due within the responsible caregiver's lead time
      (``due_on <= today + reminder_lead_days``; overdue cycles included), or
   b. it has no signed assessment (``documents`` of kind ``assessment``, signed).

3. The reminder goes to the plan's **responsible caregiver**, and only when that caregiver is
   active, has reminders enabled and is still a member of the plan's agency
   (``agency_caregivers``).
4. **One reminder per caregiver**, listing all of the caregiver's cycles that need one, the
   soonest due first.
5. **Constant statements**: one ``SELECT``, whatever the data (no query per caregiver or per
   cycle); a real run (``dry_run=False``) adds one ``UPDATE`` recording the day each caregiver
   was reminded, and commits.

``python -m homecare.batch [--send]`` runs it on the application's own database.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import hmac
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Date, and_, bindparam, func, literal_column, or_, select, update
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.expression import Executable

from homecare.db import SessionLocal
from homecare.models import (
    AgencyCaregiver,
    Caregiver,
    CarePlan,
    Client,
    Document,
    DocumentKind,
    ReviewCycle,
)
from homecare.settings import settings

#: Where a reminder's links point.
REVIEW_URL = "https://homecare.example.invalid/reviews/{cycle_id}?sig={signature}"
#: Monday to Friday are ``weekday()`` 0 to 4.
LAST_WORKDAY = 4


@dataclass(frozen=True, slots=True)
class DueReview:
    """One review cycle in a reminder."""

    cycle_id: int
    client_name: str
    due_on: dt.date
    unsigned_assessment: bool


@dataclass(frozen=True, slots=True)
class Reminder:
    """One caregiver's reminder: to whom, and the composed text."""

    caregiver_id: uuid.UUID
    to: str
    subject: str
    body: str
    reviews: tuple[DueReview, ...]


def utc_today() -> dt.date:
    """Today's date in UTC, the day the batch runs for."""
    return dt.datetime.now(dt.UTC).date()


@cache
def due_reviews_statement() -> Executable:
    """The batch's only query: one row per caregiver to remind, with the due cycles as
    parallel arrays ordered by due date (ids, client names, due dates, unsigned flags).
    It takes one parameter, ``today``."""
    today = bindparam("today", type_=Date)
    order = (ReviewCycle.due_on, ReviewCycle.id)
    # At most one row per cycle: (review_cycle_id, kind) is unique.
    unsigned = Document.id.is_(None)
    return (
        select(
            Caregiver.id,
            Caregiver.full_name,
            Caregiver.email,
            func.array_agg(aggregate_order_by(ReviewCycle.id, *order)).label("cycle_ids"),
            func.array_agg(aggregate_order_by(Client.full_name, *order)).label("clients"),
            func.array_agg(aggregate_order_by(ReviewCycle.due_on, *order)).label("due_dates"),
            func.array_agg(aggregate_order_by(unsigned, *order)).label("unsigned"),
        )
        .select_from(ReviewCycle)
        .join(CarePlan, CarePlan.id == ReviewCycle.care_plan_id)
        .join(Client, Client.id == CarePlan.client_id)
        .join(Caregiver, Caregiver.id == CarePlan.caregiver_id)
        .join(
            AgencyCaregiver,
            and_(
                AgencyCaregiver.agency_id == CarePlan.agency_id,
                AgencyCaregiver.caregiver_id == Caregiver.id,
            ),
        )
        .outerjoin(
            Document,
            and_(
                Document.review_cycle_id == ReviewCycle.id,
                Document.kind == DocumentKind.ASSESSMENT,
                Document.signed,
            ),
        )
        .where(
            ReviewCycle.is_latest,
            # literals, so the partial index's predicate matches
            ReviewCycle.status == literal_column("'open'"),
            CarePlan.is_archived.is_(False),
            Caregiver.is_active,
            Caregiver.reminders_enabled,
            or_(ReviewCycle.due_on <= today + Caregiver.reminder_lead_days, unsigned),
        )
        .group_by(Caregiver.id)
        .order_by(Caregiver.full_name, Caregiver.id)
    )


def _signature(caregiver_id: uuid.UUID, cycle_id: int) -> str:
    message = f"{caregiver_id}:{cycle_id}".encode()
    return hmac.new(settings.secret.encode(), message, hashlib.sha256).hexdigest()[:20]


def _line(review: DueReview, *, caregiver_id: uuid.UUID, today: dt.date) -> str:
    days = (review.due_on - today).days
    when = f"{-days} days overdue" if days < 0 else "due today" if days == 0 else f"in {days} days"
    why = ", assessment not signed" if review.unsigned_assessment else ""
    link = REVIEW_URL.format(
        cycle_id=review.cycle_id, signature=_signature(caregiver_id, review.cycle_id)
    )
    return f"- {review.client_name}: review {when} ({review.due_on:%a %d %b}){why}\n  {link}"


def compose(row: Sequence[Any], *, today: dt.date) -> Reminder:
    """The reminder of one row of :func:`due_reviews_statement`."""
    caregiver_id, name, email, cycle_ids, clients, due_dates, unsigned = row
    reviews = tuple(
        DueReview(cycle_id=c, client_name=n, due_on=d, unsigned_assessment=u)
        for c, n, d, u in zip(cycle_ids, clients, due_dates, unsigned, strict=True)
    )
    overdue = sum(r.due_on < today for r in reviews)
    subject = f"{len(reviews)} care-plan review(s) need you" + (
        f", {overdue} overdue" if overdue else ""
    )
    lines = "\n".join(_line(r, caregiver_id=caregiver_id, today=today) for r in reviews)
    body = f"Dear {name},\n\nThese reviews need your attention:\n\n{lines}\n\nHome Care\n"
    return Reminder(
        caregiver_id=caregiver_id, to=email, subject=subject, body=body, reviews=reviews
    )


def _counts(reminders: Sequence[Reminder], *, today: dt.date, sent: int) -> dict[str, int]:
    reviews = [r for reminder in reminders for r in reminder.reviews]
    return {
        "reminders": len(reminders),
        "cycles": len(reviews),
        "overdue": sum(r.due_on < today for r in reviews),
        "unsigned_assessments": sum(r.unsigned_assessment for r in reviews),
        "sent": sent,
    }


async def send_review_reminders(
    db: AsyncSession, dry_run: bool = True, *, today: dt.date | None = None
) -> dict[str, int]:
    """Review reminders (dry run): one per caregiver with open reviews due or unsigned.

    ``today`` defaults to the UTC date. With ``dry_run`` nothing is written; otherwise each
    reminded caregiver's ``last_reminded_on`` is set and the session committed. Returns the
    counts: ``reminders`` (caregivers), ``cycles``, ``overdue``, ``unsigned_assessments`` and
    ``sent`` (0 in a dry run). The module docstring states the rules.
    """
    day = today or utc_today()
    if day.weekday() > LAST_WORKDAY:
        return _counts((), today=day, sent=0)
    rows = (await db.execute(due_reviews_statement(), {"today": day})).all()
    reminders = [compose(row, today=day) for row in rows]
    sent = 0
    if not dry_run and reminders:
        await db.execute(
            update(Caregiver)
            .where(Caregiver.id.in_([r.caregiver_id for r in reminders]))
            .values(last_reminded_on=day)
        )
        await db.commit()
        sent = len(reminders)
    return _counts(reminders, today=day, sent=sent)


async def _main(send: bool) -> dict[str, int]:
    async with SessionLocal() as db:
        return await send_review_reminders(db, dry_run=not send)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m homecare.batch [--send]``: run the batch once and print its counts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--send", action="store_true", help="record the reminders (default: dry)")
    args = parser.parse_args(argv)
    print(asyncio.run(_main(args.send)))


if __name__ == "__main__":
    main()
