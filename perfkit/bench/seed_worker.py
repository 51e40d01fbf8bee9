"""One benchmark measurement in a process of its own, so its peak memory is its own.

``perfkit bench-seed`` starts ``python -m perfkit.bench.seed_worker`` once per measurement and
writes the job as JSON to its standard input (the URL holds a password: never on a command
line). The worker runs the job against an empty database and prints one JSON line: rows,
seconds, phases, and the process's peak resident memory (``getrusage(RUSAGE_SELF).ru_maxrss``:
the whole process, interpreter and imports included) before and after the work.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import json
import resource
import sys
from typing import Any

from perfkit.config import Scale, load_config
from perfkit.datagen.load import seed_database
from perfkit.loading import import_object
from perfkit.run import Run

#: The baseline: the plan's "bulk insert" for the sample application, reached by its import
#: path as any application's code is (the core never imports an application by name).
PLAN_METHOD = "perfkit.apps.welfare.plan_baseline:plan_method"


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Run one ``seed`` or ``plan`` job (see :mod:`perfkit.bench.seed`)."""
    # The server the job seeds is the config's database (its schema is fingerprinted there).
    cfg = load_config(job["config"], env={"TEST_DATABASE_URL": job["url"]})
    scale = Scale(
        name=job["scale"]["name"], **{k: v for k, v in job["scale"].items() if k != "name"}
    )
    anchor = dt.date.fromisoformat(job["anchor"])
    # SQLAlchemy and the models' machinery are imported before the clock, as every perfkit
    # before the lazy imports did at start-up: the row measures seeding, not the interpreter
    # importing a library (`perfkit seed, medium`, the whole command, measures that too).
    for module in ("perfkit.schema", "sqlalchemy.orm", "sqlalchemy.ext.asyncio"):
        importlib.import_module(module)
    before = peak_rss_mb()
    if job["kind"] == "plan":
        plan_method = import_object(PLAN_METHOD, key="plan_method", source="perfkit bench-seed")
        baseline = await plan_method(job["url"], cfg, scale, anchor=anchor)
        rows, seconds, phases = baseline.total_rows, baseline.seconds, {}
    else:
        run = Run(cfg, db=job["url"])
        report = await seed_database(run, scale, mode=job["mode"], anchor=anchor)
        rows, seconds, phases = report.total_rows, report.seconds, dict(report.phases)
    return {
        "rows": rows,
        "seconds": seconds,
        "phases": phases,
        "rss_before_mb": before,
        "rss_peak_mb": peak_rss_mb(),
    }


def main() -> None:
    job = json.loads(sys.stdin.read())
    print(json.dumps(asyncio.run(run_job(job))))


if __name__ == "__main__":
    main()
