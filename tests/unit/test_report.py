"""The report's content, formats and output paths (real rendering; records built in memory).

tests/integration/test_regression_gate.py renders the report from records of real runs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from perfkit.compare import compare_history, rules_from_config
from perfkit.config import RegressionConfig
from perfkit.history import History
from perfkit.report import (
    ReportError,
    build_report,
    parse_formats,
    render_html,
    render_markdown,
    report_paths,
    split_scales,
    write_report,
)
from perfkit.testing import run_record

#: The medium scale's runs measure 100 offices.
MEDIUM = {"offices": 100.0}


def repeats(batch: float) -> dict[str, list[float]]:
    """Five timed samples around ``batch``: enough for the gate's test to see a x3."""
    return {"batch_seconds": [batch * f for f in (0.9, 0.95, 1.0, 1.05, 1.1)]}


def history() -> History:
    return History.of(
        [
            run_record(1, metrics={"seed_rows_per_second": 250_000.0}),
            run_record(2, metrics={"restore_seconds": 0.8}),
            run_record(3),
            run_record(
                1,
                scale="medium",
                batch=0.3,
                metrics=MEDIUM | {"seed_rows_per_second": 400_000.0},
                samples=repeats(0.3),
            ),
            run_record(2, scale="medium", batch=0.31, metrics=MEDIUM, samples=repeats(0.31)),
            run_record(
                3,
                scale="medium",
                batch=0.9,
                metrics=MEDIUM,
                samples=repeats(0.9),
                passed=False,
                failures=["batch 0.900 s <= 0.500 s: OVER BUDGET"],
            ),
        ],
        source=Path("/tmp/results.jsonl"),
    )


def data(**kw: Any) -> Any:
    h = history()
    comparisons = compare_history(
        h,
        baseline="median:5",
        rules=rules_from_config(RegressionConfig()),
        scales=("small", "medium"),
    )
    return build_report(h, scale_order=("small", "medium", "large"), comparisons=comparisons, **kw)


def test_markdown_has_the_plans_measurement_table() -> None:
    md = render_markdown(data())
    header = next(line for line in md.splitlines() if line.startswith("| scale |"))
    for column in ("bulk insert speed", "snapshot restore", "batch time (median)",
                   "SQL statements", "peak memory"):  # fmt: skip
        assert column in header
    small = next(line for line in md.splitlines() if line.startswith("| small |"))
    assert "250,000 rows/s (2026-02-09)" in small  # from the newest run that seeded
    assert "0.80 s / 5 s (2026-02-09)" in small  # restore, with its budget
    assert "0.050 s / 2 s" in small


def test_markdown_shows_the_regression_check_and_the_history() -> None:
    md = render_markdown(data())
    assert "## Regression check" in md
    assert "❌ medium: 1 regression" in md
    assert "✅ small: no regression" in md
    assert re.search(r"\| batch time \(median\) \| 0\.305 s \| 0\.900 s \| x2\.95 \|", md)
    assert "## History: small (last 3 of 3 runs, newest first)" in md
    assert "FAIL: batch 0.900 s <= 0.500 s: OVER BUDGET" in md
    rows = [line for line in md.splitlines() if line.startswith("| 2026-02-09")]
    assert rows[0].startswith("| 2026-02-09 06:00")  # newest first


def test_last_limits_the_history_and_scales_filter() -> None:
    md = render_markdown(data(last=2, scales=("medium",)))
    assert "## History: medium (last 2 of 3 runs" in md
    assert "small" not in md.split("## Measurements")[1]


def test_html_is_self_contained_with_a_chart_per_metric() -> None:
    page = render_html(data())
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"<script[^>]*\bsrc=", page)  # nothing loaded from elsewhere
    after_plotly_js = page.split("</script>", 1)[1]
    assert "http://" not in after_plotly_js and "https://" not in after_plotly_js
    assert page.count("Plotly.newPlot") >= 5
    for title in (
        "batch time (median) (lower is better)",
        "bulk insert speed (higher is better)",
        "SQL statements (lower is better)",
    ):
        assert title in page
    assert "small budget" in page  # the batch budget line
    assert 'class="regression"' in page
    assert len(page) > 1_000_000  # plotly.js itself is inside


def test_an_empty_history_renders_a_hint() -> None:
    empty = build_report(History.of([]))
    assert "No runs recorded yet" in render_markdown(empty)
    assert "No runs recorded yet" in render_html(empty)


def test_cells_are_escaped() -> None:
    hostile = run_record(1, failures=["<script>alert(1)</script> | pipe"], passed=False)
    report = build_report(History.of([hostile]))
    assert "<script>alert(1)" not in render_html(report)
    assert "\\| pipe" in render_markdown(report)


def test_output_paths(tmp_path: Path) -> None:
    assert report_paths(tmp_path, ("md", "html")) == {
        "md": tmp_path / "report.md",
        "html": tmp_path / "report.html",
    }
    assert report_paths(tmp_path / "x.html", ("html",)) == {"html": tmp_path / "x.html"}
    with pytest.raises(ReportError):
        report_paths(tmp_path / "x.md", ("md", "html"))
    with pytest.raises(ReportError):
        report_paths(tmp_path / "x.md", ("html",))


def test_write_report_writes_both_files(tmp_path: Path) -> None:
    written = write_report(data(), output=tmp_path / "out", formats=parse_formats("both"))
    assert [p.name for p in written] == ["report.md", "report.html"]
    assert all(p.stat().st_size > 0 for p in written)


def test_flag_parsing() -> None:
    assert parse_formats("both") == ("md", "html")
    with pytest.raises(ReportError):
        parse_formats("pdf")
    assert split_scales("small, medium") == ("small", "medium")
    assert split_scales(None) == ()
    with pytest.raises(ReportError):
        build_report(History.of([]), last=0)
