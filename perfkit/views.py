"""How the commands look on a terminal: rich tables, progress bars and one-line summaries.

The one library module that imports rich (besides the front ends' :mod:`perfkit.cli`): the
package's functions return data, and this module renders it, so ``tasks.py`` stays a thin
argument parser. Styles are :class:`~rich.text.Text` spans, never markup in a string: names,
ids, paths and problems (which may come from files and flags) always print literally, on any
console.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from perfkit.compare import Comparison
from perfkit.datagen.load import SeedProgress, SeedReport
from perfkit.datagen.progress import PlainSeedProgress
from perfkit.report import comparison_rows
from perfkit.snapshot.listing import NOT_BUILT, Listed, Verified, age
from perfkit.snapshot.prune import PruneReport
from perfkit.snapshot.restore import RestoreReport
from perfkit.snapshot.store import BrokenSnapshot, Snapshot
from perfkit.text import human_bytes

if TYPE_CHECKING:
    from perfkit.prepare import PrepareReport, SnapshotReport

# -- snapshots (invoke snapshot, restore, snapshots, verify, prune, prepare) ---------------------


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
            table.add_row(Text(entry.scale), Text(entry.id), age(entry.created_at), "-", "-",
                          "-", Text("unreadable", style="red"), Text(entry.reason))  # fmt: skip
            continue
        m = entry.manifest
        notes = [Text("latest", style="bold")] if row.latest else []
        if row.config_problem and row.fits_schema:
            notes.append(Text(f"not current data: {row.config_problem}"))
        table.add_row(
            Text(m.scale),
            Text(m.id),
            age(m.created_at),
            human_bytes(m.size),
            f"{sum(m.row_counts.values()):,}",
            m.anchor_date.isoformat(),
            _fit(row.fits_schema),
            Text("; ").join(notes),
        )
    return table


def _fit(fits: bool | None) -> Text:
    if fits is None:
        return Text(NOT_BUILT, style="yellow")
    return Text("fits", style="green") if fits else Text("stale", style="red")


def verify_table(results: list[Verified]) -> Table:
    table = Table(title="verify", title_justify="left")
    table.add_column("snapshot")
    table.add_column("result")
    for r in results:
        ok = Text("ok" + (f" ({r.note})" if r.note else ""), style="green")
        table.add_row(Text(r.label), ok if r.ok else Text(str(r.problem), style="red"))
    return table


def snapshot_done(report: SnapshotReport) -> Text:
    snap: Snapshot = report.snapshot
    m = snap.manifest
    seeded = (
        f" (seeded first in {report.seed_seconds:.1f} s: {report.seed_reason})"
        if report.seeded and report.seed_seconds is not None
        else ""
    )
    return Text.assemble(
        (f"snapshot {snap.label}", "green"),
        f": {sum(m.row_counts.values()):,} rows, "
        f"{human_bytes(m.size)} ({human_bytes(m.raw_size)} uncompressed), anchor "
        f"{m.anchor_date}, written in {report.write_seconds:.2f} s{seeded}",
    )


def restore_done(report: RestoreReport) -> Text:
    shifted = (
        f", dates moved {report.shifted_days:+d} days to {report.anchor_date}"
        if report.shifted_days
        else f", dates as of {report.anchor_date}"
    )
    return Text.assemble(
        (f"restored {report.scale}/{report.snapshot_id}", "green"),
        f" into {report.database!r} from {report.method} in {report.seconds:.2f} s{shifted} "
        f"({steps_text(report.steps)})",
    )


def prepare_done(report: PrepareReport) -> Text:
    why = f" ({report.reason})" if report.reason else ""
    return Text.assemble(
        ("data ready", "green"),
        f": {report.database!r} holds {report.info.describe()}; "
        f"{report.how}{why} in {report.seconds:.2f} s ({steps_text(report.steps)})",
    )


def prune_lines(report: PruneReport) -> list[str]:
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


# -- seeding (invoke seed) -------------------------------------------------------------------


@contextmanager
def seed_progress(console: Console) -> Iterator[SeedProgress]:
    """Seeding's progress on ``console``: bars on a terminal; in logs and pipes only the
    notes (the summary says the rest)."""
    if console.is_terminal:
        with RichSeedProgress(console) as progress:
            yield progress
    else:
        yield PlainSeedProgress(console.print)


class RichSeedProgress(SeedProgress):
    """Shows the current phase and rows per table; use as a context manager."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("{task.description:<26}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._tasks: dict[str, TaskID] = {}
        self._phase: TaskID | None = None

    def __enter__(self) -> RichSeedProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def phase(self, name: str) -> None:
        if self._phase is None:
            self._phase = self._progress.add_task(name, total=None)
        self._progress.update(self._phase, description=f"[bold]{name}[/]")

    def rows(self, table: str, done: int, total: int) -> None:
        task = self._tasks.get(table)
        if task is None:
            task = self._tasks[table] = self._progress.add_task(escape(table), total=total)
        self._progress.update(task, completed=done)

    def note(self, message: str) -> None:
        self._progress.console.print(Text(message, style="yellow"), soft_wrap=True)


def seed_table(report: SeedReport) -> Table:
    """Rows per table and seconds per phase, side by side."""
    table = Table(title="dataset", title_justify="left")
    table.add_column("table")
    table.add_column("rows", justify="right")
    table.add_column("phase")
    table.add_column("seconds", justify="right")
    rows = [*report.rows.items(), ("total", report.total_rows)]
    phases = [*report.phases.items(), ("total", report.seconds)]
    for i in range(max(len(rows), len(phases))):
        name, count = rows[i] if i < len(rows) else ("", None)
        phase, seconds = phases[i] if i < len(phases) else ("", None)
        table.add_row(
            name,
            f"{count:,}" if count is not None else "",
            phase,
            f"{seconds:.3f}" if seconds is not None else "",
        )
    return table


# -- results (invoke compare) ----------------------------------------------------------------

_VERDICT_STYLE = {
    "regression": "bold red",
    "improvement": "green",
    "unchanged": "",
    "within noise": "dim",
    "no baseline": "dim",
}


def comparison_table(c: Comparison) -> Table:
    """One scale's comparison as a rich table for the terminal."""
    table = Table(title=Text(c.summary()), title_justify="left", title_style="bold")
    header, rows = comparison_rows(c)
    for i, name in enumerate(header):
        table.add_column(name, justify="left" if i in (0, 5) else "right")
    for row, m in zip(rows, c.metrics, strict=True):
        style = _VERDICT_STYLE[m.verdict] if (m.rule.gate or m.verdict != "regression") else "dim"
        table.add_row(*map(Text, row[:-1]), Text(row[-1], style=style))
    if c.note:
        table.caption = Text(f"note: {c.note}")
    return table
