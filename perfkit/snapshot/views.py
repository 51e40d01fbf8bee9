"""How the snapshot commands look on a terminal: rich tables and one-line summaries.

Kept out of ``tasks.py`` so the front end stays a thin argument parser.
"""

from __future__ import annotations

from collections.abc import Mapping

from rich.table import Table

from perfkit.snapshot.create import SnapshotReport
from perfkit.snapshot.listing import Listed, Verified, age
from perfkit.snapshot.prepare import PrepareReport
from perfkit.snapshot.prune import PruneReport
from perfkit.snapshot.restore import RestoreReport
from perfkit.snapshot.store import BrokenSnapshot, Snapshot


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"  # pragma: no cover


def steps_text(steps: Mapping[str, float]) -> str:
    return ", ".join(f"{name} {seconds:.2f} s" for name, seconds in steps.items())


def snapshots_table(rows: list[Listed]) -> Table:
    """``invoke snapshots``: scale, id, age, size, rows, schema fit, config fit."""
    table = Table(title="snapshots", title_justify="left")
    for column in ("scale", "id", "age", "size", "rows", "anchor", "schema", "notes"):
        table.add_column(column, justify="right" if column in ("size", "rows") else "left")
    for row in rows:
        entry = row.entry
        if isinstance(entry, BrokenSnapshot):
            table.add_row(entry.scale, entry.id, age(entry.created_at), "-", "-", "-",
                          "[red]unreadable[/]", entry.reason)  # fmt: skip
            continue
        m = entry.manifest
        notes = ["[bold]latest[/]"] if row.latest else []
        if row.config_problem and row.fits_schema:
            notes.append(f"not current data: {row.config_problem}")
        table.add_row(
            m.scale,
            m.id,
            age(m.created_at),
            human_bytes(m.size),
            f"{sum(m.row_counts.values()):,}",
            m.anchor_date.isoformat(),
            "[green]fits[/]" if row.fits_schema else "[red]stale[/]",
            "; ".join(notes),
        )
    return table


def verify_table(results: list[Verified]) -> Table:
    table = Table(title="verify", title_justify="left")
    table.add_column("snapshot")
    table.add_column("result")
    for r in results:
        table.add_row(r.label, "[green]ok[/]" if r.ok else f"[red]{r.problem}[/]")
    return table


def snapshot_done(report: SnapshotReport) -> str:
    snap: Snapshot = report.snapshot
    m = snap.manifest
    seeded = (
        f" (seeded first in {report.seed_seconds:.1f} s: {report.seed_reason})"
        if report.seeded and report.seed_seconds is not None
        else ""
    )
    return (
        f"[green]snapshot {snap.label}[/]: {sum(m.row_counts.values()):,} rows, "
        f"{human_bytes(m.size)} ({human_bytes(m.raw_size)} uncompressed), anchor "
        f"{m.anchor_date}, written in {report.write_seconds:.2f} s{seeded}"
    )


def restore_done(report: RestoreReport) -> str:
    shifted = (
        f", dates moved {report.shifted_days:+d} days to {report.anchor_date}"
        if report.shifted_days
        else f", dates as of {report.anchor_date}"
    )
    return (
        f"[green]restored {report.scale}/{report.snapshot_id}[/] into {report.database!r} "
        f"from {report.method} in {report.seconds:.2f} s{shifted} "
        f"({steps_text(report.steps)})"
    )


def prepare_done(report: PrepareReport) -> str:
    why = f" ({report.reason})" if report.reason else ""
    return (
        f"[green]data ready[/]: {report.database!r} holds {report.info.describe()}; "
        f"{report.how}{why} in {report.seconds:.2f} s ({steps_text(report.steps)})"
    )


def prune_lines(report: PruneReport) -> list[str]:
    verb = "would remove" if report.dry_run else "removed"
    out = [f"{verb} snapshot {e.label}" for e in report.snapshots]
    out += [f"{verb} unfinished folder {lo.path.name} ({lo.scale})" for lo in report.leftovers]
    out += [f"{verb} stale template database {name}" for name in report.templates]
    out += [f"{verb} leftover database {name}" for name in report.databases]
    if report.nothing:
        out.append("nothing to prune")
    kept = ", ".join(f"{scale}: {n}" for scale, n in report.kept.items())
    if kept:
        out.append(f"kept per scale: {kept}")
    if report.server_note:
        out.append(report.server_note)
    return out
