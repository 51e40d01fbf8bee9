"""The report's content, formats and output paths (real rendering; records built in memory).

tests/integration/test_regression_gate.py renders the report from records of real runs.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from perfkit.compare import compare_history, rules_from_config
from perfkit.config import RegressionConfig
from perfkit.history import History
from perfkit.report import (
    ReportError,
    build_report,
    md_code,
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


def history() -> History:
    return History.of(
        [
            run_record(1, metrics={"seed_rows_per_second": 250_000.0}),
            run_record(2, metrics={"restore_seconds": 0.8}),
            run_record(3),
            run_record(
                1, scale="medium", batch=0.3, metrics=MEDIUM | {"seed_rows_per_second": 400_000.0}
            ),
            run_record(2, scale="medium", batch=0.31, metrics=MEDIUM),
            run_record(
                3,
                scale="medium",
                batch=0.9,
                metrics=MEDIUM,
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


# -- hostile text in the records: the Markdown carries none of it as markup -------------------

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(2)>"
#: Free text as a record can hold it: tags, links, emphasis, table pipes, backticks, newlines.
HOSTILE_TEXT = f"{SCRIPT} {IMG} [click](javascript:alert(3)) **b** | `c` &lt; a\nb _x_ <!-- -->"
#: A statement with backtick runs and pipes (a code span must be fenced around them).
HOSTILE_SQL = f"SELECT '{SCRIPT}' || `a``b` | {IMG} `"


def hostile_history() -> History:
    def entry(relation: str) -> dict[str, Any]:
        shape = {"node": "Seq Scan", "relation": relation}
        return {"fingerprint": "f1", "statement": HOSTILE_SQL, "calls": 1, "total_ms": 1.0,
                "mean_ms": 1.0, "rows": 1,
                "plan": {"shape": shape, "shape_hash": relation[:8],
                         "slowest_node": f"Seq Scan on {relation}", "slowest_node_ms": 1.0,
                         "execution_ms": 1.0}}  # fmt: skip

    def record(n: int, relation: str, **kw: Any) -> Any:
        return run_record(
            n, scale=f"small{SCRIPT}", workload=HOSTILE_TEXT, profile=[entry(relation)],
            machine={"hostname": IMG, "cpus": 2, "python": SCRIPT, "platform": HOSTILE_TEXT},
            server_version=IMG, backend=SCRIPT, commit=IMG, **kw,
        )  # fmt: skip

    return History.of(
        [record(1, "offices"), record(2, f"offices{IMG}", passed=False,
                                      failures=[HOSTILE_TEXT, SCRIPT])],
        source=Path(f"/tmp/{SCRIPT}|`x`/results.jsonl"),
    )  # fmt: skip


class _Elements(HTMLParser):
    """The element names an HTML text holds, and its text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_hostile_text_in_records_is_never_markup_in_the_markdown_report() -> None:
    h = hostile_history()
    comparisons = compare_history(
        h, baseline="median:5", rules=rules_from_config(RegressionConfig())
    )
    assert comparisons and comparisons[0].plan_changes  # the plan-change section is rendered
    md = render_markdown(build_report(h, comparisons=comparisons))
    rendered = MarkdownIt("commonmark", {"html": True}).enable("table").render(md)
    elements = _Elements()
    elements.feed(rendered)
    allowed = {"h1", "h2", "p", "table", "thead", "tbody", "tr", "th", "td", "code", "ul", "li",
               "strong", "blockquote"}  # fmt: skip
    assert set(elements.tags) <= allowed, set(elements.tags) - allowed
    text = "".join(elements.text)
    for shown in (SCRIPT, IMG, "[click](javascript:alert(3))", "**b**", "_x_", "`a``b`"):
        assert shown in text, shown  # shown as text, not dropped
    # the statement is one code span, whole, pipes and backticks included
    assert f"<code>{html.escape(HOSTILE_SQL, quote=False)}</code>" in rendered
    # and the Markdown source has no tag outside code spans
    outside = re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "", md)
    assert not re.search(r"(?<!\\)<[A-Za-z/!?]", outside)


@pytest.mark.parametrize(
    "text", ["plain", "a`b", "``", "`start", "end`", " padded ", "a | b", "```x``` ` y"]
)
def test_a_code_span_holds_any_text_whole(text: str) -> None:
    """In a table cell and in running text (the report's first line names the results
    file in one)."""
    markdown = MarkdownIt("commonmark").enable("table")
    in_cell = markdown.render(f"| sql |\n|---|\n| {md_code(text, cell=True)} |\n")
    in_text = markdown.render(f"the statement {md_code(text)} ran")
    for rendered in (in_cell, in_text):
        assert f"<code>{html.escape(text, quote=False)}</code>" in rendered, rendered
