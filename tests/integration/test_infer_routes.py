"""Inferred data through every route, as recipes go (issue 20, second part).

An application with no recipe, whose schema is the vendored Pagila plus tests/schemas/extras.sql
(partitioned tables, domains, enums, arrays, a trigger, row-level security, an exclusion
constraint, trigram and expression indexes), goes through ``invoke snapshot`` (which seeds
first), a restore from the files, one from the template the first kept, ``prepare`` keeping
the data, and a workload measured on it. After each restore every definition PostgreSQL prints
(``pg_get_indexdef``, ``pg_get_constraintdef``, ``pg_get_triggerdef``, ``pg_get_functiondef``,
``pg_get_viewdef``, policies, partition bounds) equals the seeded database's, and every
table's rows have the same checksum. The guard of issue 18 works on it too: a dropped trigger
(which the catalogue fingerprint of recipes does not see, the capture's does) makes the data
not kept, and ``prepare`` restores it.
"""

from __future__ import annotations

import datetime as dt
import os
import types
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from perfkit.config import Config, MeasureConfig, SchemaSource, WorkloadConfig
from perfkit.datagen.infer.seed import INFERRED_MODE
from perfkit.datagen.metadata import read_dataset_info
from perfkit.dataspec import parse_spec
from perfkit.db import connection
from perfkit.loading import load_application
from perfkit.pipeline import run_scale
from perfkit.prepare import create_snapshot, prepare
from perfkit.results import read_records
from perfkit.run import Run
from perfkit.snapshot.errors import CorruptSnapshotError
from perfkit.snapshot.listing import list_snapshots, verify_snapshots
from perfkit.snapshot.manifest import SCHEMA_NAME
from perfkit.snapshot.restore import restore_snapshot, verify_snapshot
from perfkit.snapshot.store import SnapshotStore
from perfkit.testing import (
    PrivateServer,
    databases_named,
    drop_databases,
    scratch_database,
    tiny_scale_config,
)
from perfkit.urls import with_database

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.integration

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
SOURCE_DB = "perfkit_infer_routes_test"
PLUGIN_DB = "perfkit_infer_plugin_test"
#: The inner suite's ini: pytest-asyncio's auto mode, strict markers, warnings are errors.
PLUGIN_INI = """[pytest]
addopts = --strict-markers
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
filterwarnings = error
perfkit_config = scales.yaml
"""
TARGET_DB = "perfkit_infer_routes_copy_test"
#: Small, and the one CHECK perfkit cannot read (org_unit.zip's regular expression) overridden.
SPEC: dict[str, Any] = {
    "locale": "ja_JP",
    "default_rows": 4,
    "default_count": 2,
    "tables": {
        "country": {"rows": 3},
        "org_unit": {"rows": 3, "columns": {"zip": {"choice": ["100-0001", "530-0001"]}}},
    },
}
WORKLOAD = WorkloadConfig(
    call="perfkit.testing.workloads:joined_rows",
    kwargs=types.MappingProxyType({"table": "rental", "parent": "customer", "key": "customer_id"}),
)

#: Every definition PostgreSQL prints for the objects of ``public``, as (kind, name, text).
DEFINITIONS = """
SELECT 'index', c.relname, pg_get_indexdef(c.oid)
FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('i', 'I')
UNION ALL
SELECT 'constraint', k.conrelid::regclass::text || '.' || k.conname, pg_get_constraintdef(k.oid)
FROM pg_constraint k WHERE k.connamespace = 'public'::regnamespace
UNION ALL
SELECT 'trigger', t.tgrelid::regclass::text || '.' || t.tgname, pg_get_triggerdef(t.oid)
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
WHERE c.relnamespace = 'public'::regnamespace AND NOT t.tgisinternal
UNION ALL
SELECT 'function', p.oid::regprocedure::text, pg_get_functiondef(p.oid)
FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND p.prokind IN ('f', 'p')
  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
UNION ALL
SELECT 'view', c.relname, pg_get_viewdef(c.oid)
FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('v', 'm')
UNION ALL
SELECT 'policy', p.tablename || '.' || p.policyname,
       concat_ws(' ', p.permissive, p.cmd, p.roles::text, p.qual, p.with_check)
FROM pg_policies p WHERE p.schemaname = 'public'
UNION ALL
SELECT 'partition', c.relname, pg_get_expr(c.relpartbound, c.oid)
FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relispartition
UNION ALL
SELECT 'column', c.relname || '.' || a.attname,
       concat_ws(' ', format_type(a.atttypid, a.atttypmod), a.attnotnull,
                 pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated)
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
  AND a.attnum > 0 AND NOT a.attisdropped AND c.relname <> 'perfkit_dataset'
ORDER BY 1, 2
"""


