"""Inferred data at COPY speed: sample schemas filled with no recipe, indexes and constraints
included, on a private PostgreSQL the benchmark brings up for itself and removes afterwards.

Two schemas: Pagila (tests/schemas/pagila-schema.sql: 15 tables with data, a partitioned
table of 7 partitions, 38 indexes and primary keys, 37 foreign keys, 15 triggers) and Pagila
plus tests/schemas/extras.sql (20 tables; adds a trigram GIN index and a GiST exclusion
constraint over ranges, which PostgreSQL builds slowly whoever loads the rows).

    python -m benchmarks.bench_infer [--scale 30] [--repeats 3]

For comparison, the sample application's recipe is seeded on the same server in the same
round (its ``invoke seed``, at ``REFERENCE_OFFICES`` offices per unit of scale; no size
reported). Each repeat fills a fresh database (plan, staging schema, parallel binary COPY,
the captured DDL replayed, triggers, sequences, ANALYZE, swap) and is timed from the plan to
the swap's commit; the table shows medians of the repeats, the database's size, and the process's
peak memory. The machine is shared: compare rows within one run. The issue's target for
this path is 250k rows/s overall (2 shared cores).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import resource
import statistics
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from perfkit.config import Scale
from perfkit.datagen.infer.fill import fill_database
from perfkit.datagen.infer.plan import make_plan
from perfkit.datagen.load import seed_database
from perfkit.dataspec import parse_spec
from perfkit.db import connection
from perfkit.ddl import Capture, capture_schema
from perfkit.run import Run
from perfkit.schema import quote_ident
from perfkit.testing import private_server
from perfkit.urls import with_database

PROJECT = Path(__file__).resolve().parent.parent
SCHEMAS = PROJECT / "tests" / "schemas"
ANCHOR = dt.date(2026, 2, 9)
TARGET_ROWS_PER_SECOND = 250_000
#: The row for comparison: the sample application's recipe seeded on the same server, with
#: offices per unit of scale chosen to make about as many rows as the inferred fills.
REFERENCE = "recipe (welfare)"
REFERENCE_OFFICES = 75  # 411 rows per office: ~900k rows at scale 30
#: The scale multiplies the roots (100 rows each); children get 3 rows per parent.
BASE: dict[str, Any] = {"locale": "ja_JP", "default_rows": 100, "default_count": 3}
#: Schema -> (its SQL files, its spec).
CASES: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "pagila": (("pagila-schema.sql",), BASE),
    "pagila+extras": (
        ("pagila-schema.sql", "extras.sql"),
        {
            **BASE,
            "tables": {  # the one CHECK inference cannot read: a regular expression
                "org_unit": {"columns": {"zip": {"choice": ["100-0001", "530-0001"]}}},
            },
        },
    ),
}


async def _fill_once(
    server_url: str, capture: Any, spec: dict[str, Any], scale: float, n: int
) -> dict[str, float]:
    name = f"perfkit_bench_infer_{n}"
    admin_url = with_database(server_url, "postgres")
    async with connection(admin_url) as admin:
        await admin.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)}")
        await admin.execute(f"CREATE DATABASE {quote_ident(name)}")
    url = with_database(server_url, name)
    try:
        started = time.perf_counter()
        plan = make_plan(
            capture, parse_spec(spec, source="bench"), seed=1, anchor=ANCHOR, scale=scale
        )
        report = await fill_database(url, capture, plan)
        seconds = time.perf_counter() - started
        async with connection(url) as conn:
            size = int(await conn.fetchval("SELECT pg_database_size(current_database())"))
        return {
            "rows": report.total_rows,
            "seconds": seconds,
            "plan": seconds - report.seconds,
            "size_mb": size / 2**20,
            **{f"phase_{k}": v for k, v in report.phases.items()},
        }
    finally:
        async with connection(admin_url) as admin:
            await admin.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")


async def run(scale: float, repeats: int, console: Console) -> dict[str, list[dict[str, float]]]:
    """Every case, ``repeats`` times, round robin (noise hits them alike)."""
    console.print("bringing up a private PostgreSQL for the benchmark ...")
    async with private_server(PROJECT / "scales.yaml") as server:
        captures: dict[str, Capture] = {}
        for label, (files, spec) in CASES.items():
            name = f"perfkit_bench_infer_source_{len(captures)}"
            async with connection(with_database(server.url, "postgres")) as admin:
                await admin.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)}")
                await admin.execute(f"CREATE DATABASE {quote_ident(name)}")
            async with connection(with_database(server.url, name)) as conn:
                for file in files:
                    await conn.execute((SCHEMAS / file).read_text(encoding="utf-8"))
                captures[label] = await capture_schema(conn, "public")
            # warm-up: provider pools, caches
            await _fill_once(server.url, captures[label], spec, max(0.1, scale / 20), 0)
        results: dict[str, list[dict[str, float]]] = {label: [] for label in CASES}
        results[REFERENCE] = []
        reference = Scale(name="bench", offices=max(1, round(scale * REFERENCE_OFFICES)))
        for n in range(1, repeats + 1):
            for label, (_, spec) in CASES.items():
                console.print(f"{label}: fill {n} of {repeats} ...")
                results[label].append(await _fill_once(server.url, captures[label], spec, scale, n))
            console.print(f"{REFERENCE}: seed {n} of {repeats} ...")
            seeded = await seed_database(
                Run(server.cfg, db=server.url), reference, anchor=ANCHOR, reset=True
            )
            results[REFERENCE].append(
                {
                    "rows": seeded.total_rows,
                    "seconds": seeded.seconds,
                    "plan": 0.0,
                    "size_mb": 0.0,
                    "phase_load": seeded.phases.get("load", 0.0),
                }
            )
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=30.0, help="multiplies the root tables")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    console = Console()
    results = asyncio.run(run(args.scale, args.repeats, console))
    table = Table(title=f"inferred fill, scale {args.scale:g} (medians of {args.repeats})")
    for column in ("schema", "rows", "seconds", "rows/s", "plan s", "load s", "size MB"):
        table.add_column(column, justify="right")
    for label, runs in results.items():
        median = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        table.add_row(
            label,
            f"{int(median['rows']):,}",
            f"{median['seconds']:.2f}",
            f"{median['rows'] / median['seconds']:,.0f}",
            f"{median['plan']:.2f}",
            f"{median.get('phase_load', 0.0):.2f}",
            f"{median['size_mb']:.0f}",
        )
    console.print(table)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    console.print(f"peak memory of the process: {peak:.0f} MB")
    console.print(f"the issue's target for this path: {TARGET_ROWS_PER_SECOND:,} rows/s overall")


if __name__ == "__main__":
    main()
