"""A measured number against its limit: one :class:`BudgetCheck` per budget of a run.

Every kind of budget (a run's median and statements, a load run's percentiles and error
rate, memory figures) is checked the same way: the value must not exceed the limit. A check
knows how to say itself in one line for the summary and the record's ``failures``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BudgetCheck:
    """One number against its limit from scales.yaml."""

    name: str
    value: float
    limit: float
    #: ``s`` (seconds), ``MB``, ``KB``, or ``""`` (a count or a ratio).
    unit: str = "s"

    @property
    def ok(self) -> bool:
        return self.value <= self.limit

    def describe(self) -> str:
        verdict = "ok" if self.ok else "OVER BUDGET"
        return (
            f"{self.name} {format_value(self.value, self.unit)} <= "
            f"{format_value(self.limit, self.unit)}: {verdict}"
        )


def format_value(value: float, unit: str) -> str:
    """``value`` as a budget line shows it: seconds to the millisecond (a tenth past 10 s),
    megabytes and kilobytes to a tenth, anything else as it is (``%g``)."""
    if unit == "s":
        return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"
    if unit in ("MB", "KB"):
        return f"{value:.1f} {unit}"
    return f"{value:g}"
