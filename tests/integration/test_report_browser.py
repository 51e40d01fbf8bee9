"""The HTML report in a real browser: Debian's Chromium (``/usr/bin/chromium``), driven by
Playwright for Python through its executable path (Playwright's own browser download is never
used). ``.ci/run`` installs the package; the test skips, saying why, only where it is absent.

The page is rendered from records that use every section: three scales over twelve runs with a
step, a regression with an N+1 and a buffers jump, budgets over their limit, an HTTP workload's
percentiles, statement profiles with plans. Checks: no console error and no request leaves the
page; the verdict is on screen without scrolling at 1400×900; nothing overflows the page
horizontally at 390 px; every chart is drawn, and each log axis is labelled by decades only;
records whose text is markup (``<script>``, ``<img onerror>``) add no element and run nothing.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from perfkit.compare import compare_history, rules_from_config
from perfkit.config import RegressionConfig
from perfkit.history import History
from perfkit.report import build_report, render_html
from perfkit.results import RunRecord
from perfkit.statement_changes import figure_rules_from_config
from perfkit.testing import run_record

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not Path("/usr/bin/chromium").exists(),
        reason="no /usr/bin/chromium: install Debian's package (apt-get install chromium); "
        ".ci/run does",
    ),
]

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PER_OFFICE = (
    "SELECT staffs.id, staffs.full_name, staffs.email, staffs.notification_preferences "
    "FROM staffs WHERE staffs.office_id = ? AND staffs.deleted_at IS NULL ORDER BY staffs.id"
)
CYCLES = (
    "SELECT support_plan_cycles.id, support_plan_cycles.end_date FROM support_plan_cycles "
    "JOIN individual_support_plans ON individual_support_plans.id = "
    "support_plan_cycles.individual_support_plan_id WHERE support_plan_cycles.status = ?"
)


def statement(
    fp: str, text: str, *, calls: int, ms: float, buffers: int, scan: str
) -> dict[str, Any]:
    shape = {"node": "Nested Loop", "children": [
        {"node": scan, "relation": "support_plan_cycles"},
        {"node": "Index Scan", "relation": "staffs", "index": "ix_staffs_office_id"}]}  # fmt: skip
    plan = {"shape": shape, "shape_hash": scan[:8], "slowest_node": scan, "slowest_node_ms": 0.4,
            "execution_ms": 0.9, "plan": {"Plan": {}}}  # fmt: skip
    return {"fingerprint": fp, "statement": text, "calls": calls, "total_ms": ms,
            "mean_ms": ms / calls, "rows": 10 * calls, "shared_blks_hit": buffers,
            "shared_blks_read": 7, "buffers_source": "pg_stat_statements",
            "plan": plan}  # fmt: skip


def batch_run(n: int, scale: str, base: float, *, slowed: bool = False) -> RunRecord:
    factor = 8.0 if slowed else (1.0 if n < 6 else 1.4)  # a step at run 6
    batch = base * factor * (1 + 0.03 * ((n * 7) % 5 - 2))
    calls = 100 if slowed else 1
    profile = [
        statement("cycles", CYCLES, calls=1, ms=batch * 600, buffers=9400 if slowed else 120,
                  scan="Seq Scan" if slowed else "Index Scan"),
        statement("staff", PER_OFFICE, calls=calls, ms=calls * 0.08, buffers=3 * calls,
                  scan="Index Scan"),
    ]  # fmt: skip
    return run_record(
        n, scale=scale, batch=batch, profile=profile,
        samples={"batch_seconds": [batch * f for f in (0.9, 0.95, 1, 1.05, 1.2)]},
        metrics={"statements": 1 + calls, "offices": {"small": 10, "medium": 100}.get(scale, 500)},
        budgets={"batch": 0.25, "statements": 5, "prepare": 30.0, "restore": 5.0},
        budget_sources={"batch": f"scales.yaml scales.{scale}.budgets.batch",
                        "statements": "`@perf_budget` in test_batch_at_scale.py"},
        passed=not slowed,
    )  # fmt: skip


#: A load run's latency at each percentile of perfkit.results.LADDER, as multiples of its p50.
LADDER_FACTORS = (0.3, 0.7, 1, 1.3, 2, 2.5, 4, 9, 20, 30)


def load_run(n: int) -> RunRecord:
    p50 = 0.004 * (1 + 0.05 * (n % 3))
    base = run_record(n, workload="dashboard")
    return dataclasses.replace(
        base,
        metrics={"latency_p50_seconds": p50, "latency_p90_seconds": p50 * 2,
                 "latency_p95_seconds": p50 * 2.5, "latency_p99_seconds": p50 * 4,
                 "latency_max_seconds": p50 * 30, "throughput": 240.0, "requests": 2400,
                 "errors": 0, "error_rate": 0.0, "users": 10, "prepare_seconds": 0.2},
        samples={"latency_ladder_seconds": [p50 * f for f in LADDER_FACTORS]},
        budgets={"p95": 0.5, "errors": 0},
        budget_sources={"p95": "scales.yaml app.workloads.dashboard.budgets.small.p95"},
    )  # fmt: skip


def report_page() -> str:
    records = []
    for n in range(12):
        records += [batch_run(n, "small", 0.0026), batch_run(n, "medium", 0.03),
                    batch_run(n, "large", 0.4), load_run(n)]  # fmt: skip
    records += [batch_run(12, "small", 0.0026), batch_run(12, "medium", 0.03, slowed=True)]
    history = History.of(records, source=Path("/tmp/results.jsonl"))
    reg = RegressionConfig()
    comparisons = compare_history(
        history, baseline="median:5", rules=rules_from_config(reg),
        scales=("small", "medium", "large"), per_workload=True,
        figure_rules=figure_rules_from_config(reg),
    )  # fmt: skip
    data = build_report(history, scale_order=("small", "medium", "large"), comparisons=comparisons)
    return render_html(data)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    with tempfile.TemporaryDirectory(prefix="perfkit-chromium-") as profile:
        async with async_playwright() as pw:
            context = await pw.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=FLAGS
            )
            try:
                yield context
            finally:
                await context.close()


@pytest.fixture(scope="module")
def page_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(report_page(), encoding="utf-8")
    print(f"\nreport.html for the browser: {path.stat().st_size:,} bytes")
    return path


async def opened(browser: Any, path: Path, *, width: int, height: int) -> tuple[Any, list[str]]:
    """The page at ``width`` × ``height``, with every console error, page error and request
    that is not the file itself collected."""
    page = await browser.new_page()
    await page.set_viewport_size({"width": width, "height": height})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning") else None)  # fmt: skip
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))

    async def refuse(route: Any) -> None:
        problems.append(f"request: {route.request.url}")
        await route.abort()

    await page.route(lambda url: not url.startswith("file://"), refuse)
    await page.goto(path.as_uri(), wait_until="load")
    await page.wait_for_function("window.perfkitPlots !== undefined")
    return page, problems


async def test_the_verdict_is_on_screen_at_1400_by_900_without_errors(
    browser: Any, page_file: Path
) -> None:
    page, problems = await opened(browser, page_file, width=1400, height=900)
    try:
        verdict = page.locator("#verdict")
        box = await verdict.bounding_box()
        assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 900, box
        headlines = await page.locator("#verdict .headline").all_inner_texts()
        assert headlines[:2] == ["small · deadline_alerts: passed", "small · dashboard: passed"]
        assert headlines[2].startswith("medium: REGRESSED ×")
        assert "N+1 in SELECT staffs.id" in headlines[2] and "buffers in SELECT" in headlines[2]
        for line in await page.locator("#verdict .headline").all():
            assert await line.is_visible()
        assert await page.evaluate("window.scrollY") == 0
        drawn = await page.evaluate("window.perfkitPlots.length")
        assert drawn == await page.locator("div.chart").count() > 10
        assert await page.locator(".uplot canvas").count() >= drawn
        assert problems == []
    finally:
        await page.close()


async def test_log_axes_are_labelled_by_decades_only(browser: Any, page_file: Path) -> None:
    page, problems = await opened(browser, page_file, width=1400, height=900)
    try:
        axes = await page.evaluate(
            """() => window.perfkitPlots
                 .filter(u => u.scales.y.distr === 3)
                 .map(u => ({title: u.root.querySelector('.u-title').textContent,
                             splits: u.axes[1]._splits, values: u.axes[1]._values}))"""
        )
        assert len(axes) >= 2, axes  # batch time across three scales, statements...
        for axis in axes:
            assert axis["splits"], axis
            for tick in axis["splits"]:
                exponent = math.log10(tick)
                assert abs(exponent - round(exponent)) < 1e-9, axis
        assert problems == []
    finally:
        await page.close()


async def test_nothing_overflows_the_page_at_390_px(browser: Any, page_file: Path) -> None:
    page, problems = await opened(browser, page_file, width=390, height=844)
    try:
        widths = await page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert widths[0] <= widths[1] == 390, widths
        box = await page.locator("#verdict").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
        assert problems == []
    finally:
        await page.close()


SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(2)>"


def hostile_page() -> str:
    """Records whose every free text is markup: scale, workload, statement, failure, host."""
    records = []
    for n in range(6):
        profile = [statement("f", f"SELECT '{SCRIPT}' {IMG}", calls=1 if n < 5 else 50,
                             ms=1.0, buffers=100 if n < 5 else 9000, scan="Seq Scan")]  # fmt: skip
        records.append(
            run_record(
                n, scale=f"small{IMG}", workload=f"w{SCRIPT}", profile=profile,
                machine={"hostname": IMG, "cpus": 2}, failures=[IMG], passed=n < 5,
                budget_sources={"batch": SCRIPT},
            )
        )  # fmt: skip
    history = History.of(records, source=Path(f"/tmp/{SCRIPT}/results.jsonl"))
    comparisons = compare_history(
        history, baseline="median:5", rules=rules_from_config(RegressionConfig())
    )
    return render_html(build_report(history, comparisons=comparisons))


async def test_markup_in_the_records_runs_nothing_in_the_browser(
    browser: Any, tmp_path: Path
) -> None:
    path = tmp_path / "hostile.html"
    path.write_text(hostile_page(), encoding="utf-8")
    page, problems = await opened(browser, path, width=1400, height=900)
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    try:
        await page.mouse.move(700, 450)  # hover a chart: its legend shows the labels
        await page.wait_for_timeout(100)
        assert await page.locator("img").count() == 0
        headline = await page.locator("#verdict .headline").first.inner_text()
        assert headline.startswith(f"small{IMG} · w{SCRIPT}: REGRESSED") or headline.startswith(
            f"small{IMG}: REGRESSED"
        ), headline
        assert dialogs == [] and problems == []
    finally:
        await page.close()
