"""A bulk load drops each primary key and adds it again after the rows: whatever the key and
table are named, it comes back exactly as ``CREATE TABLE`` made it."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, PrimaryKeyConstraint, Table, Text

from perfkit.db import connection
from perfkit.schema import Schema, quote_ident
from perfkit.testing import PrivateServer, scratch_database

pytestmark = pytest.mark.integration

#: Names a user's schema may hold: quotes, a dollar quote, spaces, capitals, 63 bytes.
ODD = ['it\'s $pk$ "odd"', "Mixed Case", "t" * 63]


def tables() -> MetaData:
    metadata = MetaData()
    for name in ODD:
        Table(name, metadata, Column("id", Integer, primary_key=True), Column("v", Text))
    # named, deferrable and over two columns
    Table(
        "pair", metadata, Column("a", Integer), Column("b", Integer),
        PrimaryKeyConstraint("a", "b", name="pair's key", deferrable=True, initially="DEFERRED"),
    )  # fmt: skip
    Table("no_key", metadata, Column("v", Text))
    return metadata


async def keys(url: str, schema: str) -> dict[str, tuple[str, str]]:
    async with connection(url) as conn:
        rows = await conn.fetch(
            "SELECT c.relname, k.conname, pg_get_constraintdef(k.oid) AS def "
            "FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
            "WHERE k.contype = 'p' AND c.relnamespace = "
            "(SELECT oid FROM pg_namespace WHERE nspname = $1)",
            schema,
        )
    return {r["relname"]: (r["conname"], r["def"]) for r in rows}


async def test_each_key_is_dropped_and_added_back_as_it_was(pg: PrivateServer) -> None:
    schema = Schema(tables())
    staging = "stage's $pk$"
    steps = schema.primary_keys(staging)
    assert set(steps) == {*ODD, "pair"}  # a table without a key has nothing to drop
    async with scratch_database(pg.url, "perfkit_test_primary_keys") as url:
        async with connection(url) as conn:
            await conn.execute(f"CREATE SCHEMA {quote_ident(staging)}")
            for stmt in schema.create_tables_sql(staging):
                await conn.execute(stmt)
        made = await keys(url, staging)
        assert set(made) == set(steps)
        assert made["pair"] == ("pair's key", "PRIMARY KEY (a, b) DEFERRABLE INITIALLY DEFERRED")
        async with connection(url) as conn:
            for drop, _ in steps.values():
                await conn.execute(drop)
        assert await keys(url, staging) == {}
        async with connection(url) as conn:
            for _, add in steps.values():
                await conn.execute(add)
        assert await keys(url, staging) == made
