"""The workload under test: the nightly deadline-alert e-mail batch (期限アラートメール).

Every night the application tells each staff member which welfare recipients' support-plan
cycles (支援計画サイクル) of their office end soon, so that the plans are renewed in time. The
rules, as :func:`send_deadline_alert_emails` implements them:

- a cycle is *due* when it is ``active`` and its end date is no later than
  ``today + threshold``, where ``threshold`` is the staff member's
  ``notification_preferences.email_threshold_days`` (default
  :data:`DEFAULT_EMAIL_THRESHOLD_DAYS`). Overdue cycles (end date before today, still
  active) are due too and are listed first, as overdue. Completed cycles never are;
- a staff member gets an e-mail when ``notification_preferences.email_notification`` is true
  (default :data:`DEFAULT_EMAIL_NOTIFICATION`) and at least one cycle of their office is due
  for them: one digest per staff member, listing every due recipient with the end date, in
  Japanese. Nobody gets an empty e-mail;
- with ``dry_run=True`` (the default) the e-mails are composed and counted but not sent;
  with ``dry_run=False`` a :class:`~perfkit.apps.welfare.mailer.Mailer` delivers them.

It is written as a production batch should be: **one** SQL statement, whatever the number of
offices. PostgreSQL groups the subscribed staff and the due cycles per office into arrays, so
one row comes back per office that has work; Python only slices and formats. Each staff
member's due list is a prefix of the office's list sorted by end date, so it is found with a
binary search, and the list's text is formatted once per office and threshold.

Over 400 lines: the sample application's whole batch (query, digest composition in
Japanese, sending), as an application's module would be.
"""

from __future__ import annotations

import datetime as dt
import uuid
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    Integer,
    Select,
    bindparam,
    func,
    literal,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from perfkit.apps.welfare.mailer import Mailer, OutgoingEmail
from perfkit.apps.welfare.models import (
    IndividualSupportPlan,
    Office,
    Staff,
    SupportPlanCycle,
    WelfareRecipient,
)
from perfkit.errors import PerfkitError
from perfkit.workload import WorkloadContext, workload

#: A staff member whose preferences do not say gets e-mail ...
DEFAULT_EMAIL_NOTIFICATION = True
#: ... about cycles ending within this many days.
DEFAULT_EMAIL_THRESHOLD_DAYS = 30

_WEEKDAYS = "月火水木金土日"


class MissingMailerError(PerfkitError):
    """``dry_run=False`` without a mailer to send with."""

    def __init__(self) -> None:
        super().__init__(
            "send_deadline_alert_emails(dry_run=False) needs a mailer",
            hint="pass mailer=SmtpMailer(cfg.smtp) (perfkit.apps.welfare.mailer)",
        )


@dataclass(frozen=True, slots=True)
class DueCycle:
    """One due support-plan cycle as a digest lists it."""

    cycle_id: uuid.UUID
    recipient_id: uuid.UUID
    recipient_name: str
    end_date: dt.date
    #: Days from today to the end date; negative when overdue.
    days_left: int

    @property
    def overdue(self) -> bool:
        return self.days_left < 0


@dataclass(frozen=True, slots=True)
class Digest:
    """One staff member's e-mail: who gets it, the due cycles, and the composed text."""

    staff_id: uuid.UUID
    staff_name: str
    email: str
    office_id: uuid.UUID
    office_name: str
    threshold_days: int
    cycles: tuple[DueCycle, ...]
    overdue: int
    subject: str
    body: str

    @property
    def recipient_ids(self) -> tuple[uuid.UUID, ...]:
        return tuple(c.recipient_id for c in self.cycles)

    def as_email(self) -> OutgoingEmail:
        return OutgoingEmail(
            to_address=self.email, to_name=self.staff_name, subject=self.subject, body=self.body
        )


@dataclass(frozen=True)
class AlertRunResult:
    """What one run of the batch did, in numbers a test can check.

    ``offices`` and ``cycles`` count offices and distinct cycles that made it into at least
    one digest; ``emails_composed`` is the number of digests, ``emails_sent`` how many the
    SMTP server accepted (0 in a dry run), ``refused`` the addresses it would not take.
    """

    today: dt.date
    dry_run: bool
    digests: tuple[Digest, ...]
    offices: int
    cycles: int
    overdue_cycles: int
    emails_sent: int = 0
    refused: tuple[str, ...] = ()

    @property
    def emails_composed(self) -> int:
        return len(self.digests)

    @property
    def per_staff(self) -> Mapping[uuid.UUID, tuple[uuid.UUID, ...]]:
        """Staff id -> the ids of the cycles in that staff member's digest."""
        return {d.staff_id: tuple(c.cycle_id for c in d.cycles) for d in self.digests}

    def metrics(self) -> dict[str, int | float]:
        """The numbers a run record keeps."""
        return {
            "emails": self.emails_composed,
            "emails_sent": self.emails_sent,
            "alerted_offices": self.offices,
            "due_cycles": self.cycles,
            "overdue_cycles": self.overdue_cycles,
        }


