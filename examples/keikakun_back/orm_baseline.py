"""The baseline perfkit's seed is compared with: the same rows, inserted the way keikakun_back's
own performance tests make their data (``tests/performance/bulk_factories.py``): ORM objects of
the application's models, ``session.add_all`` in batches of 500, ``flush`` after each batch,
one commit; into tables made by ``metadata.create_all`` (indexes and foreign keys in place
during the load, as in the application's test database), on its psycopg driver.

Both methods load the very same rows (this recipe's, for the scale asked) into empty scratch
databases on perfkit's server, one after the other, and both timings include making the
tables. perfkit's dataset in the test database is not touched. Run it from perfkit's project
folder once ``invoke db-up`` has started the server::

    PERFKIT_CONFIG=examples/keikakun_back/scales.yaml \
        python -m examples.keikakun_back.orm_baseline --scale medium

It prints rows, seconds and rows per second of each method, and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from perfkit.app import Application
from perfkit.config import Config, Scale, load_config
from perfkit.datagen.entities import ENTITY_VERSION
from perfkit.datagen.load import seed_database
from perfkit.datagen.recipe import Shape
from perfkit.db import create_engine, create_session_factory
from perfkit.run import Run
from perfkit.testing import scratch_database

#: Objects per ``add_all`` + ``flush``: bulk_factories.py's batch size.
BATCH_SIZE = 500
#: The scratch databases (their names say "test": perfkit's safety rule accepts them).
ORM_DATABASE = "keikakun_test_orm_baseline"
SEED_DATABASE = "keikakun_test_seed_baseline"


@dataclass(frozen=True)
class Timing:
    """One method's rows and seconds."""

    method: str
    rows: int
    seconds: float

    def line(self) -> str:
        rate = self.rows / self.seconds if self.seconds else 0.0
        return (
            f"{self.method:<34} {self.rows:>9,} rows {self.seconds:>8.3f} s {rate:>11,.0f} rows/s"
        )


def _models() -> dict[str, Any]:
    """keikakun_back's model classes by table name (imported once perfkit set up the import)."""
    from app.models import (
        Office,
        OfficeStaff,
        PlanDeliverable,
        Staff,
        SupportPlanCycle,
        WelfareRecipient,
    )
    from app.models.push_subscription import PushSubscription

    classes = (
        Office,
        OfficeStaff,
        PlanDeliverable,
        PushSubscription,
        Staff,
        SupportPlanCycle,
        WelfareRecipient,
    )
    return {cls.__tablename__: cls for cls in classes}


def _objects(model: Any, columns: Sequence[str], rows: Iterator[tuple[Any, ...]]) -> Iterator[Any]:
    for row in rows:
        values = dict(zip(columns, row, strict=True))
        prefs = values.get("notification_preferences")
        if isinstance(prefs, str):  # JSON text for COPY; the ORM takes the dict
            values["notification_preferences"] = json.loads(prefs)
        yield model(**values)


async def orm_method(url: str, cfg: Config, app: Application, shape: Shape) -> Timing:
    """create_all of the seven tables, then add_all + flush per 500 objects, one commit."""
    models = _models()
    tables = [app.schema.metadata.tables[name] for name in app.tables]
    engine = create_engine(url, cfg.pool, driver=app.driver)
    sessions = create_session_factory(engine, cfg.pool)
    rows = 0
    try:
        started = time.perf_counter()
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: app.schema.metadata.create_all(sync, tables=tables))
        async with sessions() as session:
            for spec in app.recipe.tables:
                model = models[spec.name]
                objects = _objects(model, spec.column_names, spec.generate(shape))
                while batch := list(itertools.islice(objects, BATCH_SIZE)):
                    session.add_all(batch)
                    await session.flush()
                    rows += len(batch)
            await session.commit()
        seconds = time.perf_counter() - started
        async with engine.connect() as conn:  # what is there is what was claimed
            found = 0
            for name in app.tables:
                found += int(await conn.scalar(text(f"SELECT count(*) FROM {name}")))  # noqa: S608
        if found != rows:
            raise RuntimeError(f"the ORM method inserted {rows} rows but {found} are there")
    finally:
        await engine.dispose()
    return Timing("ORM add_all + flush (500)", rows, seconds)


async def perfkit_method(run: Run, scale: Scale, shape: Shape) -> Timing:
    """perfkit's seed (binary COPY into a staging schema, then constraints, swap)."""
    report = await seed_database(run, scale, anchor=shape.anchor)
    return Timing("perfkit seed (COPY)", report.total_rows, report.seconds)


async def compare(cfg: Config, scale: Scale) -> list[Timing]:
    run = Run(cfg)
    app = run.app  # the application's import, outside both timings
    shape = Shape(
        scale=scale,
        data=cfg.data,
        mode=cfg.data.mode,
        seed=cfg.data.seed,
        anchor=run.today,
        version=ENTITY_VERSION,
    )
    server = str(run.db.url)
    async with scratch_database(server, SEED_DATABASE, perfkit_made=True) as url:
        seeded = await perfkit_method(run.on(str(url)), scale, shape)
    async with scratch_database(server, ORM_DATABASE) as url:
        orm = await orm_method(str(url), cfg, app, shape)
    if orm.rows != seeded.rows:
        raise RuntimeError(f"different datasets: ORM {orm.rows} rows, perfkit {seeded.rows}")
    return [seeded, orm]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="medium", help="a scale of scales.yaml")
    args = parser.parse_args()
    cfg = load_config()
    scale = cfg.scale(args.scale)
    seeded, orm = asyncio.run(compare(cfg, scale))
    print(f"scale {scale.name}: {scale.offices} offices, the same {seeded.rows:,} rows")
    print(seeded.line())
    print(orm.line())
    print(f"perfkit's seed is {orm.seconds / seeded.seconds:.1f}x faster")


if __name__ == "__main__":
    main()
