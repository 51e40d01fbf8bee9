"""The deadline-alert batch against a real PostgreSQL: who gets what, in how many statements,
and what really arrives over SMTP.

Rows are written here with plain asyncpg (not through the code under test), and the expected
answer comes from an independent SQL query that states the rule directly, one staff member and
one cycle at a time.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from perfkit.apps.welfare import application
from perfkit.apps.welfare.batch import (
    AlertRunResult,
    MissingMailerError,
    send_deadline_alert_emails,
)
from perfkit.apps.welfare.mailer import SmtpMailer
from perfkit.apps.welfare.models import metadata
from perfkit.config import Config, DataMode, Scale
from perfkit.datagen import seed_database
from perfkit.db import connection, create_engine, create_session_factory
from perfkit.measure import StatementCounter
from perfkit.run import Run
from perfkit.testing import PrivateServer, free_port, scratch_database
from perfkit.testing.smtp_sink import smtp_sink
from perfkit.workload import WorkloadContext

pytestmark = pytest.mark.integration

TODAY = dt.date(2026, 2, 9)

#: The rule, stated independently of the batch: per staff member, the cycles due for them.
EXPECTED_SQL = """
SELECT s.id AS staff_id, array_agg(c.id) AS cycle_ids
FROM staffs s
JOIN individual_support_plans p ON p.office_id = s.office_id
JOIN support_plan_cycles c ON c.individual_support_plan_id = p.id
WHERE coalesce((s.notification_preferences ->> 'email_notification')::boolean, true)
  AND c.status = 'active'
  AND c.end_date - $1::date
      <= coalesce((s.notification_preferences ->> 'email_threshold_days')::int, 30)
GROUP BY s.id
"""


# --------------------------------------------------------------------------------------------
# hand-made rows


@dataclass
class Person:
    name: str
    prefs: dict[str, Any]
    id: uuid.UUID = field(default_factory=uuid.uuid4)


@dataclass
class Cycle:
    recipient: str
    days: int  # end date relative to TODAY
    status: str = "active"
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    recipient_id: uuid.UUID = field(default_factory=uuid.uuid4)


@dataclass
class OfficeRows:
    name: str
    staff: list[Person]
    cycles: list[Cycle]
    id: uuid.UUID = field(default_factory=uuid.uuid4)


def prefs(*, on: bool | None = True, days: int | None = 30) -> dict[str, Any]:
    out: dict[str, Any] = {"in_app_notification": True, "push_threshold_days": 10}
    if on is not None:
        out["email_notification"] = on
    if days is not None:
        out["email_threshold_days"] = days
    return out


async def insert(conn: asyncpg.Connection, offices: Sequence[OfficeRows]) -> None:
    """Write ``offices`` with plain asyncpg; every cycle gets a plan and a recipient."""
    await conn.executemany(
        "INSERT INTO offices (id, name, address, phone_number, is_test_data) "
        "VALUES ($1, $2, '東京都', '03-0000-0000', true)",
        [(o.id, o.name) for o in offices],
    )
    await conn.executemany(
        "INSERT INTO staffs (id, office_id, first_name, last_name, full_name, email, "
        "hashed_password, role, notification_preferences) "
        "VALUES ($1, $2, '', '', $3, $4, 'x', 'employee', $5::jsonb)",
        [
            (s.id, o.id, s.name, f"{s.id.hex}@example.invalid", json.dumps(s.prefs))
            for o in offices
            for s in o.staff
        ],
    )
    await conn.executemany(
        "INSERT INTO welfare_recipients (id, office_id, first_name, last_name, full_name, "
        "date_of_birth) VALUES ($1, $2, '', '', $3, '1960-01-01')",
        [(c.recipient_id, o.id, c.recipient) for o in offices for c in o.cycles],
    )
    plan_ids = {c.id: uuid.uuid4() for o in offices for c in o.cycles}
    await conn.executemany(
        "INSERT INTO individual_support_plans (id, office_id, welfare_recipient_id, "
        "responsible_staff_id) VALUES ($1, $2, $3, NULL)",
        [(plan_ids[c.id], o.id, c.recipient_id) for o in offices for c in o.cycles],
    )
    await conn.executemany(
        "INSERT INTO support_plan_cycles (id, individual_support_plan_id, start_date, end_date, "
        "status) VALUES ($1, $2, $3, $4, $5)",
        [
            (
                c.id,
                plan_ids[c.id],
                TODAY + dt.timedelta(days=c.days - 360),
                TODAY + dt.timedelta(days=c.days),
                c.status,
            )
            for o in offices
            for c in o.cycles
        ],
    )


def random_offices(rng: random.Random, count: int) -> list[OfficeRows]:
    """Offices with every kind of preference and end date the rule distinguishes."""
    offices = []
    for i in range(count):
        staff = [
            Person(
                name=f"職員{i}-{j}",
                prefs=prefs(
                    on=rng.choice([True, True, True, False, None]),
                    days=rng.choice([7, 14, 30, 30, 60, None]),
                ),
            )
            for j in range(rng.randint(0, 6))
        ]
        cycles = [
            Cycle(
                recipient=f"利用者{i}-{k}",
                days=rng.randint(-40, 120),
                status=rng.choice(["active", "active", "active", "completed"]),
            )
            for k in range(rng.randint(0, 25))
        ]
        offices.append(OfficeRows(name=f"事業所{i:03d}", staff=staff, cycles=cycles))
    return offices


@asynccontextmanager
async def schema_database(pg: PrivateServer, name: str) -> AsyncIterator[str]:
    """A new database with the application's schema on the private server; dropped after."""
    async with scratch_database(pg.url, name) as url:
        engine = create_engine(url, pg.cfg.pool)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(metadata.create_all)
        finally:
            await engine.dispose()
        yield url