# --------------------------------------------------------------------------------------------
# the query


@cache
def due_alerts_statement() -> Select[Any]:
    """The batch's only statement: one row per office with subscribed staff and due cycles.

    Columns: office id and name; the subscribed staff as parallel arrays (ids, names, e-mail
    addresses, thresholds); the due cycles as parallel arrays ordered by end date (cycle ids,
    recipient ids, recipient names, end dates). It takes one parameter, ``today``.
    """
    prefs = Staff.notification_preferences
    email_on = func.coalesce(
        prefs["email_notification"].astext.cast(Boolean),
        literal(DEFAULT_EMAIL_NOTIFICATION, Boolean),
    )
    threshold = func.coalesce(
        prefs["email_threshold_days"].astext.cast(Integer),
        literal(DEFAULT_EMAIL_THRESHOLD_DAYS, Integer),
    )
    today = bindparam("today", type_=Date)

    staff_order = (Staff.full_name, Staff.id)
    subscribers = (
        select(
            Staff.office_id,
            func.array_agg(aggregate_order_by(Staff.id, *staff_order)).label("staff_ids"),
            func.array_agg(aggregate_order_by(Staff.full_name, *staff_order)).label("staff_names"),
            func.array_agg(aggregate_order_by(Staff.email, *staff_order)).label("staff_emails"),
            func.array_agg(aggregate_order_by(threshold, *staff_order)).label("thresholds"),
            func.max(threshold).label("horizon"),
        )
        .where(email_on)
        .group_by(Staff.office_id)
        .cte("subscribers")
    )
    # A bound on all offices at once, so PostgreSQL can use the partial index on end_date.
    latest = today + select(func.max(subscribers.c.horizon)).scalar_subquery()

    Cycle, Plan, Recipient = SupportPlanCycle, IndividualSupportPlan, WelfareRecipient
    cycle_order = (Cycle.end_date, Recipient.full_name, Cycle.id)
    due = (
        select(
            Plan.office_id,
            func.array_agg(aggregate_order_by(Cycle.id, *cycle_order)).label("cycle_ids"),
            func.array_agg(aggregate_order_by(Recipient.id, *cycle_order)).label("recipient_ids"),
            func.array_agg(aggregate_order_by(Recipient.full_name, *cycle_order)).label(
                "recipient_names"
            ),
            func.array_agg(aggregate_order_by(Cycle.end_date, *cycle_order)).label("end_dates"),
        )
        .join_from(Cycle, Plan, Plan.id == Cycle.individual_support_plan_id)
        .join(Recipient, Recipient.id == Plan.welfare_recipient_id)
        .join(subscribers, subscribers.c.office_id == Plan.office_id)
        .where(
            # A literal, not a parameter, so the partial index's predicate matches.
            Cycle.status == literal_column("'active'"),
            Cycle.end_date <= latest,
            Cycle.end_date <= today + subscribers.c.horizon,
        )
        .group_by(Plan.office_id)
        .cte("due")
    )
    return (
        select(
            Office.id,
            Office.name,
            subscribers.c.staff_ids,
            subscribers.c.staff_names,
            subscribers.c.staff_emails,
            subscribers.c.thresholds,
            due.c.cycle_ids,
            due.c.recipient_ids,
            due.c.recipient_names,
            due.c.end_dates,
        )
        .join_from(Office, subscribers, subscribers.c.office_id == Office.id)
        .join(due, due.c.office_id == Office.id)
        .order_by(Office.name, Office.id)
    )


# --------------------------------------------------------------------------------------------
# composing


def japanese_date(day: dt.date) -> str:
    """``2026年3月20日（金）``."""
    return f"{day.year}年{day.month}月{day.day}日（{_WEEKDAYS[day.weekday()]}）"


def _due_line(cycle: DueCycle) -> str:
    if cycle.days_left < 0:
        when = f"{-cycle.days_left}日超過"
    elif cycle.days_left == 0:
        when = "本日期限"
    else:
        when = f"あと{cycle.days_left}日"
    return f"・{cycle.recipient_name} 様　{japanese_date(cycle.end_date)}（{when}）"


def compose_subject(*, office_name: str, threshold_days: int, due: int, overdue: int) -> str:
    """The digest's subject line."""
    upcoming = due - overdue
    if overdue:
        return (
            f"【個別支援計画】期限切れ{overdue}件・{threshold_days}日以内{upcoming}件"
            f"のお知らせ（{office_name}）"
        )
    return (
        f"【個別支援計画】{threshold_days}日以内に期限を迎える計画{due}件"
        f"のお知らせ（{office_name}）"
    )


