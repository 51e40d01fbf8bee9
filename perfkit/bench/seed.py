"""``perfkit bench-seed``: perfkit's seed against the plan's ORM method, side by side, in one run.

Everything runs on one private PostgreSQL that the benchmark brings up for itself
(:func:`perfkit.env.private.private_server`: a throw-away cluster on a free port, tuned by
``database.settings`` from scales.yaml) and removes afterwards; nothing of the user's is
touched. Each measurement runs in a fresh worker process (:mod:`perfkit.bench.seed_worker`)
against a fresh, empty database, so the peak memory it reports is that measurement's own.
Times are the median of the repeats; the 5,000-office seed and the plan's method at medium run
once (they are the slow ones). The machine is shared, so compare rows within one run.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from perfkit.config import Config, Scale
from perfkit.db import connection
from perfkit.env.base import ensure_database
from perfkit.env.private import private_server
from perfkit.errors import PerfkitError
from perfkit.sqlnames import quote_ident
from perfkit.urls import with_database
from perfkit.views import table

Kind = Literal["plan", "seed", "command"]
#: Offices of the extra scale beyond ``large``.
XL_OFFICES = 5000
#: A fixed anchor date, so every run of the benchmark makes the very same rows.
ANCHOR = dt.date(2026, 2, 9)
#: The issue's targets, checked after the run.
TARGETS = {
    "medium_seconds": 0.5,
    "medium_ratio": 60.0,
    "large_seconds": 2.0,
    "xl_rows_per_second": 100_000.0,
    "peak_rss_mb": 150.0,
    "command_seconds": 3.0,
}


@dataclass(frozen=True)
class Case:
    """One row of the benchmark: what runs, at which scale, how many times."""

    label: str
    kind: Kind
    scale: Scale
    repeats: int
    mode: str = "plan"


@dataclass
class CaseResult:
    """The measurements of one case."""

    case: Case
    rows: int = 0
    seconds: list[float] = field(default_factory=list)
    rss_peak_mb: list[float] = field(default_factory=list)
    rss_before_mb: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.median if self.seconds else 0.0


@dataclass(frozen=True)
class BenchReport:
    """Every case's result, plus what the run ran on."""

    results: tuple[CaseResult, ...]
    server_version: str
    repeats: int

    def result(self, label: str) -> CaseResult | None:
        return next((r for r in self.results if r.case.label == label), None)


def plan_cases(cfg: Config, *, repeats: int, quick: bool = False) -> list[Case]:
    """The benchmark's cases: the plan's method at small (and medium), perfkit's seed at
    small, medium, large and 5,000 offices in plan mode, medium in realistic mode, and the
    whole ``perfkit seed --scale medium`` command. ``quick`` drops the two slow ones."""
    small, medium, large = (cfg.scale(n) for n in ("small", "medium", "large"))
    xl = Scale(
        name=f"{XL_OFFICES}-offices",
        offices=XL_OFFICES,
        staff_per_office=large.staff_per_office,
        recipients_per_office=large.recipients_per_office,
        cycles_per_plan=large.cycles_per_plan,
    )
    cases = [
        Case("plan ORM, small", "plan", small, repeats),
        Case("plan ORM, medium", "plan", medium, 1),
        Case("seed, small", "seed", small, repeats),
        Case("seed, medium", "seed", medium, repeats),
        Case("seed, large", "seed", large, repeats),
        Case(f"seed, {XL_OFFICES:,} offices", "seed", xl, 1),
        Case("seed, medium realistic", "seed", medium, repeats, mode="realistic"),
        Case("perfkit seed, medium", "command", medium, repeats),
    ]
    if quick:
        cases = [c for c in cases if c.kind != "plan" or c.scale.name == "small"]
        cases = [c for c in cases if c.scale is not xl]
    return cases