@asynccontextmanager
async def loaded(
    pg: PrivateServer, name: str, offices: Sequence[OfficeRows]
) -> AsyncIterator[tuple[AsyncEngine, async_sessionmaker[AsyncSession], str]]:
    async with schema_database(pg, name) as url:
        async with connection(url) as conn:
            await insert(conn, offices)
        engine = create_engine(url, pg.cfg.pool)
        try:
            yield engine, create_session_factory(engine, pg.cfg.pool), url
        finally:
            await engine.dispose()


async def expected(url: str) -> dict[uuid.UUID, set[uuid.UUID]]:
    async with connection(url) as conn:
        rows = await conn.fetch(EXPECTED_SQL, TODAY)
    return {r["staff_id"]: set(r["cycle_ids"]) for r in rows}


async def run_batch(sessions: async_sessionmaker[AsyncSession], **kw: Any) -> AlertRunResult:
    async with sessions() as db:
        return await send_deadline_alert_emails(db, today=TODAY, **kw)


# --------------------------------------------------------------------------------------------
# tests


async def test_hand_made_office_gets_exactly_the_digests_the_rule_says(
    pg: PrivateServer,
) -> None:
    on30, off, on14, defaults, on60 = (
        Person("佐藤 花子", prefs(days=30)),
        Person("鈴木 一郎", prefs(on=False)),
        Person("高橋 次郎", prefs(days=14)),
        Person("田中 三郎", prefs(on=None, days=None)),
        Person("伊藤 四郎", prefs(days=60)),
    )
    cycles = {
        "overdue": Cycle("山田 太郎", -3),
        "today": Cycle("山本 二葉", 0),
        "d14": Cycle("中村 三奈", 14),
        "d15": Cycle("小林 四季", 15),
        "d30": Cycle("加藤 五月", 30),
        "d31": Cycle("吉田 六花", 31),
        "d60": Cycle("山口 七海", 60),
        "d61": Cycle("松本 八重", 61),
        "done": Cycle("井上 九", 5, status="completed"),
    }
    busy = OfficeRows("ひまわり事業所", [on30, off, on14, defaults, on60], list(cycles.values()))
    # an office whose subscribed staff member has nothing due, and one with nobody subscribed
    quiet = OfficeRows("さくら事業所", [Person("木村 十", prefs(days=7))], [Cycle("林 一", 8)])
    unsubscribed = OfficeRows(
        "もみじ事業所", [Person("清水 百", prefs(on=False))], [Cycle("森 二", 1)]
    )

    async with loaded(pg, "alerts_hand_test", [busy, quiet, unsubscribed]) as (_, sessions, _):
        result = await run_batch(sessions)

    upto30 = ["overdue", "today", "d14", "d15", "d30"]
    want = {
        on30.id: upto30,
        on14.id: ["overdue", "today", "d14"],
        defaults.id: upto30,
        on60.id: [*upto30, "d31", "d60"],
    }
    assert {s: list(c) for s, c in result.per_staff.items()} == {
        s: [cycles[k].id for k in keys] for s, keys in want.items()
    }
    assert result.emails_composed == 4 and result.emails_sent == 0 and result.dry_run
    assert result.offices == 1
    assert result.cycles == 7 and result.overdue_cycles == 1

    digest = next(d for d in result.digests if d.staff_id == on14.id)
    assert digest.office_name == "ひまわり事業所" and digest.overdue == 1
    assert [c.days_left for c in digest.cycles] == [-3, 0, 14]
    assert "期限切れ1件" in digest.subject and "ひまわり事業所" in digest.subject
    assert digest.body.startswith("高橋 次郎 様")
    for line in ("・山田 太郎 様　2026年2月6日（金）（3日超過）", "（本日期限）", "（あと14日）"):
        assert line in digest.body
    assert "小林 四季" not in digest.body


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_matches_an_independent_count_on_random_data(pg: PrivateServer, seed: int) -> None:
    offices = random_offices(random.Random(seed), 12)
    async with loaded(pg, f"alerts_random_{seed}_test", offices) as (_, sessions, url):
        result = await run_batch(sessions)
        want = await expected(url)
    assert {s: set(c) for s, c in result.per_staff.items()} == want
    assert result.emails_composed == len(want)
    for digest in result.digests:  # sorted by end date, overdue first, counted right
        ends = [c.end_date for c in digest.cycles]
        assert ends == sorted(ends)
        assert digest.overdue == sum(c.overdue for c in digest.cycles)
        assert digest.subject and str(len(digest.cycles)) in digest.body


