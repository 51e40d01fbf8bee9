"""One benchmark measurement in a process of its own, so its peak memory is its own.

``invoke bench-seed`` starts ``python -m benchmarks.bench_seed_worker`` once per measurement and
writes the job as JSON to its standard input (the URL holds a password: never on a command
line). The worker runs the job against an empty database and prints one JSON line: rows,
seconds, phases, and the process's peak resident memory (``getrusage(RUSAGE_SELF).ru_maxrss``:
the whole process, interpreter and imports included) before and after the work.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import resource
import sys
from typing import Any

from benchmarks.plan_baseline import plan_method
from perfkit.config import Scale, load_config
from perfkit.datagen.load import seed_database


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Run one ``seed`` or ``plan`` job (see :mod:`benchmarks.bench_seed`)."""
    # The server the job seeds is the config's database (its schema is fingerprinted there).
    cfg = load_config(job["config"], env={"TEST_DATABASE_URL": job["url"]})
    scale = Scale(
        name=job["scale"]["name"], **{k: v for k, v in job["scale"].items() if k != "name"}
    )
    anchor = dt.date.fromisoformat(job["anchor"])
    before = peak_rss_mb()
    if job["kind"] == "plan":
        baseline = await plan_method(job["url"], cfg, scale, anchor=anchor)
        rows, seconds, phases = baseline.total_rows, baseline.seconds, {}
    else:
        report = await seed_database(job["url"], cfg, scale, mode=job["mode"], anchor=anchor)
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
