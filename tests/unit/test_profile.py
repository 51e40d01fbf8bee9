"""Statement normalizing, plan shapes, and the comparison of profiles (no database)."""

from __future__ import annotations

from typing import Any

import pytest

from perfkit.compare import Baseline, compare_record, parse_baseline, rules_from_config
from perfkit.config import RegressionConfig
from perfkit.profile import (
    StatementProfiler,
    explain_refusal,
    explainable,
    normalize,
    plan_shape,
    shape_hash,
    shape_text,
    slowest_node,
)
from perfkit.results import RunRecord
from perfkit.testing import run_record

RULES = rules_from_config(RegressionConfig())


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT a FROM t WHERE x IN ($1, $2, $3) AND y = $4",
        "SELECT a FROM t WHERE x IN ($1) AND y = 5",
        "SELECT a FROM t WHERE x IN (%(x_1)s, %(x_2)s) AND y = %(y)s",
        "SELECT a FROM t WHERE x IN (__[POSTCOMPILE_x]) AND y = 'text'",
        "SELECT a   FROM t\n WHERE x IN (1, 2) AND y = 7",
    ],
)
def test_literals_parameters_and_in_lists_fold_into_one_statement(sql: str) -> None:
    fingerprint, text = normalize(sql)
    assert (fingerprint, text) == normalize("SELECT a FROM t WHERE x IN ($1) AND y = $2")
    assert text == "SELECT a FROM t WHERE x IN (?...) AND y = ?"


def test_equal_and_any_stay_apart() -> None:
    """pglast's fingerprint alone merges them; the profile must not."""
    assert (
        normalize("SELECT a FROM t WHERE x = $1")[0]
        != normalize("SELECT a FROM t WHERE x = ANY($1)")[0]
    )


def test_an_unparsable_statement_still_gets_a_fingerprint() -> None:
    fingerprint, text = normalize("VACUUM-ish nonsense (1")
    assert fingerprint and "?" in text


@pytest.mark.parametrize(
    ("sql", "ok"),
    [("SELECT 1", True), (" with x as (select 1) select * from x", True),
     ("UPDATE t SET a = 1", True), ("BEGIN", False), ("SET x = 1", False), ("", False)],
)  # fmt: skip
def test_explainable(sql: str, ok: bool) -> None:
    assert explainable(sql) is ok


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        # issue 18: psycopg sends a text without parameters as it is, and EXPLAIN ANALYZE of
        # it would run the COMMIT too
        ("UPDATE t SET a = 1; COMMIT",
         "plan not taken: 2 statements in one call, with transaction control (COMMIT)"),
        ("SELECT 1; SELECT 2", "plan not taken: 2 statements in one call"),
        ("SET x = 1; DELETE FROM t WHERE id = %(id)s", "plan not taken: 2 statements in one call"),
        ("ROLLBACK; INSERT INTO t VALUES ($1); COMMIT",
         "plan not taken: 3 statements in one call, with transaction control (ROLLBACK, COMMIT)"),
        ("COMMIT", "plan not taken: transaction control (COMMIT)"),
        ("PREPARE TRANSACTION 'x'", "plan not taken: transaction control (PREPARE TRANSACTION)"),
        ("SAVEPOINT s", "plan not taken: transaction control (SAVEPOINT)"),
        ("UPDATE t SET a = 1 WHERE id = (",
         "plan not taken: PostgreSQL's parser cannot read the statement"),
        ("-- nothing", "plan not taken: no statement"),
    ],
)  # fmt: skip
def test_only_one_query_or_data_change_is_explained(sql: str, reason: str) -> None:
    assert explain_refusal(sql) == reason


@pytest.mark.parametrize(
    "sql",
    ["UPDATE t SET a = 1;", "  (SELECT 1) UNION (SELECT 2)", "TABLE t", "VALUES (1)",
     "MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE",
     "INSERT INTO t (a) VALUES (__[POSTCOMPILE_a]) RETURNING id",
     "WITH gone AS (DELETE FROM t RETURNING id) SELECT count(*) FROM gone"],
)  # fmt: skip
def test_a_single_query_or_data_change_is_explained(sql: str) -> None:
    assert explain_refusal(sql) is None


PLAN: dict[str, Any] = {
    "Node Type": "Hash Join",
    "Total Cost": 10.0,
    "Actual Total Time": 5.0,
    "Actual Loops": 1,
    "Plans": [
        {"Node Type": "Seq Scan", "Relation Name": "staffs", "Actual Total Time": 1.0,
         "Actual Loops": 1, "Plan Rows": 100},
        {"Node Type": "Hash", "Actual Total Time": 3.5, "Actual Loops": 1, "Plans": [
            {"Node Type": "Index Scan", "Relation Name": "offices", "Index Name": "pk_offices",
             "Actual Total Time": 3.0, "Actual Loops": 1, "Total Cost": 4.0},
        ]},
    ],
}  # fmt: skip


def test_a_plan_shape_keeps_nodes_relations_and_indexes_only() -> None:
    shape = plan_shape(PLAN)
    assert shape == {
        "node": "Hash Join",
        "children": [
            {"node": "Seq Scan", "relation": "staffs"},
            {"node": "Hash", "children": [
                {"node": "Index Scan", "relation": "offices", "index": "pk_offices"}]},
        ],
    }  # fmt: skip
    costs_changed = {**PLAN, "Total Cost": 99.0, "Actual Total Time": 50.0}
    assert shape_hash(plan_shape(costs_changed)) == shape_hash(shape)
    assert shape_text(shape)[-1] == "    Index Scan using pk_offices on offices"