@pytest.fixture(scope="module")
def inferred(pg: PrivateServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Config]:
    """The session's config for an application with no recipe: the sample schema from one SQL
    file, a small ``app.data``, one workload reading two of its tables, a 1-office scale
    ``tiny`` with its own snapshots and results, two timed runs."""
    root = tmp_path_factory.mktemp("infer_routes")
    sql = root / "schema.sql"
    sql.write_text(
        "\n".join(
            (SCHEMAS / n).read_text(encoding="utf-8") for n in ("pagila-schema.sql", "extras.sql")
        ),
        encoding="utf-8",
    )
    cfg, _, _ = tiny_scale_config(pg.cfg, root, offices=1)
    app = msgspec.structs.replace(
        cfg.app,
        schema=SchemaSource(sql=sql),
        recipe=None,
        data=parse_spec(SPEC, source="scales.yaml", key="app.data"),
        workloads=types.MappingProxyType({"rentals": WORKLOAD}),
        default_workload="rentals",
    )
    yield msgspec.structs.replace(cfg, app=app, measure=MeasureConfig(repeat=2, warmup=0))


@pytest.fixture(scope="module")
async def urls(pg: PrivateServer) -> AsyncIterator[tuple[str, str]]:
    """The seeded database's URL and the restored copy's; both dropped after the module."""
    source, target = with_database(pg.url, SOURCE_DB), with_database(pg.url, TARGET_DB)
    await drop_databases(pg.url, SOURCE_DB, TARGET_DB)
    yield source, target
    templates = await databases_named(pg.url, "perfkit_tpl_tiny_")
    await drop_databases(pg.url, SOURCE_DB, TARGET_DB, *templates)


async def definitions(url: str) -> list[tuple[str, str, str]]:
    async with connection(url) as conn:
        return [(str(r[0]), str(r[1]), str(r[2])) for r in await conn.fetch(DEFINITIONS)]


async def checksums(url: str) -> dict[str, str]:
    """An md5 of each table's rows, in the order of their text (partitioned parents and the
    dataset's own table included)."""
    async with connection(url) as conn:
        await conn.execute("SET TimeZone = 'UTC'")
        tables = [
            str(r[0])
            for r in await conn.fetch(
                "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace "
                "AND relkind IN ('r', 'p') AND relname <> 'perfkit_dataset' ORDER BY 1"
            )
        ]
        return {
            t: str(
                await conn.fetchval(
                    f"SELECT md5(coalesce(string_agg(r, ',' ORDER BY r), '')) "  # noqa: S608
                    f'FROM (SELECT x::text AS r FROM "{t}" AS x) AS s'
                )
            )
            for t in tables
        }


