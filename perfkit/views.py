"""How the commands' results read as text: plain lines and aligned tables, for stdout.

The command layer (:mod:`perfkit.commands`) returns reports; their ``lines()`` are built here,
so that what a user reads is decided in one place. Plain text, no markup and no colours: the
output is meant for a terminal, a file (``perfkit snapshots > f``) and ``grep`` alike; every
value (names, ids, paths, problems, which may come from files and flags) prints literally.
``--json`` gives the same reports as data (each report's ``to_json``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from perfkit.text import human_bytes

if TYPE_CHECKING:
    from perfkit.compare import Comparison
    from perfkit.datagen.load import SeedReport
    from perfkit.prepare import PrepareReport, SnapshotReport
    from perfkit.snapshot.listing import Listed, Verified
    from perfkit.snapshot.prune import PruneReport
    from perfkit.snapshot.restore import RestoreReport

#: Between two columns of a table.
GAP = "  "


def table(
    header: Sequence[str], rows: Iterable[Sequence[str]], *, right: Iterable[int] = ()
) -> list[str]:
    """``header`` and ``rows`` as aligned lines (columns in ``right`` aligned right), the
    header underlined with dashes. Trailing spaces are trimmed."""
    body = [list(header), *([str(cell) for cell in row] for row in rows)]
    widths = [max(len(row[i]) if i < len(row) else 0 for row in body) for i in range(len(header))]
    to_right = set(right)

    def line(row: Sequence[str]) -> str:
        cells = [
            (cell.rjust(width) if i in to_right else cell.ljust(width))
            for i, (cell, width) in enumerate(zip(row, widths, strict=False))
        ]
        return GAP.join(cells).rstrip()

    return [line(body[0]), GAP.join("-" * w for w in widths), *(line(row) for row in body[1:])]


def pairs(title: str, rows: Sequence[tuple[str, str]] | Mapping[str, str]) -> list[str]:
    """A title, then one ``key  value`` line per row, the keys aligned."""
    items = list(rows.items()) if isinstance(rows, Mapping) else list(rows)
    width = max((len(key) for key, _ in items), default=0)
    return [title, *(f"  {key.ljust(width)}{GAP}{value}".rstrip() for key, value in items)]


def steps_text(steps: Mapping[str, float]) -> str:
    """``verify 0.01 s, clone 0.05 s``: each timed step and its seconds."""
    return ", ".join(f"{name} {seconds:.2f} s" for name, seconds in steps.items())


# -- snapshots (perfkit snapshot, restore, snapshots, verify, prune, prepare) -------------------


def snapshots_lines(rows: Sequence[Listed], *, directory: str) -> list[str]:
    """``perfkit snapshots``: scale, id, age, size, rows, anchor, schema fit, notes."""
    from perfkit.snapshot.listing import NOT_BUILT, age
    from perfkit.snapshot.store import BrokenSnapshot

    out = []
    for row in rows:
        entry = row.entry
        if isinstance(entry, BrokenSnapshot):
            out.append(
                [entry.scale, entry.id, age(entry.created_at), "-", "-", "-", "unreadable",
                 entry.reason]
            )  # fmt: skip
            continue
        m = entry.manifest
        notes = ["latest"] if row.latest else []
        if row.config_problem and row.fits_schema:
            notes.append(f"not current data: {row.config_problem}")
        fit = NOT_BUILT if row.fits_schema is None else ("fits" if row.fits_schema else "stale")
        out.append(
            [m.scale, m.id, age(m.created_at), human_bytes(m.size),
             f"{sum(m.row_counts.values()):,}", m.anchor_date.isoformat(), fit, "; ".join(notes)]
        )  # fmt: skip
    header = ("scale", "id", "age", "size", "rows", "anchor", "schema", "notes")
    return [*table(header, out, right=(3, 4)), f"directory: {directory}"]


def verify_lines(results: Sequence[Verified]) -> list[str]:
    """``perfkit verify``: each snapshot and what its check found."""
    rows = [
        [r.label, ("ok" + (f" ({r.note})" if r.note else "")) if r.ok else f"FAILED: {r.problem}"]
        for r in results
    ]
    return table(("snapshot", "result"), rows)


def snapshot_done(report: SnapshotReport) -> str:
    """``perfkit snapshot``'s line: the snapshot, its size, and whether it was seeded first."""
    snap = report.snapshot
    m = snap.manifest
    seeded = (
        f" (seeded first in {report.seed_seconds:.1f} s: {report.seed_reason})"
        if report.seeded and report.seed_seconds is not None
        else ""
    )
    return (
        f"snapshot {snap.label}: {sum(m.row_counts.values()):,} rows, "
        f"{human_bytes(m.size)} ({human_bytes(m.raw_size)} uncompressed), anchor "
        f"{m.anchor_date}, written in {report.write_seconds:.2f} s{seeded}"
    )


