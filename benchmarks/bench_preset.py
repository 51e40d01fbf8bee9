"""The sample application's data two ways, side by side at one scale: its recipe (the fast
path, ``perfkit seed``) and inferred from its models with the welfare preset
(``app.recipe: null``, ``app.data: {preset: welfare}``), on a private PostgreSQL the
benchmark brings up for itself.

    python -m benchmarks.bench_preset [--offices 100] [--repeats 5]

Each repeat seeds each way once, round robin, into the same database (``reset``), in this
process, timed from the plan to the swap's commit; the table shows medians. The recipe's
realistic mode makes 2 cycles per plan (a finished one and the current one), the preset 1
(``cycles_per_plan``), so compare seconds and rows/s both. The issue's target for the sample
at medium (100 offices): at most 0.16 s in process.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import time
from pathlib import Path

from perfkit.apps.welfare.models import metadata
from perfkit.config import Scale
from perfkit.datagen.infer.fill import fill_database
from perfkit.datagen.infer.plan import make_plan
from perfkit.datagen.infer.seed import scale_numbers
from perfkit.datagen.load import seed_database
from perfkit.dataspec import parse_spec
from perfkit.db import connection
from perfkit.ddl import capture_schema
from perfkit.ddl.source import settle
from perfkit.run import Run
from perfkit.schema import Schema, quote_ident
from perfkit.testing import private_server
from perfkit.urls import with_database

PROJECT = Path(__file__).resolve().parent.parent
ANCHOR = dt.date(2026, 2, 9)


async def run(offices: int, repeats: int) -> dict[str, list[tuple[int, float]]]:
    print("bringing up a private PostgreSQL for the benchmark ...", flush=True)
    async with private_server(PROJECT / "scales.yaml") as server:
        admin_url = with_database(server.url, "postgres")
        async with connection(admin_url) as admin:
            for name in ("perfkit_bench_preset_source", "perfkit_bench_preset_test"):
                await admin.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)}")
                await admin.execute(f"CREATE DATABASE {quote_ident(name)}")
        schema = Schema(metadata)
        async with connection(with_database(server.url, "perfkit_bench_preset_source")) as conn:
            await conn.execute(
                ";\n".join(
                    [
                        *schema.create_types_sql("public"),
                        *schema.create_tables_sql("public"),
                        *schema.post_load_sql("public"),
                    ]
                )
            )
            built = await capture_schema(conn, "public")
            capture = await settle(conn, built, built.table_names)
        spec = parse_spec({"preset": "welfare"}, source="bench", key="app.data")
        scale = Scale(name="bench", offices=offices)
        target = with_database(server.url, "perfkit_bench_preset_test")
        results: dict[str, list[tuple[int, float]]] = {"recipe": [], "preset (inferred)": []}
        for n in range(repeats + 1):  # the first round warms up, and is not counted
            seeded = await seed_database(
                Run(server.cfg, db=target), scale, anchor=ANCHOR, reset=True
            )
            started = time.perf_counter()
            plan = make_plan(
                capture,
                spec,
                seed=42,
                anchor=ANCHOR,
                scale=float(offices),
                numbers=scale_numbers(scale),
            )
            filled = await fill_database(target, capture, plan, replace=True)
            seconds = time.perf_counter() - started
            if n:
                results["recipe"].append((seeded.total_rows, seeded.seconds))
                results["preset (inferred)"].append((filled.total_rows, seconds))
            print(f"round {n} of {repeats} done", flush=True)
        async with connection(admin_url) as admin:
            for name in ("perfkit_bench_preset_source", "perfkit_bench_preset_test"):
                await admin.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--offices", type=int, default=100, help="the scale's offices")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    results = asyncio.run(run(args.offices, args.repeats))
    print(f"\nthe sample application at {args.offices} offices (medians of {args.repeats})")
    print(f"{'path':<20} {'rows':>8} {'seconds':>8} {'rows/s':>10}")
    for label, runs in results.items():
        rows = runs[0][0]
        seconds = statistics.median(s for _, s in runs)
        print(f"{label:<20} {rows:>8,} {seconds:>8.3f} {rows / seconds:>10,.0f}")


if __name__ == "__main__":
    main()
