"""``invoke seed`` as a function: resolve the database, seed, report (the progress display
and the tables are :mod:`perfkit.views`)."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass

from perfkit.config import Config
from perfkit.datagen.load import SeedProgress, SeedReport, seed_database
from perfkit.lifecycle import db_url
from perfkit.text import parse_day
from perfkit.urls import mask_url


def parse_anchor(text: str | None) -> dt.date | None:
    """``--anchor YYYY-MM-DD`` (or ``today``) as a date; None when not given."""
    if text is None or text == "":
        return None
    return parse_day(text, flag="--anchor")


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
    progress: SeedProgress | None = None,
) -> SeedOutcome:
    """Seed the configured test database with ``scale``'s dataset, reporting to ``progress``.

    Seed and mode come from ``cfg.data`` (flags override them through the config); the
    database is the one ``invoke db-url`` names (or the external URL from the environment).
    """
    chosen = cfg.scale(scale)
    anchor_date = parse_anchor(anchor)
    url = db_url(cfg)
    report = asyncio.run(
        seed_database(
            url, cfg, chosen, anchor=anchor_date, reset=reset, confirm=confirm, progress=progress
        )
    )
    return SeedOutcome(report=report, database=mask_url(url))