async def test_plan_shaped_data_sends_one_email_per_staff_member(pg: PrivateServer) -> None:
    offices = [
        OfficeRows(
            f"事業所{i}",
            [Person(f"職員{i}-{j}", prefs(days=30)) for j in range(10)],
            [Cycle(f"利用者{i}-{k}", 25) for k in range(100)],
        )
        for i in range(3)
    ]
    async with loaded(pg, "alerts_plan_test", offices) as (_, sessions, url):
        result = await run_batch(sessions)
        want = await expected(url)
    assert result.emails_composed == 30 == len(want)
    assert all(len(d.cycles) == 100 for d in result.digests)
    assert result.offices == 3 and result.cycles == 300 and result.overdue_cycles == 0


@pytest.mark.parametrize("mode", ["realistic", "plan"])
async def test_matches_an_independent_count_on_generated_data(
    pg: PrivateServer, mode: DataMode
) -> None:
    """The seeder's data (issue 3): realistic spreads, and the plan's shape (e-mails = staff)."""
    scale = Scale(name="tiny", offices=6, staff_per_office=10, recipients_per_office=40)
    async with scratch_database(pg.url, f"alerts_seeded_{mode}_test") as url:
        seeded = await seed_database(Run(pg.cfg, db=url), scale, mode=mode, anchor=TODAY)
        engine = create_engine(url, pg.cfg.pool)
        try:
            result = await run_batch(create_session_factory(engine, pg.cfg.pool))
        finally:
            await engine.dispose()
        want = await expected(url)
    assert seeded.info.anchor_date == TODAY
    assert {s: set(c) for s, c in result.per_staff.items()} == want
    staff = seeded.rows["staffs"]
    if mode == "plan":
        assert result.emails_composed == staff == 60
        assert result.offices == 6 and result.overdue_cycles == 0
    else:  # some staff have e-mail off or nothing due; some cycles are overdue
        assert 0 < result.emails_composed < staff
        assert result.overdue_cycles > 0


async def test_statement_count_does_not_grow_with_offices(pg: PrivateServer) -> None:
    counts = []
    for n in (2, 9):
        offices = random_offices(random.Random(n), n)
        async with loaded(pg, f"alerts_count_{n}_test", offices) as (engine, sessions, _):
            await run_batch(sessions)  # warm: connection set-up is not the batch's
            with StatementCounter(engine) as counter:
                await run_batch(sessions)
            counts.append(counter.count)
    assert counts[0] == counts[1] == 1


async def test_registered_workload_runs_the_batch(pg: PrivateServer) -> None:
    offices = random_offices(random.Random(7), 4)
    async with loaded(pg, "alerts_registry_test", offices) as (_, sessions, url):
        outcome = (
            await application()
            .workloads.get("deadline_alerts")
            .run(WorkloadContext(session_factory=sessions, today=TODAY))
        )
        want = await expected(url)
    assert isinstance(outcome, AlertRunResult)
    assert outcome.metrics()["emails"] == len(want)


async def test_sends_every_digest_through_a_real_smtp_server(
    pg: PrivateServer, pg_config: Config
) -> None:
    offices = random_offices(random.Random(11), 5)
    port = free_port()
    smtp = pg_config.smtp.__class__(host="127.0.0.1", port=port, sender="alerts@keikakun.test")
    async with loaded(pg, "alerts_smtp_test", offices) as (_, sessions, _):
        with smtp_sink(port=port) as sink:
            result = await run_batch(sessions, dry_run=False, mailer=SmtpMailer(smtp))
    assert result.emails_sent == result.emails_composed == len(sink.messages) > 0
    arrived = {m["To"].addresses[0].addr_spec: m for m in sink.messages}
    for digest in result.digests:
        msg = arrived[digest.email]
        assert msg["Subject"] == digest.subject
        assert msg["From"] == "alerts@keikakun.test"
        assert msg["To"].addresses[0].display_name == digest.staff_name
        assert msg.get_content().replace("\r\n", "\n") == digest.body


async def test_dry_run_sends_nothing_even_with_a_mailer(
    pg: PrivateServer, pg_config: Config
) -> None:
    port = free_port()
    smtp = pg_config.smtp.__class__(port=port)
    offices = random_offices(random.Random(5), 3)
    async with loaded(pg, "alerts_dry_test", offices) as (_, sessions, _):
        with smtp_sink(port=port) as sink:
            result = await run_batch(sessions, dry_run=True, mailer=SmtpMailer(smtp))
            with pytest.raises(MissingMailerError):
                await run_batch(sessions, dry_run=False)
    assert result.emails_composed > 0 and result.emails_sent == 0
    assert sink.messages == []