def restore_done(report: RestoreReport) -> str:
    """``perfkit restore``'s line: what went where, how, and how the dates moved."""
    shifted = (
        f", dates moved {report.shifted_days:+d} days to {report.anchor_date}"
        if report.shifted_days
        else f", dates as of {report.anchor_date}"
    )
    return (
        f"restored {report.scale}/{report.snapshot_id} into {report.database!r} from "
        f"{report.method} in {report.seconds:.2f} s{shifted} ({steps_text(report.steps)})"
    )


def prepare_done(report: PrepareReport) -> str:
    """``perfkit prepare``'s line: the route taken, why, and how long."""
    why = f" ({report.reason})" if report.reason else ""
    return (
        f"data ready: {report.database!r} holds {report.info.describe()}; "
        f"{report.how}{why} in {report.seconds:.2f} s ({steps_text(report.steps)})"
    )


def prune_lines(report: PruneReport) -> list[str]:
    """``perfkit prune``: what was (or, with ``--dry-run``, would be) removed, and kept."""
    verb = "would remove" if report.dry_run else "removed"
    out = [f"{verb} snapshot {e.label}" for e in report.snapshots]
    out += [f"{verb} unfinished folder {lo.path.name} ({lo.scale})" for lo in report.leftovers]
    out += [f"{verb} stale template database {name}" for name in report.templates]
    out += [f"{verb} leftover database {name}" for name in report.databases]
    out += [f"{verb} leftover build role {name}" for name in report.roles]
    if report.nothing:
        out.append("nothing to prune")
    kept = ", ".join(f"{scale}: {n}" for scale, n in report.kept.items())
    if kept:
        out.append(f"kept per scale: {kept}")
    if report.unowned:
        out.append(
            f"left {len(report.unowned)} template database(s) alone that name no owner (made "
            f"by an older perfkit, perhaps for another project): {', '.join(report.unowned)}; "
            "drop them by hand if no project uses them"
        )
    if report.server_note:
        out.append(report.server_note)
    return out


# -- seeding (perfkit seed) ------------------------------------------------------------------


def seed_lines(report: SeedReport) -> list[str]:
    """Rows per table and seconds per phase, side by side."""
    rows = [*report.rows.items(), ("total", report.total_rows)]
    phases = [*report.phases.items(), ("total", report.seconds)]
    out = []
    for i in range(max(len(rows), len(phases))):
        name, count = rows[i] if i < len(rows) else ("", None)
        phase, seconds = phases[i] if i < len(phases) else ("", None)
        out.append(
            [name, f"{count:,}" if count is not None else "", phase,
             f"{seconds:.3f}" if seconds is not None else ""]
        )  # fmt: skip
    return table(("table", "rows", "phase", "seconds"), out, right=(1, 3))


# -- results (perfkit compare) ---------------------------------------------------------------


def comparison_lines(c: Comparison) -> list[str]:
    """One scale's comparison: its summary, the metrics' table, and any note."""
    from perfkit.report_view import comparison_rows

    header, rows = comparison_rows(c)
    out = [c.summary(), *table(header, rows, right=(1, 2, 3, 4))]
    if c.note:
        out.append(f"note: {c.note}")
    return out