async def test_inferred_data_goes_through_every_route(
    inferred: Config, urls: tuple[str, str]
) -> None:
    cfg, (source, target) = inferred, urls
    scale = cfg.scale("tiny")
    app = load_application(Run(cfg))
    assert app.inferred is not None and "payment" in app.tables

    # invoke snapshot: seeds first, then dumps the partitions and the captured schema
    made = await create_snapshot(Run(cfg, db=source), scale)
    manifest = made.snapshot.manifest
    assert made.seeded and manifest.mode == INFERRED_MODE
    dumped = {t.table for t in manifest.tables}
    assert "payment" not in dumped and "payment_p2022_01" in dumped  # partitions, not parents
    assert {"audit_event_login", "audit_event_other", "perfkit_dataset"} <= dumped
    assert manifest.schema_file is not None and (made.snapshot.path / SCHEMA_NAME).is_file()
    assert manifest.schema_fingerprint == app.data.fingerprint
    seeded_defs, seeded_sums = await definitions(source), await checksums(source)
    assert any(kind == "trigger" for kind, _, _ in seeded_defs)
    assert sum(1 for kind, _, _ in seeded_defs if kind == "policy") == 1

    # restore from the files into another database; it keeps a template (auto mode)
    from_files = await restore_snapshot(Run(cfg, db=target), scale, method="auto")
    assert from_files.method == "file" and from_files.template is not None
    assert await definitions(target) == seeded_defs
    assert await checksums(target) == seeded_sums

    # restore from that template, a week later: the same rows, the anchor moved
    later = manifest.anchor_date + dt.timedelta(days=7)
    cloned = await restore_snapshot(Run(cfg, db=target), scale, method="template", as_of=later)
    assert cloned.method == "template" and cloned.shifted_days == 7
    assert await definitions(target) == seeded_defs
    assert await checksums(target) == seeded_sums
    async with connection(target) as conn:
        info = await read_dataset_info(conn, order=app.tables)
    assert info is not None and info.anchor_date == later
    assert info.key() == manifest.dataset_key

    # prepare keeps it (as of that day), and a workload is measured on it
    kept = await prepare(Run(cfg, db=target), scale, as_of=later)
    assert kept.how == "kept", kept.reason
    run = await run_scale(Run(cfg, db=source), scale, run_id="inferred-run")
    joined = "SELECT count(*) FROM rental JOIN customer USING (customer_id)"
    async with connection(source) as conn:
        expected = await conn.fetchval(joined)
    assert run.numbers["result"] == expected > 0
    assert run.info.mode == INFERRED_MODE and run.record.dataset["key"] == manifest.dataset_key
    assert [p.report.how for p in run.preparations] == ["kept"]


async def test_a_dropped_trigger_is_a_change_and_prepare_restores_it(
    inferred: Config, urls: tuple[str, str]
) -> None:
    """The catalogue fingerprint of recipes does not cover triggers; an inferred dataset's
    capture does: dropping one makes the data not kept, and prepare brings it back."""
    cfg, (_, target) = inferred, urls
    scale = cfg.scale("tiny")
    first = await prepare(Run(cfg, db=target), scale)
    assert first.how in ("kept", "template")
    async with connection(target) as conn:
        await conn.execute("DROP TRIGGER room_booking_touch ON room_booking")
    again = await prepare(Run(cfg, db=target), scale)
    assert again.how == "template" and again.reason is not None
    assert "not as they were built" in again.reason
    async with connection(target) as conn:
        back = await conn.fetchval(
            "SELECT count(*) FROM pg_trigger WHERE tgname = 'room_booking_touch'"
        )
    assert back == 1
    assert (await prepare(Run(cfg, db=target), scale)).how == "kept"


async def test_a_snapshot_whose_schema_file_was_edited_is_refused(
    inferred: Config, urls: tuple[str, str]
) -> None:
    cfg = inferred
    scale = cfg.scale("tiny")
    store = SnapshotStore.for_run(Run(cfg))
    snap = store.latest(scale.name, strict=True)
    assert snap is not None
    path = snap.path / SCHEMA_NAME
    body = path.read_bytes()
    try:
        path.write_bytes(body.replace(b"room_booking_touch", b"room_booking_tauch"))
        with pytest.raises(CorruptSnapshotError) as caught:
            verify_snapshot(snap, load_application(Run(cfg)))
        assert SCHEMA_NAME in caught.value.reason
    finally:
        path.write_bytes(body)
    verify_snapshot(snap, load_application(Run(cfg)))


