"""``invoke seed`` as a function: resolve the database, seed with a progress display, report."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from perfkit.config import Config
from perfkit.datagen.load import SeedProgress, SeedReport, seed_database
from perfkit.datagen.progress import PlainSeedProgress, RichSeedProgress
from perfkit.errors import ConfigError
from perfkit.lifecycle import db_url
from perfkit.urls import mask_url


def parse_anchor(text: str | None) -> dt.date | None:
    """``--anchor YYYY-MM-DD`` (or ``today``) as a date; None when not given."""
    if text is None or text == "":
        return None
    if text == "today":
        return dt.date.today()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"expected a date like 2026-02-09, got {text!r}",
            source="command line",
            key_path="--anchor",
        ) from None


@dataclass(frozen=True)
class SeedOutcome:
    """What ``invoke seed`` prints: the report and where it went (password masked)."""

    report: SeedReport
    database: str

    def summary(self) -> str:
        """One line: what was done, where, how many rows, how fast."""
        info = self.report.info
        if not self.report.created:
            return (
                f"{self.database} already holds this dataset ({info.describe()}, "
                f"made {info.created_at:%Y-%m-%d %H:%M %Z}); nothing to do"
            )
        return (
            f"seeded {self.database}: {info.describe()} in {self.report.seconds:.2f} s "
            f"({self.report.rows_per_second:,.0f} rows/s)"
        )


def seed_command(
    cfg: Config,
    *,
    scale: str,
    anchor: str | None = None,
    reset: bool = False,
    confirm: str | None = None,
    console: Console,
) -> SeedOutcome:
    """Seed the configured test database with ``scale``'s dataset, showing progress.

    Seed and mode come from ``cfg.data`` (flags override them through the config); the
    database is the one ``invoke db-url`` names (or the external URL from the environment).
    """
    chosen = cfg.scale(scale)
    anchor_date = parse_anchor(anchor)
    url = db_url(cfg)

    def seed(progress: SeedProgress | None) -> SeedReport:
        return asyncio.run(
            seed_database(
                url, cfg, chosen, anchor=anchor_date, reset=reset, confirm=confirm,
                progress=progress,
            )
        )  # fmt: skip

    if console.is_terminal:
        with RichSeedProgress(console) as progress:
            report = seed(progress)
    else:  # no bars in logs: notes only, the summary says the rest
        report = seed(PlainSeedProgress(console))
    return SeedOutcome(report=report, database=mask_url(url))


def report_table(report: SeedReport) -> Table:
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
