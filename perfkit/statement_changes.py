"""Statement by statement: what ``compare`` finds between a run's statement profile and its
baseline's (:mod:`perfkit.profile` fills them; :mod:`perfkit.compare` judges the run).

- :func:`statement_changes`: a statement whose calls multiplied (at least
  :data:`GROWTH_FACTOR` times, and :data:`GROWTH_MIN_CALLS` more calls: an N+1 most often)
  fails the gate; a new or vanished statement is listed;
- :func:`figure_changes`: the deterministic figures. Shared buffers (hit + read) past
  ``regression.buffers`` (more than doubled and 100 blocks more, by default) fail the gate
  whatever the time did; fewer are listed; a changed number of rows returned is listed, and
  fails with ``regression.rows.gate``. Only figures from the same source
  (``pg_stat_statements`` or ``explain``) are compared;
- :func:`plan_changes`: a statement whose plan shape changed, with the scans that changed
  (``support_plan_cycles: Index Scan using ix → Seq Scan``); it fails only with
  ``regression.plan_change: fail``.

Each change says itself in one line (``describe``, which ``perfkit compare`` and the reports
print) and in a few words for the verdict's headline (``headline``).
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from perfkit.config import RegressionConfig
from perfkit.profile import entry_buffers, node_label, scans, shorten
from perfkit.results import RunRecord

#: A statement "multiplied" when its calls grew by at least this factor ...
GROWTH_FACTOR = 2.0
#: ... and by at least this many calls per run.
GROWTH_MIN_CALLS = 2

StatementChangeKind = Literal["multiplied", "new", "vanished"]


@dataclass(frozen=True)
class StatementChange:
    """A statement whose calls multiplied, or that appeared or vanished, since the baseline."""

    kind: StatementChangeKind
    fingerprint: str
    statement: str
    #: Calls per run in the baseline (the median over its profiled runs).
    before: float | None
    after: int | None

    @property
    def fails(self) -> bool:
        """A multiplied statement fails the gate (an N+1, most often)."""
        return self.kind == "multiplied"

    def headline(self) -> str:
        """The verdict line's part: ``N+1 in `SELECT …` (1 → 100 calls)``."""
        text = f"`{shorten(self.statement, 60)}`"
        if self.kind == "multiplied":
            return f"N+1 in {text} ({self.before:g} → {self.after} calls)"
        if self.kind == "new":
            return f"new statement {text} ({self.after} calls)"
        return f"vanished statement {text}"

    def describe(self) -> str:
        """``N+1: `SELECT … WHERE office_id = ?` went 1 → 100 calls``."""
        text = f"`{shorten(self.statement)}`"
        if self.kind == "multiplied":
            return f"N+1: {text} went {self.before:g} → {self.after} calls"
        if self.kind == "new":
            return f"new statement: {text} ({self.after} calls)"
        return f"vanished statement: {text} (was {self.before:g} calls)"


@dataclass(frozen=True)
class PlanChange:
    """A statement whose plan shape changed since the baseline."""

    fingerprint: str
    statement: str
    before: Mapping[str, object]
    after: Mapping[str, object]
    #: Whether it fails the gate (``regression.plan_change: fail``).
    fails: bool = False

    def scan_changes(self) -> list[str]:
        """``support_plan_cycles: Index Scan using ix → Seq Scan``, per relation read
        differently (the root nodes when no scan changed)."""
        before = _scans_by_relation(self.before)
        after = _scans_by_relation(self.after)
        out = []
        for relation in dict.fromkeys([*before, *after]):
            old, new = before.get(relation, "—"), after.get(relation, "—")
            if old != new:
                out.append(f"{relation}: {old} → {new}")
        if not out:
            out.append(f"{node_label(self.before)} → {node_label(self.after)}")
        return out

    def describe(self) -> str:
        return f"plan changed: {'; '.join(self.scan_changes())} (`{shorten(self.statement, 60)}`)"

    def headline(self) -> str:
        """The verdict line's part: ``plan changed in `SELECT …```."""
        return f"plan changed in `{shorten(self.statement, 60)}`"


@dataclass(frozen=True)
class FigureRules:
    """What a statement's deterministic figures may do before ``compare`` lists or fails them
    (scales.yaml ``regression.buffers`` and ``regression.rows``)."""

    #: Shared buffers (hit + read) jumped: by more than this fraction (1.0: doubled) ...
    buffers_threshold: float = 1.0
    #: ... and by at least this many blocks.
    buffers_min_blocks: int = 100
    #: Such a jump fails the gate.
    buffers_gate: bool = True
    #: A changed number of rows returned fails the gate.
    rows_gate: bool = False


def figure_rules_from_config(reg: RegressionConfig) -> FigureRules:
    """The :class:`FigureRules` of scales.yaml's ``regression`` section."""
    return FigureRules(
        buffers_threshold=reg.buffers.threshold,
        buffers_min_blocks=reg.buffers.min_blocks,
        buffers_gate=reg.buffers.gate,
        rows_gate=reg.rows.gate,
    )


FigureKind = Literal["buffers", "rows"]


