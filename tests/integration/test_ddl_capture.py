"""The schema verbatim: a schema captured from the catalogue and replayed is the same schema.

Database A is built from a SQL file (Pagila's schema plus tests/schemas/extras.sql: domains,
ENUMs, arrays, partitions, a foreign-key cycle, a trigram GIN index, partial and expression
indexes, an exclusion constraint, triggers, a policy, a "C" collation, views). Its capture is
replayed (bare tables, then the post-load DDL) into database B, and into a staging schema of
database C; every ``pg_get_indexdef``, ``pg_get_constraintdef``, ``pg_get_triggerdef``, policy
and column of the result must equal A's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from perfkit.db import connection
from perfkit.ddl import Capture, UncarriedError, bare_sql, capture_schema, post_load
from perfkit.ddl.model import CaptureError
from perfkit.testing import scratch_database

pytestmark = pytest.mark.integration

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
SAMPLE_FILES = (SCHEMAS / "pagila-schema.sql", SCHEMAS / "extras.sql")

# What a schema is, as the catalogue prints it: read with the schema first on the path, so
# names print alike wherever the tables live.
_INDEXES = """
SELECT c.relname, i.relname, replace(pg_get_indexdef(x.indexrelid), ' ' || $1 || '.', ' ')
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class c ON c.oid = x.indrelid
WHERE c.relnamespace = $1::regnamespace ORDER BY 1, 2
"""
_CONSTRAINTS = """
SELECT coalesce(c.relname, t.typname), k.conname, pg_get_constraintdef(k.oid)
FROM pg_constraint k LEFT JOIN pg_class c ON c.oid = k.conrelid
LEFT JOIN pg_type t ON t.oid = k.contypid
WHERE k.connamespace = $1::regnamespace ORDER BY 1, 2
"""
_TRIGGERS = """
SELECT c.relname, t.tgname, replace(pg_get_triggerdef(t.oid), ' ' || $1 || '.', ' '),
       t.tgenabled::text
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
WHERE c.relnamespace = $1::regnamespace AND NOT t.tgisinternal ORDER BY 1, 2
"""
_POLICIES = """
SELECT tablename, policyname, permissive, roles::text, cmd, qual, with_check
FROM pg_policies WHERE schemaname = $1 ORDER BY 1, 2
"""
_COLUMNS = """
SELECT c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid), a.attidentity::text, a.attgenerated::text,
       a.attcollation::regcollation::text, c.relkind::text, pg_get_expr(c.relpartbound, c.oid),
       c.relrowsecurity
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE c.relnamespace = $1::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
  AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY 1, 2
"""


async def described(conn: asyncpg.Connection, schema: str) -> dict[str, list[tuple[object, ...]]]:
    """Every index, constraint, trigger, policy and column of ``schema`` as PostgreSQL prints
    them."""
    async with conn.transaction():
        await conn.execute(f'SET LOCAL search_path = "{schema}", public, pg_catalog')
        await conn.execute("SET LOCAL TimeZone = 'UTC'")
        return {
            name: [tuple(r) for r in await conn.fetch(sql, schema)]
            for name, sql in (
                ("indexes", _INDEXES),
                ("constraints", _CONSTRAINTS),
                ("triggers", _TRIGGERS),
                ("policies", _POLICIES),
                ("columns", _COLUMNS),
            )
        }


async def build_from_files(url: str) -> None:
    async with connection(url) as conn:
        for path in SAMPLE_FILES:
            await conn.execute(path.read_text(encoding="utf-8"))


async def replay(url: str, capture: Capture, *, target: str, home: str | None = None) -> None:
    async with connection(url) as conn:
        if target != "public":
            await conn.execute(f'CREATE SCHEMA "{target}"')
        for statement in bare_sql(capture, target=target, home=home):
            await conn.execute(statement)
        for statement in post_load(capture, target=target, home=home).statements():
            await conn.execute(statement)


@pytest.fixture(scope="module")
async def source(pg_url: str) -> AsyncIterator[tuple[str, Capture]]:
    """Database A, built from the sample SQL files, and its capture."""
    async with scratch_database(pg_url, "perfkit_ddl_source_test") as url:
        await build_from_files(str(url))
        async with connection(str(url)) as conn:
            captured = await capture_schema(conn, "public")
        yield str(url), captured


async def test_the_capture_sees_every_kind_of_object(source: tuple[str, Capture]) -> None:
    _, captured = source
    assert {e.name for e in captured.extensions} == {"pg_trgm", "btree_gist"}
    assert {e.name for e in captured.enums} == {"mpaa_rating", "skill"}
    assert {d.name for d in captured.domains} == {"bıgınt", "year", "zip_code", "percent"}
    assert captured.table("payment").partition_key == "RANGE (payment_date)"
    assert len(captured.partitions("payment")) == 7
    assert captured.table("audit_event_other").partition_bound == "DEFAULT"
    employee = captured.table("employee")
    assert {i.name for i in employee.indexes} == {
        "employee_email_live",
        "employee_name_trgm",
        "employee_hired_year",
    }
    trgm = next(i for i in employee.indexes if i.name == "employee_name_trgm")
    assert "gin_trgm_ops" in trgm.definition
    live = next(i for i in employee.indexes if i.name == "employee_email_live")
    assert (live.unique, live.keys, live.key_columns) == (True, ("lower(email)",), (None,))
    assert live.predicate == "deleted_at IS NULL"
    assert [p.name for p in employee.policies] == ["employee_live"]
    assert employee.row_security
    assert captured.table("org_unit").column("code").collation == '"C"'
    assert {k.kind for k in captured.table("room_booking").constraints} >= {"x", "c", "f", "p"}
    assert [t.name for t in captured.table("film").triggers] == [
        "film_fulltext_trigger",
        "last_updated",
    ]
    assert {v.name for v in captured.views} >= {"actor_info", "rental_by_category"}
    assert captured.uncarried == ()


async def test_replay_rebuilds_every_definition_exactly(
    source: tuple[str, Capture], pg_url: str
) -> None:
    url_a, captured = source
    async with connection(url_a) as conn:
        wanted = await described(conn, "public")
    assert len(wanted["indexes"]) > 40 and len(wanted["triggers"]) > 15
    async with scratch_database(pg_url, "perfkit_ddl_replay_test") as url:
        await replay(str(url), captured, target="public")
        async with connection(str(url)) as conn:
            got = await described(conn, "public")
            again = await capture_schema(conn, "public")
    for part in wanted:
        assert got[part] == wanted[part], part
    assert again.fingerprint == captured.fingerprint


async def test_a_staging_schema_reads_as_the_original(
    source: tuple[str, Capture], pg_url: str
) -> None:
    """Built in a staging schema with the extensions left in public (where the tables end
    up), the capture is the original's, fingerprint included."""
    url_a, captured = source
    async with connection(url_a) as conn:
        wanted = await described(conn, "public")
    async with scratch_database(pg_url, "perfkit_ddl_staging_test") as url:
        await replay(str(url), captured, target="perfkit_seed_x", home="public")
        async with connection(str(url)) as conn:
            staged = await capture_schema(conn, "perfkit_seed_x", home="public")
            got = await described(conn, "perfkit_seed_x")
    assert staged.fingerprint == captured.fingerprint
    for part in ("indexes", "constraints", "triggers", "columns"):
        assert got[part] == wanted[part], part