def _compose_sections(lines: Sequence[str], *, threshold_days: int, due: int, overdue: int) -> str:
    parts: list[str] = []
    if overdue:
        parts.append(f"■ 期限切れ（{overdue}件）")
        parts.extend(lines[:overdue])
        parts.append("")
    if due > overdue:
        parts.append(f"■ {threshold_days}日以内に期限（{due - overdue}件）")
        parts.extend(lines[overdue:due])
        parts.append("")
    return "\n".join(parts)


def compose_body(
    *, staff_name: str, office_name: str, threshold_days: int, due: int, overdue: int, sections: str
) -> str:
    """The digest's text: greeting, the counts, the sections of due recipients, a footer."""
    return (
        f"{staff_name} 様\n\n"
        f"{office_name}の個別支援計画のうち、期限を過ぎたもの、または{threshold_days}日以内に"
        f"期限を迎えるものが{due}件あります（うち期限切れ{overdue}件）。\n\n"
        f"{sections}\n"
        "計画の見直しと更新をお願いいたします。\n\n"
        "※このメールは送信専用です。通知の設定はアプリの「通知設定」から変更できます。\n"
    )


def _office_digests(row: Any, *, today: dt.date) -> list[Digest]:
    """The digests of one office's row (see :func:`due_alerts_statement`)."""
    (
        office_id,
        office_name,
        staff_ids,
        staff_names,
        staff_emails,
        thresholds,
        cycle_ids,
        recipient_ids,
        recipient_names,
        end_dates,
    ) = row
    cycles = tuple(
        DueCycle(
            cycle_id=cid,
            recipient_id=rid,
            recipient_name=name,
            end_date=end,
            days_left=(end - today).days,
        )
        for cid, rid, name, end in zip(
            cycle_ids, recipient_ids, recipient_names, end_dates, strict=True
        )
    )
    lines = [_due_line(c) for c in cycles]
    overdue = bisect_left(end_dates, today)
    sections: dict[tuple[int, int], str] = {}
    digests: list[Digest] = []
    for staff_id, staff_name, email, threshold in zip(
        staff_ids, staff_names, staff_emails, thresholds, strict=True
    ):
        due = bisect_right(end_dates, today + dt.timedelta(days=threshold))
        if due == 0:
            continue
        shown_overdue = min(overdue, due)
        key = (threshold, due)
        text = sections.get(key)
        if text is None:  # staff with the same threshold share the list: format it once
            text = sections[key] = _compose_sections(
                lines, threshold_days=threshold, due=due, overdue=shown_overdue
            )
        digests.append(
            Digest(
                staff_id=staff_id,
                staff_name=staff_name,
                email=email,
                office_id=office_id,
                office_name=office_name,
                threshold_days=threshold,
                cycles=cycles[:due],
                overdue=shown_overdue,
                subject=compose_subject(
                    office_name=office_name,
                    threshold_days=threshold,
                    due=due,
                    overdue=shown_overdue,
                ),
                body=compose_body(
                    staff_name=staff_name,
                    office_name=office_name,
                    threshold_days=threshold,
                    due=due,
                    overdue=shown_overdue,
                    sections=text,
                ),
            )
        )
    return digests


# --------------------------------------------------------------------------------------------
# the batch


async def send_deadline_alert_emails(
    db: AsyncSession,
    *,
    dry_run: bool = True,
    today: dt.date | None = None,
    mailer: Mailer | None = None,
) -> AlertRunResult:
    """Compose (and unless ``dry_run``, send) every staff member's deadline-alert digest.

    ``today`` defaults to the local date; tests and performance runs pass the dataset's anchor
    date. The batch only reads: it does not commit, and the caller owns ``db``. With
    ``dry_run=False`` it needs ``mailer`` (e.g. ``SmtpMailer(cfg.smtp)``); a dry run never
    uses one. The module docstring states the rules.
    """
    if not dry_run and mailer is None:
        raise MissingMailerError
    day = today or dt.date.today()
    rows = (await db.execute(due_alerts_statement(), {"today": day})).all()

    digests: list[Digest] = []
    offices = cycles = overdue_cycles = 0
    for row in rows:
        office = _office_digests(row, today=day)
        if not office:
            continue
        digests.extend(office)
        offices += 1
        cycles += max(len(d.cycles) for d in office)
        overdue_cycles += max(d.overdue for d in office)

    sent = 0
    refused: tuple[str, ...] = ()
    if not dry_run and mailer is not None:
        report = await mailer.send([d.as_email() for d in digests])
        sent, refused = report.sent, report.refused
    return AlertRunResult(
        today=day,
        dry_run=dry_run,
        digests=tuple(digests),
        offices=offices,
        cycles=cycles,
        overdue_cycles=overdue_cycles,
        emails_sent=sent,
        refused=refused,
    )


@workload("deadline_alerts")
async def deadline_alerts(ctx: WorkloadContext) -> AlertRunResult:
    """Deadline-alert e-mail batch (dry run): one digest per staff member due an alert."""
    async with ctx.session_factory() as db:
        return await send_deadline_alert_emails(db, dry_run=True, today=ctx.today)