async def run_benchmark(
    cfg: Config,
    *,
    repeats: int = 3,
    quick: bool = False,
    say: Callable[[str], None] | None = None,
    row_counts: Callable[[Scale, str], dict[str, int]],
) -> BenchReport:
    """Bring up a private server, run every case, remove the server; return the results.
    ``row_counts(scale, mode)``: what the application's recipe seeds (for the whole-command
    case, which cannot say)."""
    report = say or (lambda _msg: None)
    cases = plan_cases(cfg, repeats=repeats, quick=quick)
    report("bringing up a private PostgreSQL for the benchmark ...")
    async with private_server(cfg.source) as server:
        async with connection(server.url) as conn:
            version = str(await conn.fetchval("SHOW server_version"))
        results = []
        counter = iter(range(1_000_000))
        await _measure(server.url, cfg, cases[2], n=next(counter), warmup=True, counts=row_counts)
        for case in cases:
            result = CaseResult(case)
            for i in range(case.repeats):
                report(f"{case.label}: run {i + 1} of {case.repeats}")
                got = await _measure(server.url, cfg, case, n=next(counter), counts=row_counts)
                result.rows = int(got["rows"])
                result.seconds.append(float(got["seconds"]))
                if "rss_peak_mb" in got:
                    result.rss_peak_mb.append(float(got["rss_peak_mb"]))
                    result.rss_before_mb.append(float(got["rss_before_mb"]))
            results.append(result)
    return BenchReport(results=tuple(results), server_version=version, repeats=repeats)


async def _measure(
    server_url: str,
    cfg: Config,
    case: Case,
    *,
    n: int,
    counts: Callable[[Scale, str], dict[str, int]],
    warmup: bool = False,
) -> dict[str, Any]:
    """One measurement in a fresh database, dropped afterwards."""
    name = f"bench_{n}" + ("_warmup" if warmup else "")
    url = with_database(server_url, name)
    await ensure_database(url)
    try:
        if case.kind == "command":
            return await _run_command(url, cfg, case, counts=counts)
        return await _run_worker(url, cfg, case)
    finally:
        async with connection(with_database(server_url, "postgres")) as admin:
            await admin.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")


