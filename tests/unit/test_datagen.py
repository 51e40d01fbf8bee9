"""Row generators, without a database: determinism, counts, shapes and the DDL split."""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import msgspec
import pytest

from perfkit.apps.welfare import application
from perfkit.apps.welfare.models import metadata
from perfkit.config import Config, DataConfig, Scale, load_config
from perfkit.datagen.command import parse_anchor
from perfkit.datagen.entities import DUE_WINDOWS, ENTITY_VERSION
from perfkit.datagen.ids import IdStream, stream_key
from perfkit.datagen.recipe import Shape, apportion
from perfkit.errors import ConfigError

APP = application()
TABLES = APP.tables
TABLE_SPECS = APP.recipe.tables
expected_row_counts = APP.recipe.row_counts
ddl = APP.schema

ANCHOR = dt.date(2026, 2, 9)
TINY = Scale(name="tiny", offices=3, staff_per_office=4, recipients_per_office=7)


@pytest.fixture(scope="module")
def cfg(config_file: Path) -> Config:
    return load_config(config_file, env={})


def rows(shape: Shape) -> dict[str, list[tuple[Any, ...]]]:
    return {spec.name: list(spec.generate(shape)) for spec in TABLE_SPECS}


def shape(cfg: Config, scale: Scale, *, mode: str = "realistic", seed: int = 42) -> Shape:
    return Shape(
        scale=scale,
        data=cfg.data,
        mode=mode,  # type: ignore[arg-type]
        seed=seed,
        anchor=ANCHOR,
        version=ENTITY_VERSION,
    )


def test_specs_follow_the_schema() -> None:
    assert tuple(spec.name for spec in TABLE_SPECS) == TABLES
    for spec in TABLE_SPECS:
        table = metadata.tables[spec.name]
        assert set(spec.columns) == {c.name for c in table.columns}


def test_plan_mode_counts_match_the_plan(cfg: Config) -> None:
    counts = expected_row_counts(cfg.scale("medium"), cfg.data, "plan")
    assert counts == {
        "offices": 100,
        "staffs": 1_000,
        "welfare_recipients": 10_000,
        "individual_support_plans": 10_000,
        "support_plan_cycles": 10_000,
    }
    assert sum(counts.values()) == 31_100
    large = expected_row_counts(cfg.scale("large"), cfg.data, "plan")
    assert sum(large.values()) == 155_500


def test_realistic_mode_adds_finished_cycles(cfg: Config) -> None:
    scale = msgspec.structs.replace(TINY, cycles_per_plan=2)
    counts = expected_row_counts(scale, cfg.data, "realistic")
    finished = cfg.data.realistic.finished_cycles_per_plan
    assert counts["support_plan_cycles"] == 3 * 7 * (2 + finished)


@pytest.mark.parametrize("mode", ["plan", "realistic"])
def test_generators_make_the_expected_counts(cfg: Config, mode: str) -> None:
    made = rows(shape(cfg, TINY, mode=mode))
    assert {t: len(r) for t, r in made.items()} == expected_row_counts(TINY, cfg.data, mode)  # type: ignore[arg-type]
    for spec in TABLE_SPECS:
        assert all(len(row) == len(spec.column_names) for row in made[spec.name])


def test_same_inputs_same_rows_ids_included(cfg: Config) -> None:
    assert rows(shape(cfg, TINY)) == rows(shape(cfg, TINY))


def test_another_seed_changes_ids_and_names(cfg: Config) -> None:
    a, b = rows(shape(cfg, TINY, seed=1)), rows(shape(cfg, TINY, seed=2))
    assert {r[0] for r in a["staffs"]}.isdisjoint(r[0] for r in b["staffs"])
    assert [r[2] for r in a["staffs"]] != [r[2] for r in b["staffs"]]


def test_anchor_moves_dates_only(cfg: Config) -> None:
    a = rows(shape(cfg, TINY))
    later = dataclasses.replace(shape(cfg, TINY), anchor=ANCHOR + dt.timedelta(days=10))
    b = rows(later)
    assert [r[0] for r in a["support_plan_cycles"]] == [r[0] for r in b["support_plan_cycles"]]
    assert [r[3] + dt.timedelta(days=10) for r in a["support_plan_cycles"]] == [
        r[3] for r in b["support_plan_cycles"]
    ]


