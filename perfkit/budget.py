"""A measured number against its limit: one :class:`BudgetCheck` per budget of a run.

Every kind of budget (a run's median and statements, a load run's percentiles and error
rate, memory figures) is checked the same way: the value must not exceed the limit. A check
knows where its limit came from (:attr:`BudgetCheck.source`: a key of scales.yaml, or a
test's ``@perf_budget`` marker) and says itself in one line for the summary, the record's
``failures`` and the reports, always as a true inequality::

    statements 11 > 1 (budget from `@perf_budget` in test_batch_at_scale.py): OVER BUDGET
    batch 2.60 ms <= 250 ms (budget from scales.yaml scales.small.budgets.batch): ok

The run record keeps each budget's source beside its limit (``budget_sources``), so a report
says it again for any run (:func:`record_checks`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from perfkit.text import human_seconds

#: The most decimals a value is shown with to tell it from its limit.
_MAX_DIGITS = 9


@dataclass(frozen=True)
class BudgetCheck:
    """One number against its limit, and where the limit came from."""

    name: str
    value: float
    limit: float
    #: ``s`` (seconds), ``MB``, ``KB``, or ``""`` (a count or a ratio).
    unit: str = "s"
    #: Where the limit was set: ``scales.yaml scales.small.budgets.batch``, ``@perf_budget``
    #: in a test file (:func:`file_source`, :func:`marker_source`); empty when unknown.
    source: str = ""

    @property
    def ok(self) -> bool:
        return self.value <= self.limit

    def describe(self) -> str:
        """``statements 11 > 1 (budget from ...): OVER BUDGET`` or ``... <= ...: ok``: the
        sign is the true one, and the two numbers are shown with as many digits as it takes
        to tell them apart."""
        value, limit = distinct_values(self.value, self.limit, self.unit)
        sign = "<=" if self.ok else ">"
        source = f" (budget from {self.source})" if self.source else ""
        verdict = "ok" if self.ok else "OVER BUDGET"
        return f"{self.name} {value} {sign} {limit}{source}: {verdict}"


def file_source(config_file: str, key_path: str) -> str:
    """``scales.yaml scales.small.budgets.batch``: a limit set in the configuration file."""
    return f"{config_file} {key_path}"


def marker_source(test_file: str) -> str:
    """``@perf_budget`` in ``test_file`` (a file name): a limit a test's marker set."""
    return f"`@perf_budget` in {test_file}"


def argument_source(call: str, test_file: str) -> str:
    """``perf_load(budgets=...)`` in ``test_file``: a limit a test passed as an argument."""
    return f"`{call}` in {test_file}"


def with_sources(
    checks: Iterable[BudgetCheck], sources: Mapping[str, str]
) -> tuple[BudgetCheck, ...]:
    """``checks`` with the source of each named in ``sources`` (others keep theirs)."""
    return tuple(
        dataclasses.replace(c, source=sources[c.name]) if c.name in sources else c for c in checks
    )


def format_value(value: float, unit: str, *, digits: int | None = None) -> str:
    """``value`` as a budget line shows it: seconds in s, ms or µs (three significant
    digits), megabytes and kilobytes to a tenth, anything else as it is (``%g``).
    ``digits``: that many decimals instead."""
    if digits is not None:
        text = f"{value:.{digits}f}"
        return f"{text} {unit}" if unit else text
    if unit == "s":
        return human_seconds(value)
    if unit in ("MB", "KB"):
        return f"{value:.1f} {unit}"
    return f"{value:g}"


def distinct_values(value: float, limit: float, unit: str) -> tuple[str, str]:
    """``value`` and ``limit`` as text that differs whenever the numbers do: a value just
    over its limit (0.2504 s against 0.25 s) is shown with the decimals that tell them apart
    (``0.2504 s > 0.2500 s``), never as two equal numbers."""
    shown = format_value(value, unit), format_value(limit, unit)
    if value == limit or shown[0] != shown[1]:
        return shown
    for digits in range(1, _MAX_DIGITS + 1):
        shown = format_value(value, unit, digits=digits), format_value(limit, unit, digits=digits)
        if shown[0] != shown[1]:
            return shown
    return repr(value) + (f" {unit}" if unit else ""), repr(limit) + (f" {unit}" if unit else "")


#: A record's budget key -> (the metric it limits, its unit), for the budgets a batch run
#: records; a load run's percentiles (``p95``) and memory figures are found by rule.
_RECORD_BUDGETS: Mapping[str, tuple[str, str]] = {
    "batch": ("batch_seconds", "s"),
    "statements": ("statements", ""),
    "prepare": ("prepare_seconds", "s"),
    "restore": ("restore_seconds", "s"),
    "max": ("latency_max_seconds", "s"),
    "errors": ("errors", ""),
    "error_rate": ("error_rate", ""),
    "statements_per_request": ("statements_per_request", ""),
    "heap_growth_per_run_kb": ("heap_growth_per_run_kb", "KB"),
    "leak_ratio": ("leak_ratio", ""),
}


def budget_metric(key: str) -> tuple[str, str]:
    """The metric a record's budget ``key`` limits, and its unit: ``batch`` ->
    ``batch_seconds`` (s), ``p95`` -> ``latency_p95_seconds`` (s), ``peak_heap_mb`` -> itself
    (MB)."""
    if key in _RECORD_BUDGETS:
        return _RECORD_BUDGETS[key]
    if key.startswith("p") and key[1:].replace(".", "", 1).isdigit():
        return f"latency_{key}_seconds", "s"
    return key, "MB" if key.endswith("_mb") else ""


def record_checks(
    metrics: Mapping[str, float],
    budgets: Mapping[str, float],
    sources: Mapping[str, str],
    *,
    medians: Mapping[str, float] | None = None,
) -> list[BudgetCheck]:
    """A run record's budgets as checks again (for a report): each budget whose metric the
    run measured, against the value it measured (``medians``: a metric's median of samples
    where the record has them), with its source when the record names one."""
    checks = []
    for key, limit in budgets.items():
        metric, unit = budget_metric(key)
        value = (medians or {}).get(metric, metrics.get(metric))
        if value is None:
            continue
        checks.append(BudgetCheck(key, float(value), float(limit), unit, sources.get(key, "")))
    return checks