PLUGIN_SUITE = """
import pytest
from sqlalchemy import exc, text


async def test_the_shared_data(perf_data, perf_session):
    assert perf_data.rows["org_unit"] == 3 and not perf_data.cloned
    assert await perf_session.scalar(text("SELECT count(*) FROM org_unit")) == 3
    with pytest.raises(exc.DBAPIError, match="read-only transaction"):
        await perf_session.execute(text("DELETE FROM team_member"))


@pytest.mark.perf_clone
async def test_a_writer_gets_a_clone(perf_data, perf_session):
    assert perf_data.cloned
    await perf_session.execute(text("DELETE FROM team_member"))
    await perf_session.commit()


async def test_measured(perf_measure, perf_session):
    async def members():
        return await perf_session.scalar(text("SELECT count(*) FROM team_member"))

    run = await perf_measure(members, name="members")
    assert run.numbers["result"] > 0
"""


async def test_the_pytest_plugin_serves_inferred_data(
    pg: PrivateServer,
    config_file: Path,
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """A team's own tests on an application with no recipe (tests/schemas/extras.sql alone):
    shared read-only data, a clone for a writer, a measurement recorded."""
    for name in list(os.environ):
        if name.startswith("PERFKIT_") or name in (
            "PERFORMANCE_TEST_DATABASE_URL", "TEST_DATABASE_URL", "PERF_TEST_SCALE",
        ):  # fmt: skip
            monkeypatch.delenv(name)
    raw = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    raw["scales"] = {"tiny": {"offices": 1, "timeout": 300}}
    raw["measure"] = {"repeat": 2, "warmup": 0}
    raw["app"] = {
        "schema": {"sql": str(SCHEMAS / "extras.sql")},
        "recipe": None,
        "data": {**SPEC, "tables": {"org_unit": SPEC["tables"]["org_unit"]}},
        "workloads": {"units": {"call": "perfkit.testing.workloads:joined_rows",
                                "kwargs": {"table": "org_unit", "parent": "org_unit",
                                           "key": "id"}}},
        "default_workload": "units",
    }  # fmt: skip
    (pytester.path / "scales.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    pytester.makeini(PLUGIN_INI)
    monkeypatch.setenv("PERF_TEST_SCALE", "tiny")
    monkeypatch.setenv("PERFKIT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("PERFKIT_SNAPSHOT_DIR", str(tmp_path / "snapshots"))
    monkeypatch.setenv("PERFKIT_RESULTS_DIR", str(tmp_path / "results"))
    async with scratch_database(pg.url, PLUGIN_DB, perfkit_made=True) as url:
        monkeypatch.setenv("PERFORMANCE_TEST_DATABASE_URL", url)
        pytester.makepyfile(test_inferred=PLUGIN_SUITE)
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=240)
        templates = await databases_named(pg.url, "perfkit_tpl_tiny_")
        await drop_databases(pg.url, *templates)
    result.assert_outcomes(passed=3)
    (record,) = read_records(tmp_path / "results" / "results.jsonl")
    assert record.workload == "members" and record.dataset["mode"] == INFERRED_MODE
    assert record.dataset["rows"]["org_unit"] == 3


async def test_listing_and_verifying_read_the_capture_the_last_build_left(
    inferred: Config, urls: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``invoke snapshots`` and ``verify`` never build the schema: for inferred data they read
    the capture the last build kept in the state folder (this process's memory cleared here),
    and before any build they say the fit is unknown."""
    from perfkit.ddl import source

    cfg = inferred
    monkeypatch.setattr(source, "_CAPTURED", {})  # a new process: nothing captured in memory
    (listed,) = [row for row in list_snapshots(Run(cfg), scale="tiny") if row.latest]
    assert listed.fits_schema is True and listed.config_problem is None
    assert all(v.ok for v in verify_snapshots(Run(cfg), scale="tiny"))
    memo = cfg.state_dir / source.CAPTURES_DIR
    kept = {p: p.read_bytes() for p in memo.iterdir()}
    try:
        for path in kept:
            path.unlink()
        (unknown,) = [row for row in list_snapshots(Run(cfg), scale="tiny") if row.latest]
        assert unknown.fits_schema is None
    finally:
        for path, body in kept.items():
            path.write_bytes(body)