async def _run_worker(url: str, cfg: Config, case: Case) -> dict[str, Any]:
    job = {
        "kind": case.kind,
        "url": url,
        "config": str(cfg.source),
        "scale": {
            "name": case.scale.name,
            "offices": case.scale.offices,
            "staff_per_office": case.scale.staff_per_office,
            "recipients_per_office": case.scale.recipients_per_office,
            "cycles_per_plan": case.scale.cycles_per_plan,
        },
        "mode": case.mode,
        "anchor": ANCHOR.isoformat(),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "perfkit.bench.seed_worker",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate(json.dumps(job).encode())
    if proc.returncode != 0:
        tail = " | ".join(err.decode(errors="replace").strip().splitlines()[-3:])
        raise PerfkitError(f"benchmark worker failed ({case.label}): {tail}")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


async def _run_command(
    url: str, cfg: Config, case: Case, *, counts: Callable[[Scale, str], dict[str, int]]
) -> dict[str, Any]:
    """``perfkit seed --scale NAME`` as a user runs it, timed from process start to exit."""
    env = {k: v for k, v in os.environ.items() if k != "PERFORMANCE_TEST_DATABASE_URL"}
    env.update(
        {
            "TEST_DATABASE_URL": url,
            "PERFKIT_CONFIG": str(cfg.source),
            "PERFKIT_DATA_MODE": case.mode,
        }
    )
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "perfkit",
        "seed",
        "--scale",
        case.scale.name,
        "--anchor",
        ANCHOR.isoformat(),
        env=env,
        cwd=cfg.root,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        tail = " | ".join(err.decode(errors="replace").strip().splitlines()[-3:])
        raise PerfkitError(f"`perfkit seed` failed in the benchmark: {tail}")
    rows = sum(counts(case.scale, case.mode).values())
    return {"rows": rows, "seconds": seconds}


# --------------------------------------------------------------------------------------------
# presentation


def _baseline_for(report: BenchReport, result: CaseResult) -> tuple[CaseResult | None, bool]:
    """The plan-method result to compare with: the same scale when measured (exact), else
    the largest measured one, compared by rows per second (marked)."""
    plans = [r for r in report.results if r.case.kind == "plan" and r.seconds]
    same = next((p for p in plans if p.case.scale.name == result.case.scale.name), None)
    if same is not None and result.case.mode == "plan":
        return same, True
    return (max(plans, key=lambda p: p.rows) if plans else None), False


def bench_table(report: BenchReport) -> list[str]:
    """The results as a titled table; :data:`TABLE_NOTES` explains the columns."""
    title = (
        f"seeding benchmark: PostgreSQL {report.server_version.split()[0]}, one private "
        f"server, median of {report.repeats} runs where repeated"
    )
    rows = []
    for r in report.results:
        base, exact = _baseline_for(report, r)
        if r.case.kind == "plan":
            ratio = "1x"
        elif base is None or r.case.kind == "command":
            ratio = "-"
        elif exact:
            ratio = f"{base.median / r.median:,.0f}x"
        else:
            ratio = f"~{r.rows_per_second / base.rows_per_second:,.0f}x"
        rss = f"{max(r.rss_peak_mb):.0f}" if r.rss_peak_mb else "-"
        rows.append(
            [r.case.label, f"{r.rows:,}", str(len(r.seconds)), f"{r.median:.3f}",
             f"{r.rows_per_second:,.0f}", ratio, rss]
        )  # fmt: skip
    header = ("case", "rows", "runs", "seconds", "rows/s", "vs plan", "RSS MB")
    return [title, *table(header, rows, right=range(1, 7))]


#: What the table's columns mean, printed under it.
TABLE_NOTES = (
    "vs plan: the plan's time / this time at the same scale; ~N: rows/s over the plan "
    "method's rows/s at its largest measured scale.",
    "RSS MB: peak resident memory of the worker process (getrusage ru_maxrss: interpreter, "
    "imports and work), one fresh process per run.",
    "perfkit seed: the whole command, process start to exit.",
)


def target_lines(report: BenchReport) -> list[str]:
    """The issue's targets, each with the measured value and ok / MISSED."""
    out: list[str] = []

    def line(ok: bool, text: str) -> None:
        out.append(f"{'ok    ' if ok else 'MISSED'} {text}")

    medium = report.result("seed, medium")
    plan_medium = report.result("plan ORM, medium")
    large = report.result("seed, large")
    xl = report.result(f"seed, {XL_OFFICES:,} offices")
    command = report.result("perfkit seed, medium")
    if medium:
        limit = TARGETS["medium_seconds"]
        line(medium.median < limit, f"medium in {medium.median:.3f} s (< {limit} s)")
    if medium and plan_medium:
        ratio = plan_medium.median / medium.median
        line(
            ratio >= TARGETS["medium_ratio"],
            f"medium {ratio:,.0f}x faster than the plan's method (>= 60x)",
        )
    if large:
        limit = TARGETS["large_seconds"]
        line(large.median < limit, f"large in {large.median:.3f} s (< {limit} s)")
    if xl:
        speed = xl.rows_per_second
        line(
            speed >= TARGETS["xl_rows_per_second"],
            f"{XL_OFFICES:,} offices at {speed:,.0f} rows/s (>= 100,000)",
        )
    peaks = [max(r.rss_peak_mb) for r in report.results if r.case.kind == "seed" and r.rss_peak_mb]
    if peaks:
        line(
            max(peaks) < TARGETS["peak_rss_mb"],
            f"peak client memory {max(peaks):.0f} MB at most, whole process (< 150 MB)",
        )
    if command:
        limit = TARGETS["command_seconds"]
        line(
            command.median < limit,
            f"`perfkit seed --scale medium` in {command.median:.2f} s, process start included "
            f"(< {limit} s)",
        )
    return out