@dataclass(frozen=True)
class FigureChange:
    """A statement whose shared buffers or rows returned changed since the baseline (both
    deterministic: the same plan on the same data gives the same figures on any machine)."""

    kind: FigureKind
    fingerprint: str
    statement: str
    #: The baseline's median over its profiled runs, and the candidate's figure.
    before: float
    after: float
    #: Whether it fails the gate.
    fails: bool = False
    #: Where the buffer figures came from (``pg_stat_statements``, ``explain``).
    source: str = ""

    @property
    def ratio(self) -> float | None:
        return self.after / self.before if self.before else None

    @property
    def worse(self) -> bool:
        """More buffers than before (rows have no better direction: any change is listed)."""
        return self.after > self.before

    def _times(self) -> str:
        return f" (×{self.ratio:.3g})" if self.ratio is not None else ""

    def describe(self) -> str:
        """``buffers of `SELECT … FROM support_plan_cycles …` went 120 → 9,400 (×78.3)``."""
        text = f"`{shorten(self.statement)}`"
        return f"{self.kind} of {text} went {self.before:,.0f} → {self.after:,.0f}{self._times()}"

    def headline(self) -> str:
        """The verdict line's part: ``×78.3 buffers in `SELECT …```."""
        size = f"×{self.ratio:.3g} " if self.ratio is not None else ""
        return f"{size}{self.kind} in `{shorten(self.statement, 60)}`"


def figure_changes(
    candidate: RunRecord,
    baseline: Sequence[RunRecord],
    rules: FigureRules,
    *,
    skip: Collection[str] = (),
) -> tuple[FigureChange, ...]:
    """Statements whose shared buffers jumped or fell past ``rules`` (both sides measured by
    the same source), or whose rows returned changed, against the median of the profiled
    baseline runs. Statements in ``skip`` (already named as multiplied, new or vanished) are
    left out: their figures moved with their calls."""
    base = _profiled(baseline)
    if not candidate.profile or not base:
        return ()
    out: list[FigureChange] = []
    for entry in candidate.profile:
        fp = entry["fingerprint"]
        if fp in skip:
            continue
        seen = [e for r in base if (e := r.statement(fp)) is not None]
        if not seen:
            continue
        own = entry_buffers(entry)
        if own is not None:
            before_values = [b[0] for e in seen if (b := entry_buffers(e)) and b[1] == own[1]]
            if before_values:
                before = float(statistics.median(before_values))
                after = float(own[0])
                high, low = max(before, after), min(before, after)
                if (
                    high > low * (1 + rules.buffers_threshold)
                    and high - low >= rules.buffers_min_blocks
                ):
                    out.append(
                        FigureChange(
                            "buffers", fp, entry["statement"], before, after,
                            fails=after > before and rules.buffers_gate, source=own[1],
                        )
                    )  # fmt: skip
        rows = [float(e["rows"]) for e in seen if "rows" in e]
        if rows and "rows" in entry and float(entry["rows"]) != statistics.median(rows):
            out.append(
                FigureChange(
                    "rows", fp, entry["statement"], float(statistics.median(rows)),
                    float(entry["rows"]), fails=rules.rows_gate,
                )
            )  # fmt: skip
    return tuple(sorted(out, key=lambda c: (not c.fails, c.kind)))


def _scans_by_relation(shape: Mapping[str, object]) -> dict[str, str]:
    found: dict[str, str] = {}
    for node in scans(shape):
        label = node_label({k: v for k, v in node.items() if k != "relation"})
        relation = str(node["relation"])
        found[relation] = f"{found[relation]} + {label}" if relation in found else label
    return found


def _profiled(records: Sequence[RunRecord]) -> list[RunRecord]:
    return [r for r in records if r.profile]


def statement_changes(
    candidate: RunRecord, baseline: Sequence[RunRecord]
) -> tuple[StatementChange, ...]:
    """Statements multiplied, new or vanished in ``candidate`` against the profiled baseline
    runs (none when either side has no profile)."""
    base = _profiled(baseline)
    if not candidate.profile or not base:
        return ()
    newest = base[-1]
    changes: list[StatementChange] = []
    for entry in candidate.profile:
        fp, calls = entry["fingerprint"], int(entry["calls"])
        seen = [int(e["calls"]) for r in base if (e := r.statement(fp)) is not None]
        if newest.statement(fp) is None:
            changes.append(StatementChange("new", fp, entry["statement"], None, calls))
            continue
        before = float(statistics.median(seen))
        if calls >= before * GROWTH_FACTOR and calls - before >= GROWTH_MIN_CALLS:
            changes.append(StatementChange("multiplied", fp, entry["statement"], before, calls))
    for entry in newest.profile:
        if candidate.statement(entry["fingerprint"]) is None:
            changes.append(
                StatementChange(
                    "vanished", entry["fingerprint"], entry["statement"], entry["calls"], None
                )
            )
    order = {"multiplied": 0, "new": 1, "vanished": 2}
    return tuple(sorted(changes, key=lambda c: order[c.kind]))


def plan_changes(
    candidate: RunRecord, baseline: Sequence[RunRecord], *, fails: bool = False
) -> tuple[PlanChange, ...]:
    """Statements whose plan shape differs from the newest baseline run that explained them."""
    out: list[PlanChange] = []
    for entry in candidate.profile:
        plan = entry.get("plan") or {}
        if "shape_hash" not in plan:
            continue
        for record in reversed(_profiled(baseline)):
            old = (record.statement(entry["fingerprint"]) or {}).get("plan") or {}
            if "shape_hash" in old:
                if old["shape_hash"] != plan["shape_hash"]:
                    change = PlanChange(
                        entry["fingerprint"], entry["statement"], old["shape"], plan["shape"]
                    )
                    out.append(dataclasses.replace(change, fails=fails))
                break
    return tuple(out)
