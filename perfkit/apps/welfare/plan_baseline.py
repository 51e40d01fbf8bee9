"""The plan's "bulk insert", reimplemented faithfully as the benchmark's baseline.

The plan's factories build ORM objects, add them to an ``AsyncSession`` in batches, flush, and
then ``refresh`` every object with one ``SELECT`` each to learn what the server made, before
committing. That is one round trip per row on top of the inserts; this module does exactly that,
into a schema made by ``metadata.create_all`` (all indexes and foreign keys in place during the
load, as in the plan), with the same rows as perfkit's ``plan`` mode so that only the method
differs. Used by ``perfkit bench-seed`` (:mod:`perfkit.bench.seed_worker`, by its import path);
never by the seeder itself.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from perfkit.apps.welfare import application
from perfkit.apps.welfare.models import (
    Base,
    IndividualSupportPlan,
    Office,
    Staff,
    SupportPlanCycle,
    WelfareRecipient,
    metadata,
)
from perfkit.config import Config, Scale
from perfkit.datagen.entities import ENTITY_VERSION
from perfkit.datagen.recipe import Shape
from perfkit.db import create_session_factory, open_engine

#: Objects added per flush: the plan's factories' batch size.
BATCH_SIZE = 100

_MODELS: dict[str, type[Base]] = {
    "offices": Office,
    "staffs": Staff,
    "welfare_recipients": WelfareRecipient,
    "individual_support_plans": IndividualSupportPlan,
    "support_plan_cycles": SupportPlanCycle,
}


@dataclass(frozen=True)
class BaselineReport:
    """Rows per table and the seconds the plan's method took for them."""

    rows: dict[str, int]
    seconds: float

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def _objects(model: type[Base], columns: Sequence[str], rows: Iterator[tuple[Any, ...]]) -> Any:
    for row in rows:
        values = dict(zip(columns, row, strict=True))
        if isinstance(values.get("notification_preferences"), str):  # JSON text for COPY
            values["notification_preferences"] = json.loads(values["notification_preferences"])
        yield model(**values)


async def plan_method(
    url: str, cfg: Config, scale: Scale, *, anchor: dt.date, batch_size: int = BATCH_SIZE
) -> BaselineReport:
    """Create the schema and insert ``scale``'s plan-mode rows the plan's way, into an empty
    database; the seconds include the schema, as perfkit's seed does."""
    app = application()
    shape = Shape(
        scale=scale,
        data=cfg.data,
        mode="plan",
        seed=cfg.data.seed,
        anchor=anchor,
        version=ENTITY_VERSION,
    )
    engine = await open_engine(url, cfg.pool)
    sessions = create_session_factory(engine, cfg.pool)
    rows: dict[str, int] = {}
    try:
        started = time.perf_counter()
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        async with sessions() as session:
            for spec in app.recipe.tables:
                model = _MODELS[spec.name]
                count = 0
                objects = _objects(model, spec.column_names, spec.generate(shape))
                while batch := list(itertools.islice(objects, batch_size)):
                    session.add_all(batch)
                    await session.flush()
                    for obj in batch:  # the plan: learn server-made values, one SELECT per row
                        await session.refresh(obj)
                    count += len(batch)
                rows[spec.name] = count
            await session.commit()
        seconds = time.perf_counter() - started
        async with engine.connect() as conn:  # what is there is what was claimed
            for name, count in rows.items():
                found = await conn.scalar(text(f"SELECT count(*) FROM {name}"))  # noqa: S608
                if found != count:
                    raise RuntimeError(f"plan method: {name} holds {found} rows, not {count}")
    finally:
        await engine.dispose()
    return BaselineReport(rows=rows, seconds=seconds)