def test_children_reference_their_parents(cfg: Config) -> None:
    made = rows(shape(cfg, TINY))
    ids = {t: {r[0] for r in made[t]} for t in TABLES}
    staff_office = {r[0]: r[1] for r in made["staffs"]}
    staff_role = {r[0]: r[7] for r in made["staffs"]}
    recipient_office = {r[0]: r[1] for r in made["welfare_recipients"]}
    for plan in made["individual_support_plans"]:
        _, office, recipient, staff, *_ = plan
        assert office in ids["offices"]
        assert recipient_office[recipient] == office
        assert staff_office[staff] == office  # a member of the same office
        assert staff_role[staff] == "service_manager"  # who drafts plans (サービス管理責任者)
    assert {r[1] for r in made["support_plan_cycles"]} == ids["individual_support_plans"]
    assert {r[1] for r in made["staffs"]} == ids["offices"]
    every_id = [i for t in TABLES for i in ids[t]]
    assert len(every_id) == len(set(every_id)) == sum(len(r) for r in made.values())


def test_ids_are_version_4_uuids_and_a_stream() -> None:
    key = stream_key(generator_version=ENTITY_VERSION, seed=7, table="t", purpose="id")
    a, b = IdStream(key), IdStream(key)
    first = a.take(5) + a.take(11)
    assert first == b.take(16)  # take(a) + take(b) == take(a + b): children replay parents
    assert all(isinstance(i, uuid.UUID) and i.version == 4 for i in first)
    assert all(i.variant == uuid.RFC_4122 for i in first)


def test_plan_mode_has_the_plans_dates_and_preferences(cfg: Config) -> None:
    made = rows(shape(cfg, TINY, mode="plan"))
    for cycle in made["support_plan_cycles"]:
        assert cycle[3] == ANCHOR - dt.timedelta(days=335)
        assert cycle[4] == ANCHOR + dt.timedelta(days=25)
        assert cycle[5] == "active"
    for staff in made["staffs"]:
        prefs = json.loads(staff[8])
        assert prefs["email_notification"] is True
        assert prefs["email_threshold_days"] == 30


def test_realistic_mode_spreads_due_dates_and_preferences(cfg: Config) -> None:
    scale = Scale(name="s", offices=50, staff_per_office=10, recipients_per_office=100)
    made = rows(shape(cfg, scale))
    current = [c for c in made["support_plan_cycles"] if c[5] == "active"]
    finished = [c for c in made["support_plan_cycles"] if c[5] == "completed"]
    assert len(current) == 5_000
    assert len(finished) == 5_000 * cfg.data.realistic.finished_cycles_per_plan
    buckets = collections.Counter(
        next(k for k, (lo, hi) in DUE_WINDOWS.items() if lo <= (c[4] - ANCHOR).days <= hi)
        for c in current
    )
    due = cfg.data.realistic.cycle_due
    for key in DUE_WINDOWS:
        share = buckets[key] / len(current)
        assert abs(share - getattr(due, key)) < 0.04, (key, share)
    assert all(c[4] < ANCHOR for c in finished)
    assert all(c[3] <= ANCHOR for c in current)
    assert all(c[4] >= c[3] for c in made["support_plan_cycles"])

    prefs = [json.loads(s[8]) for s in made["staffs"]]
    off = sum(not p["email_notification"] for p in prefs) / len(prefs)
    assert abs(off - cfg.data.realistic.staff_email_off) < 0.05
    assert {p["email_threshold_days"] for p in prefs} == set(
        cfg.data.realistic.email_threshold_days
    )
    roles = collections.Counter(s[7] for s in made["staffs"])
    assert roles == {"employee": 350, "service_manager": 100, "owner": 50}  # exact per office


def test_staff_emails_are_unique_and_names_japanese(cfg: Config) -> None:
    made = rows(shape(cfg, Scale(name="s", offices=50, staff_per_office=10)))
    emails = [s[5] for s in made["staffs"]]
    assert len(set(emails)) == len(emails) == 500
    assert all(e.endswith("@example.com") for e in emails)
    full_names = [s[4] for s in made["staffs"]]
    assert all(any("\u3040" <= ch <= "\u9fff" for ch in name) for name in full_names)