async def test_the_fingerprint_covers_triggers_and_policies(pg_url: str) -> None:
    async with (
        scratch_database(pg_url, "perfkit_ddl_fingerprint_test") as url,
        connection(str(url)) as conn,
    ):
        await conn.execute(
            "CREATE TABLE t (id int PRIMARY KEY, owner text);"
            "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RETURN NEW; END $$;"
            "CREATE TRIGGER t_f BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f();"
            "CREATE POLICY t_own ON t USING (owner = current_user)"
        )
        full = (await capture_schema(conn, "public")).fingerprint
        await conn.execute("DROP POLICY t_own ON t")
        no_policy = (await capture_schema(conn, "public")).fingerprint
        await conn.execute("DROP TRIGGER t_f ON t")
        no_trigger = (await capture_schema(conn, "public")).fingerprint
        await conn.execute("ALTER TABLE t ENABLE ROW LEVEL SECURITY")
        with_rls = (await capture_schema(conn, "public")).fingerprint
    assert len({full, no_policy, no_trigger, with_rls}) == 4


async def test_what_cannot_be_carried_is_named(pg_url: str) -> None:
    async with (
        scratch_database(pg_url, "perfkit_ddl_uncarried_test") as url,
        connection(str(url)) as conn,
    ):
        await conn.execute(
            "CREATE TABLE base (id int); CREATE TABLE derived (extra int) INHERITS (base);"
            "CREATE RULE base_quiet AS ON DELETE TO base DO INSTEAD NOTHING"
        )
        captured = await capture_schema(conn, "public")
    assert {(u.kind, u.name) for u in captured.uncarried} == {
        ("table", "derived"),
        ("rule", "base_quiet on base"),
    }
    with pytest.raises(UncarriedError) as caught:
        captured.require_carried()
    assert {kind for kind, _, _ in caught.value.objects} == {"table", "rule"}
    captured.require_carried(skip_uncarried=True)


async def test_a_table_list_must_be_closed_under_foreign_keys(
    source: tuple[str, Capture],
) -> None:
    url_a, _ = source
    async with connection(url_a) as conn:
        with pytest.raises(CaptureError) as caught:
            await capture_schema(conn, "public", tables=["team", "org_unit"])
        assert caught.value.problem == "not_closed"
        assert caught.value.names == ("team.team_lead_fk -> employee",)
        with pytest.raises(CaptureError) as missing:
            await capture_schema(conn, "public", tables=["nope"])
        assert missing.value.problem == "missing_table"
        some = await capture_schema(conn, "public", tables=["language", "film"])
    assert some.table_names == ("film", "language")
    assert [v.name for v in some.views] == []
