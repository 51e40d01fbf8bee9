"""``perfkit seed`` and ``perfkit prepare``: the scale's data in the test database.

``seed`` checks every input before the database is touched (the scale, the anchor date, the
dataset's size against ``limits.max_rows``), then seeds (:func:`perfkit.datagen.kinds.seed_dataset`:
the recipe, or, for an application without one, data inferred from the catalogue).
``prepare`` takes the cheapest route to the data (:func:`perfkit.prepare.prepare`).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from perfkit.urls import mask_url

if TYPE_CHECKING:
    from perfkit.datagen.load import SeedReport
    from perfkit.prepare import PrepareReport
    from perfkit.run import Run


@dataclass(frozen=True)
class SeedDone:
    """What ``perfkit seed`` did: the seeding's report, and where (password masked)."""

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

    def lines(self) -> list[str]:
        from perfkit.views import seed_lines

        return [self.summary(), *(seed_lines(self.report) if self.report.created else [])]

    def to_json(self) -> dict[str, Any]:
        """``database`` (masked URL), ``created``, ``seconds``, ``rows`` (per table),
        ``total_rows``, ``rows_per_second``, ``phases`` (seconds each) and ``dataset`` (the
        ``perfkit_dataset`` row)."""
        r = self.report
        return {
            "database": self.database,
            "created": r.created,
            "seconds": r.seconds,
            "rows": dict(r.rows),
            "total_rows": r.total_rows,
            "rows_per_second": r.rows_per_second,
            "phases": dict(r.phases),
            "dataset": r.info.to_dict(),
        }


async def seed(
    run: Run,
    *,
    scale: str,
    anchor: dt.date | None = None,
    reset: bool = False,
    force: bool = False,
    confirm_database: str | None = None,
) -> SeedDone:
    """Fill the test database with ``scale``'s deterministic data; all or nothing.

    Seed and mode come from the config (``--seed`` and ``--mode`` override them there). Every
    input is checked before the database is touched: the scale, the anchor date and the
    dataset's size (:func:`perfkit.datagen.command.check_dataset_size`; ``force`` lets a bigger
    one through)."""
    from perfkit.datagen.command import check_dataset_size
    from perfkit.datagen.kinds import seed_dataset
    from perfkit.datagen.progress import RunSeedProgress

    chosen = run.cfg.scale(scale)
    check_dataset_size(run, chosen, anchor=anchor, force=force)
    report = await seed_dataset(
        run,
        chosen,
        anchor=anchor,
        reset=reset,
        confirm=confirm_database,
        progress=RunSeedProgress(run),
    )
    return SeedDone(report=report, database=mask_url(run.db.url))


@dataclass(frozen=True)
class PrepareDone:
    """What ``perfkit prepare`` did."""

    report: PrepareReport

    def lines(self) -> list[str]:
        from perfkit.views import prepare_done

        return [prepare_done(self.report)]

    def to_json(self) -> dict[str, Any]:
        """The :class:`~perfkit.prepare.PrepareReport`: ``scale``, ``how``, ``seconds``,
        ``info``, ``database``, ``reason``, ``snapshot_id``, the steps' seconds,
        ``finished_at``."""
        body: dict[str, Any] = json.loads(self.report.to_json())
        return body


async def prepare(run: Run, *, scale: str, confirm_database: str | None = None) -> PrepareDone:
    """Make the test database hold ``scale``'s dataset dated the run's day (``--as-of``) by
    the cheapest route."""
    from perfkit.prepare import prepare as prepare_data

    report = await prepare_data(run, run.cfg.scale(scale), confirm=confirm_database)
    return PrepareDone(report=report)
