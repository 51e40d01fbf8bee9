"""The rules of "changed since the load", without a database: counters (committed changes count,
rolled-back ones do not), settings, the catalogue's phrases, and records old and new.

The counters' behaviour these rules rely on was measured on a real server; the table is in
:mod:`perfkit.datagen.changes`'s docstring, and tests/integration/test_measured_data.py checks
the rules end to end."""

from __future__ import annotations

from perfkit.catalog import Catalog
from perfkit.datagen.changes import Baseline, LoadCheck, TableCounters, compare, settings_problem

T = ("offices",)


def counters(ins: int = 0, upd: int = 0, dele: int = 0, **kw: int | None) -> TableCounters:
    fields: dict[str, int | None] = {"committed": 0, "analyses": 1, "relid": 10, "node": 20}
    fields.update(kw)
    return TableCounters(
        relid=int(fields["relid"] or 0),
        node=int(fields["node"] or 0),
        inserted=ins,
        updated=upd,
        deleted=dele,
        committed=fields["committed"],
        analyses=fields["analyses"],
    )


def baseline(then: TableCounters) -> Baseline:
    return Baseline(database_oid=1, stats_reset=None, tables={"offices": then})


def check(then: TableCounters, now: TableCounters) -> LoadCheck:
    return compare(baseline(then), None, {"offices": now}, T)


def test_rolled_back_attempts_are_no_change() -> None:
    """Attempts grew (a rolled-back INSERT, UPDATE and DELETE), committed ones did not."""
    assert check(counters(), counters(3, 2, 4)) == LoadCheck(known=True)


def test_committed_changes_are_named_exactly_when_nothing_was_rolled_back() -> None:
    found = check(counters(), counters(1, 0, 1, committed=2))
    assert found.problem == (
        "its tables were changed since it was loaded (1 row inserted in offices, 1 row deleted "
        "in offices)"
    )
    assert found.tables == ("offices",)
    found = check(counters(), counters(2, 0, 0, committed=2))
    assert found.problem and found.problem.endswith("; the row counts differ)")


def test_committed_among_rolled_back_changes_are_counted_not_split() -> None:
    found = check(counters(), counters(5, 1, 0, committed=2))
    assert found.problem == (
        "its tables were changed since it was loaded (2 rows changed in offices (committed; of "
        "5 inserted, 1 updated, 0 deleted, the rest rolled back))"
    )


def test_an_analyze_since_the_record_is_a_change() -> None:
    """Recorded at 0 changes since its last ANALYZE, a table is analyzed again only after
    committed changes (autovacuum) or by hand (new planner statistics): a change either way."""
    found = check(counters(), counters(analyses=2))
    assert found.problem and "offices was analyzed since" in found.problem
    # recorded above 0 (a record made without the ANALYZE): only attempts can tell
    assert check(counters(committed=5), counters(analyses=2)) == LoadCheck(known=True)
    assert check(counters(committed=5), counters(0, 1, 0, analyses=2)).tables == ("offices",)


def test_an_old_record_counts_every_attempt() -> None:
    """Records made before ``n_mod_since_analyze`` was kept: every attempt is a change."""
    old = counters(committed=None, analyses=None)
    found = check(old, counters(3, 0, 0))
    assert found.problem and "3 rows inserted in offices" in found.problem
    assert Baseline.parse(baseline(old).to_comment()) == baseline(old)


def test_counters_that_went_back_mean_a_reset() -> None:
    assert check(counters(5), counters(2)).reset
    assert check(counters(committed=5), counters(committed=1)).reset


def test_settings_added_removed_and_changed_are_named() -> None:
    then = (("role", "app", "work_mem=4MB"), ("database", "", "jit=off"))
    now = (
        ("role", "app", "work_mem=1MB"),
        ("database", "", "enable_indexscan=off"),
        ("role", "", "random_page_cost=3"),
    )
    assert settings_problem(then, then) is None
    assert settings_problem(then, now) == (
        "its settings changed since it was loaded (database setting enable_indexscan=off was "
        "added, database setting jit=off was removed, role setting random_page_cost=3 of all "
        "roles was added, role setting work_mem=1MB of app was 4MB before)"
    )


def test_a_record_keeps_settings_and_catalogue() -> None:
    catalog = Catalog(tables={"offices": {"columns": [["id", "uuid"]]}}, enums={"s": ("a",)})
    made = Baseline(
        database_oid=7,
        stats_reset="2026-01-01",
        tables={"offices": counters(1, 2, 3, committed=0)},
        settings=(("database", "", "jit=off"),),
        catalog=catalog,
    )
    back = Baseline.parse(made.to_comment())
    assert back == made
    assert back is not None and back.catalog is not None
    assert back.catalog.fingerprint == catalog.fingerprint


def test_catalogue_changes_are_named_per_object() -> None:
    built = Catalog(
        tables={
            "offices": {
                "columns": [["id", "uuid"], ["name", "text"]],
                "constraints": [["offices_pkey", "p", "PRIMARY KEY (id)"]],
                "indexes": [["ix_name", "CREATE INDEX ix_name ON offices USING btree (name)"]],
            },
            "staffs": {"columns": [["id", "uuid"]]},
        },
        enums={"state": ("new", "done")},
    )
    now = Catalog(
        tables={
            "offices": {
                "columns": [["id", "uuid"], ["name", "varchar"], ["note", "text"]],
                "constraints": [],
                "indexes": [],
            },
        },
        enums={"state": ("new", "done", "lost")},
    )
    assert now.changes_since(built) == [
        "column offices.name was changed",
        "column offices.note was added",
        "constraint offices_pkey of offices was dropped",
        "index ix_name of offices was dropped",
        "table staffs was dropped",
        "enum type state was changed",
    ]
    assert built.changes_since(built) == []
