"""The welfare world as a preset of the cardinality language (issue 20, part 3).

The sample application's models, with no recipe: ``app.data: {preset: welfare}``. The seed
must give every table the rows the scale says (offices times the scale, ``staff_per_office``
and ``recipients_per_office`` per office, one plan per recipient, ``cycles_per_plan`` per
plan), consistent keys (a plan's office is its recipient's, its responsible staff member
works there), cycles dated around the data's day, and, after a restore for a later day, the
cycles' dates moved by as many days while a date of birth stays.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from typing import Literal

import msgspec
import pytest

from perfkit.config import Config
from perfkit.datagen.infer.seed import INFERRED_MODE
from perfkit.dataspec import parse_spec
from perfkit.db import connection
from perfkit.loading import load_application
from perfkit.prepare import create_snapshot
from perfkit.run import Run
from perfkit.snapshot.restore import restore_snapshot
from perfkit.testing import PrivateServer, databases_named, drop_databases, tiny_scale_config
from perfkit.urls import with_database

pytestmark = pytest.mark.integration

SOURCE_DB = "perfkit_welfare_preset_test"
TARGET_DB = "perfkit_welfare_preset_copy_test"
OFFICES = 3


@pytest.fixture(scope="module")
def preset_cfg(pg: PrivateServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Config]:
    """The sample application (its models) with no recipe and the welfare preset; a scale
    ``tiny`` of 3 offices, 4 staff and 20 recipients each, 2 cycles per plan."""
    root = tmp_path_factory.mktemp("welfare_preset")
    cfg, tiny, _ = tiny_scale_config(pg.cfg, root, offices=OFFICES)
    tiny = msgspec.structs.replace(
        tiny, staff_per_office=4, recipients_per_office=20, cycles_per_plan=2
    )
    app = msgspec.structs.replace(
        cfg.app,
        recipe=None,
        data=parse_spec({"preset": "welfare"}, source="scales.yaml", key="app.data"),
    )
    yield msgspec.structs.replace(cfg, app=app, scales={"tiny": tiny})


@pytest.fixture(scope="module")
async def urls(pg: PrivateServer) -> AsyncIterator[tuple[str, str]]:
    source, target = with_database(pg.url, SOURCE_DB), with_database(pg.url, TARGET_DB)
    await drop_databases(pg.url, SOURCE_DB, TARGET_DB)
    yield source, target
    templates = await databases_named(pg.url, "perfkit_tpl_tiny_")
    await drop_databases(pg.url, SOURCE_DB, TARGET_DB, *templates)


async def row_counts(url: str, tables: tuple[str, ...]) -> dict[str, int]:
    async with connection(url) as conn:
        return {
            t: int(await conn.fetchval(f'SELECT count(*) FROM "{t}"'))  # noqa: S608
            for t in tables
        }


async def test_the_welfare_preset_seeds_the_sample_models(
    preset_cfg: Config, urls: tuple[str, str]
) -> None:
    cfg, (source, target) = preset_cfg, urls
    scale = cfg.scale("tiny")
    app = load_application(Run(cfg))
    assert app.inferred is not None
    assert dict(app.data.dated_columns) == {"support_plan_cycles": ("start_date", "end_date")}

    made = await create_snapshot(Run(cfg, db=source), scale)
    assert made.seeded and made.snapshot.manifest.mode == INFERRED_MODE
    anchor = made.snapshot.manifest.anchor_date
    recipients = OFFICES * scale.recipients_per_office
    assert await row_counts(source, app.tables) == {
        "offices": OFFICES,
        "staffs": OFFICES * scale.staff_per_office,
        "welfare_recipients": recipients,
        "individual_support_plans": recipients,
        "support_plan_cycles": recipients * scale.cycles_per_plan,
    }
    async with connection(source) as conn:
        # every foreign key was added after the load and validated
        assert await conn.fetchval(
            "SELECT bool_and(convalidated) FROM pg_constraint WHERE contype = 'f' "
            "AND connamespace = 'public'::regnamespace"
        )
        # a plan's office is its recipient's; its responsible staff member works there
        assert not await conn.fetchval(
            "SELECT count(*) FROM individual_support_plans p "
            "JOIN welfare_recipients r ON r.id = p.welfare_recipient_id "
            "JOIN staffs s ON s.id = p.responsible_staff_id "
            "WHERE p.office_id <> r.office_id OR s.office_id <> p.office_id"
        )
        assert (
            await conn.fetchval(
                "SELECT count(DISTINCT welfare_recipient_id) FROM individual_support_plans"
            )
            == recipients
        )
        # every office has its staff and recipients
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM offices o WHERE "
                "(SELECT count(*) FROM staffs s WHERE s.office_id = o.id) = $1 AND "
                "(SELECT count(*) FROM welfare_recipients r WHERE r.office_id = o.id) = $2",
                scale.staff_per_office,
                scale.recipients_per_office,
            )
            == OFFICES
        )
        # cycles: 180 days long, started 20 to 200 days before the data's day
        low, high, lengths = await conn.fetchrow(
            "SELECT min(start_date), max(start_date), array_agg(DISTINCT end_date - start_date) "
            "FROM support_plan_cycles"
        )
        assert anchor - dt.timedelta(days=200) <= low <= high <= anchor - dt.timedelta(days=20)
        assert lengths == [180]
        before = await conn.fetch(
            "SELECT c.id, c.start_date, r.id AS rid, r.date_of_birth FROM support_plan_cycles c "
            "JOIN individual_support_plans p ON p.id = c.individual_support_plan_id "
            "JOIN welfare_recipients r ON r.id = p.welfare_recipient_id ORDER BY c.id"
        )

    # a restore for 9 days later, from the files and from the template: the cycles move
    later = anchor + dt.timedelta(days=9)
    methods: list[tuple[Literal["auto", "template"], str]] = [
        ("auto", "file"),
        ("template", "template"),
    ]
    for method, how in methods:  # auto restores from the files and keeps a template
        done = await restore_snapshot(Run(cfg, db=target), scale, method=method, as_of=later)
        assert done.method == how and done.shifted_days == 9
        async with connection(target) as conn:
            after = await conn.fetch(
                "SELECT c.id, c.start_date, r.id AS rid, r.date_of_birth "
                "FROM support_plan_cycles c "
                "JOIN individual_support_plans p ON p.id = c.individual_support_plan_id "
                "JOIN welfare_recipients r ON r.id = p.welfare_recipient_id ORDER BY c.id"
            )
            assert await conn.fetchval("SELECT anchor_date FROM perfkit_dataset") == later
        assert [r["id"] for r in after] == [r["id"] for r in before]
        assert all(
            a["start_date"] == b["start_date"] + dt.timedelta(days=9)
            and a["date_of_birth"] == b["date_of_birth"]
            for a, b in zip(after, before, strict=True)
        )