def test_the_slowest_node_is_by_its_own_time() -> None:
    assert slowest_node(PLAN) == ("Index Scan using pk_offices on offices", 3.0)


class FakeCursor:
    def __init__(self, rowcount: int, rows: list[int] | None = None) -> None:
        self.rowcount = rowcount
        self._rows = rows


class FakeConn:
    def __init__(self) -> None:
        self.info: dict[str, Any] = {}


def test_the_profiler_counts_calls_time_and_rows() -> None:
    profiler = StatementProfiler(engine=None)  # type: ignore[arg-type]
    conn = FakeConn()
    literals = [
        "SELECT * FROM staffs WHERE office_id = 0",
        "SELECT * FROM staffs WHERE office_id = 1",
        "SELECT * FROM staffs WHERE office_id = 2",
    ]
    cursors = [FakeCursor(-1, [1, 2, 3]), FakeCursor(2), FakeCursor(-1)]
    for n, (sql, cursor) in enumerate(zip(literals, cursors, strict=True)):
        profiler._before(conn, cursor, sql, (n,), None, False)  # type: ignore[arg-type]
        profiler._after(conn, cursor, sql, (n,), None, False)  # type: ignore[arg-type]
    (stats,) = profiler.top()
    assert stats.calls == 3 and stats.rows == 5 and stats.seconds >= 0
    assert stats.parameters == (0,) and stats.sql.endswith("= 0")
    assert stats.to_dict()["statement"] == "SELECT * FROM staffs WHERE office_id = ?"


# --------------------------------------------------------------------------------------------
# comparing profiles


def entry(statement: str, calls: int, shape: dict[str, Any] | None = None) -> dict[str, Any]:
    fingerprint, text = normalize(statement)
    out: dict[str, Any] = {"fingerprint": fingerprint, "statement": text, "calls": calls,
                           "total_ms": 1.0, "mean_ms": 1.0 / calls, "rows": calls}  # fmt: skip
    if shape is not None:
        out["plan"] = {"shape": shape, "shape_hash": shape_hash(shape)}
    return out


STAFF = "SELECT id FROM staffs WHERE office_id = $1"
INDEXED = {"node": "Index Scan", "relation": "support_plan_cycles", "index": "ix_cycles_end"}
SEQ = {"node": "Seq Scan", "relation": "support_plan_cycles"}
CYCLES = "SELECT id FROM support_plan_cycles WHERE end_date < $1"


def compared(base: list[dict[str, Any]], new: list[dict[str, Any]], **kw: Any) -> Any:
    old = run_record(1, run_id="run001", profile=base)
    candidate = run_record(2, run_id="run002", profile=new)
    return compare_record(candidate, Baseline(parse_baseline("median:5"), (old,)), RULES, **kw)


def test_a_multiplied_statement_fails_named_by_its_text() -> None:
    c = compared(
        [entry(STAFF, 1), entry("SELECT 1", 1)], [entry(STAFF, 100), entry("SELECT 2 + x", 1)]
    )
    assert not c.ok
    assert c.failures == ["N+1: `SELECT id FROM staffs WHERE office_id = ?` went 1 → 100 calls"]
    kinds = {s.kind: s.statement for s in c.statements}
    assert kinds == {"multiplied": "SELECT id FROM staffs WHERE office_id = ?",
                     "new": "SELECT ? + x", "vanished": "SELECT ?"}  # fmt: skip
    assert "tiny" not in c.summary() and "1 regression" in c.summary()


def test_a_small_growth_is_not_an_n_plus_one() -> None:
    assert compared([entry(STAFF, 10)], [entry(STAFF, 15)]).ok
    assert compared([entry(STAFF, 1)], [entry(STAFF, 2)]).ok  # doubled, but one call more


def test_a_changed_plan_warns_by_default_and_fails_when_configured() -> None:
    c = compared([entry(CYCLES, 1, INDEXED)], [entry(CYCLES, 1, SEQ)])
    (change,) = c.plan_changes
    assert change.scan_changes() == [
        "support_plan_cycles: Index Scan using ix_cycles_end → Seq Scan"
    ]
    assert c.ok and c.changes[0].startswith("note plan changed: support_plan_cycles")
    failed = compared([entry(CYCLES, 1, INDEXED)], [entry(CYCLES, 1, SEQ)], plan_change="fail")
    assert not failed.ok and failed.failures[0].startswith("plan changed:")


def test_records_without_profiles_compare_as_before() -> None:
    c = compared([], [entry(STAFF, 100)])
    assert c.statements == () and c.plan_changes == () and c.ok


def test_an_old_record_without_a_profile_still_loads_and_a_new_one_round_trips() -> None:
    data = run_record(1).to_dict()
    del data["profile"]
    assert RunRecord.from_dict(data).profile == []
    rec = run_record(1, profile=[entry(CYCLES, 3, SEQ)])
    assert RunRecord.from_dict(rec.to_dict()) == rec
    with pytest.raises(ValueError, match="profile"):
        RunRecord.from_dict({**data, "profile": [{"calls": "x"}]})