def test_apportion_is_exact() -> None:
    assert collections.Counter(apportion({"a": 0.2, "b": 0.7, "c": 0.1}, 10)) == {
        "a": 2,
        "b": 7,
        "c": 1,
    }
    assert len(apportion({"a": 0.5, "b": 0.5}, 3)) == 3


def test_mode_is_part_of_the_counts_not_the_config() -> None:
    data = DataConfig()
    plan = expected_row_counts(TINY, data, "plan")
    realistic = expected_row_counts(TINY, data, "realistic")
    assert plan["support_plan_cycles"] < realistic["support_plan_cycles"]


def test_anchor_parsing() -> None:
    assert parse_anchor("2026-02-09") == ANCHOR
    assert parse_anchor(None) is None
    assert parse_anchor("today") == dt.date.today()
    with pytest.raises(ConfigError) as info:
        parse_anchor("tomorrow-ish")
    assert info.value.key_path == "--anchor"


# --------------------------------------------------------------------------------------------
# the DDL split


def test_create_tables_have_primary_keys_only() -> None:
    statements = ddl.create_tables_sql("stage")
    assert len(statements) == len(TABLES)
    for table, stmt in zip(TABLES, statements, strict=True):
        assert stmt.startswith(f"CREATE TABLE stage.{table} (")
        assert f"CONSTRAINT pk_{table} PRIMARY KEY" in stmt
        for word in ("FOREIGN KEY", "UNIQUE", "CHECK", "REFERENCES"):
            assert word not in stmt


def test_post_load_builds_every_other_constraint_and_index() -> None:
    statements = ddl.post_load_sql()
    text = "\n".join(statements)
    for table in metadata.sorted_tables:
        for index in table.indexes:
            assert f"CREATE INDEX {index.name} ON public.{table.name}" in text
        for constraint in table.constraints:
            if constraint is not table.primary_key:
                assert f"ADD CONSTRAINT {constraint.name}"[:60] in text
    first_fk = next(i for i, s in enumerate(statements) if "FOREIGN KEY" in s)
    assert all("FOREIGN KEY" in s for s in statements[first_fk:])  # foreign keys come last


def test_post_load_steps_partition_post_load() -> None:
    per_table, foreign_keys = ddl.post_load_steps("s")
    flat = [s for stmts in per_table.values() for s in stmts] + foreign_keys
    assert sorted(flat) == sorted(ddl.post_load_sql("s"))
    for table, stmts in per_table.items():
        assert all(f" s.{table} " in f"{s} " for s in stmts)


def test_swap_moves_every_table_and_drops_the_staging_schema() -> None:
    moves = ddl.swap_sql("perfkit_seed_ab", replace=True)
    assert moves[0].startswith('DROP TABLE IF EXISTS "public"."perfkit_dataset"')
    assert [m.split()[2] for m in moves[1:-1]] == [
        f'"perfkit_seed_ab"."{t}"' for t in ddl.all_tables
    ]
    assert moves[-1] == 'DROP SCHEMA "perfkit_seed_ab"'
    assert not ddl.swap_sql("x", replace=False)[0].startswith("DROP TABLE")


def test_a_session_the_server_ended_is_a_failed_seed_in_one_line() -> None:
    """A fast shutdown can leave asyncpg consuming the server's last error, and the next
    statement then raises its InternalClientError: still "seeding failed", one line, masked."""
    import asyncpg

    from perfkit.datagen.errors import SeedFailedError
    from perfkit.db import statement_failures

    exc = asyncpg.InternalClientError(
        "cannot switch to state 21; another operation (2) is in progress"
    )
    assert isinstance(exc, statement_failures())
    err = SeedFailedError.of(exc, hint="retry")
    assert err.message.startswith("seeding failed: InternalClientError: cannot switch")
    leaked = asyncpg.PostgresConnectionError("postgresql://u:hunter2@h/db refused\nsecond line")
    said = SeedFailedError.of(leaked, hint="retry").message
    assert said.startswith("seeding failed: PostgresConnectionError:") and "hunter2" not in said
    assert "second line" not in said
