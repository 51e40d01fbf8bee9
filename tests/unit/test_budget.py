"""Budget lines: a true inequality, the limit's source, numbers that never look equal when
they are not; a record's budgets read back as checks for a report."""

from __future__ import annotations

import pytest

from perfkit.budget import (
    BudgetCheck,
    budget_metric,
    distinct_values,
    file_source,
    marker_source,
    record_checks,
)


def test_an_exceeded_budget_reads_as_greater_than_with_its_source() -> None:
    check = BudgetCheck(
        "statements", 11, 1, unit="", source=marker_source("test_batch_at_scale.py")
    )
    assert not check.ok
    assert check.describe() == (
        "statements 11 > 1 (budget from `@perf_budget` in test_batch_at_scale.py): OVER BUDGET"
    )


def test_a_budget_kept_reads_as_at_most_in_scaled_units() -> None:
    source = file_source("scales.yaml", "scales.small.budgets.batch")
    check = BudgetCheck("batch", 0.0026, 0.25, source=source)
    assert check.describe() == (
        "batch 2.60 ms <= 250 ms (budget from scales.yaml scales.small.budgets.batch): ok"
    )
    assert BudgetCheck("statements", 1, 1, unit="").describe() == "statements 1 <= 1: ok"


@pytest.mark.parametrize(
    ("value", "limit", "unit"),
    [(0.2504, 0.25, "s"), (50.04, 50.0, "MB"), (1.0000001, 1.0, ""), (0.25000000001, 0.25, "s")],
)
def test_a_value_just_over_its_limit_never_prints_as_equal(
    value: float, limit: float, unit: str
) -> None:
    shown_value, shown_limit = distinct_values(value, limit, unit)
    assert shown_value != shown_limit
    line = BudgetCheck("x", value, limit, unit=unit).describe()
    assert " > " in line and line.endswith("OVER BUDGET")


def test_a_records_budgets_come_back_as_checks_with_their_sources() -> None:
    checks = record_checks(
        {"batch_seconds": 0.3, "statements": 11, "latency_p95_seconds": 0.2, "leak_ratio": 0.1},
        {"batch": 0.25, "statements": 1, "p95": 0.5, "leak_ratio": 0.2, "restore": 5.0},
        {"statements": "`@perf_budget` in test_x.py"},
        medians={"batch_seconds": 0.31},
    )
    by_name = {c.name: c for c in checks}
    assert set(by_name) == {"batch", "statements", "p95", "leak_ratio"}  # no restore measured
    assert by_name["batch"].value == 0.31 and not by_name["batch"].ok
    assert by_name["statements"].describe().startswith("statements 11 > 1 (budget from `@perf")
    assert by_name["p95"].ok and by_name["p95"].unit == "s"
    assert budget_metric("p99.9") == ("latency_p99.9_seconds", "s")
    assert budget_metric("peak_heap_mb") == ("peak_heap_mb", "MB")
