"""The report's content, formats and output paths (real rendering; records built in memory).

tests/integration/test_regression_gate.py renders the report from records of real runs;
tests/integration/test_report_browser.py opens the HTML page in a real Chromium.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import html
import json
import re
import tomllib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jinja2
import pytest
from markdown_it import MarkdownIt

from perfkit import report as report_module
from perfkit import report_charts
from perfkit.compare import Comparison, compare_history, rules_from_config
from perfkit.config import RegressionConfig
from perfkit.history import History
from perfkit.markdown import Md
from perfkit.report import (
    COMMENT_MARKER,
    ReportError,
    build_report,
    markdown_environment,
    md_code,
    parse_charts,
    parse_formats,
    render_comment,
    render_html,
    render_markdown,
    report_paths,
    split_scales,
    write_report,
)
from perfkit.results import LADDER, RunRecord
from perfkit.testing import run_record

ROOT = Path(__file__).resolve().parents[2]
#: The medium scale's runs measure 100 offices.
MEDIUM = {"offices": 100.0}
PER_OFFICE = "SELECT id, email FROM staffs WHERE office_id = ?"
BATCH_SQL = "WITH subscribers AS (SELECT staffs.office_id FROM staffs) SELECT 1"


def repeats(batch: float) -> dict[str, list[float]]:
    """Five timed samples around ``batch``: enough for the gate's test to see a ×3."""
    return {"batch_seconds": [batch * f for f in (0.9, 0.95, 1.0, 1.05, 1.1)]}


def entry(
    fingerprint: str, statement: str, *, calls: int, ms: float, buffers: int
) -> dict[str, Any]:
    return {"fingerprint": fingerprint, "statement": statement, "calls": calls, "total_ms": ms,
            "mean_ms": ms / calls, "rows": calls * 10, "shared_blks_hit": buffers,
            "shared_blks_read": 0, "buffers_source": "pg_stat_statements"}  # fmt: skip


def medium(n: int, batch: float, *, calls: int = 1, **kw: Any) -> RunRecord:
    """A medium run: the batch's statement, and ``calls`` per-office lookups."""
    profile = [entry("batch", BATCH_SQL, calls=1, ms=batch * 400, buffers=450)]
    if calls:
        profile.append(entry("office", PER_OFFICE, calls=calls, ms=calls * 0.1, buffers=3 * calls))
    profile = kw.pop("profile", profile)
    return run_record(
        n, scale="medium", batch=batch, samples=repeats(batch), profile=profile,
        metrics=MEDIUM | {"statements": 1 + calls, **kw.pop("metrics", {})}, **kw,
    )  # fmt: skip


def history() -> History:
    return History.of(
        [
            run_record(1, batch=0.0026, metrics={"seed_rows_per_second": 250_000.0}),
            run_record(2, batch=0.0026, metrics={"restore_seconds": 0.8}),
            run_record(3, batch=0.0026),
            medium(1, 0.3, metrics={"seed_rows_per_second": 400_000.0}),
            medium(2, 0.31),
            medium(
                3, 0.9, calls=100, passed=False,
                # written by an older perfkit: a false inequality the report must not repeat
                failures=["statements 101 <= 5: OVER BUDGET"],
                budgets={"batch": 2.0, "prepare": 30.0, "restore": 5.0, "statements": 5},
                budget_sources={"statements": "`@perf_budget` in test_batch_at_scale.py"},
            ),
        ],
        source=Path("/tmp/results.jsonl"),
    )  # fmt: skip


def comparisons(h: History) -> list[Comparison]:
    return compare_history(
        h, baseline="median:5", rules=rules_from_config(RegressionConfig()),
        scales=("small", "medium"), per_workload=True,
    )  # fmt: skip


def data(h: History | None = None, **kw: Any) -> Any:
    h = h or history()
    return build_report(
        h, scale_order=("small", "medium", "large"), comparisons=comparisons(h), **kw
    )


def verdict_block(md: str) -> list[str]:
    """The lines between the title and the "Generated ..." line."""
    lines = md.splitlines()
    end = next(i for i, line in enumerate(lines) if line.startswith("Generated "))
    return [line for line in lines[1:end] if line.strip()]


# -- the verdict first -------------------------------------------------------------------------


def test_the_markdown_leads_with_the_verdict_and_every_statement_change() -> None:
    md = render_markdown(data())
    assert md.startswith("# perfkit performance report\n\n✅ **small: passed**")
    block = verdict_block(md)
    assert block[0] == "✅ **small: passed**"
    assert block[1] == (
        f"❌ **medium: REGRESSED ×3.0 batch time; ×50.5 SQL statements; N+1 in `{PER_OFFICE}` "
        "(1 → 100 calls); over budget: statements**"
    )
    fails = [line for line in block if line.startswith("- FAIL ")]
    # the budget, as a true inequality with its source; the batch's sentence; the N+1
    assert fails[0] == (
        "- FAIL statements 101 > 5 (budget from `@perf_budget` in test_batch_at_scale.py): "
        "OVER BUDGET"
    )
    assert any("batch time (median) REGRESSED ×2.95, 305 ms → 900 ms" in f for f in fails)
    assert f"- FAIL N+1: `{PER_OFFICE}` went 1 → 100 calls" in block
    assert "101 <= 5" not in md  # the older record's false inequality is never printed


def test_the_comment_carries_the_marker_the_verdict_and_the_tables() -> None:
    comment = render_comment(data())
    assert comment.startswith(
        COMMENT_MARKER + "\n### perfkit (small, medium): regression or budget exceeded"
    )
    assert "❌ **medium: REGRESSED ×3.0 batch time; ×50.5 SQL statements; N+1 in " in comment
    assert f"- FAIL N+1: `{PER_OFFICE}` went 1 → 100 calls" in comment
    assert "| batch time (median) | 305 ms | 900 ms | ×2.95 |" in comment
    assert comment.count(COMMENT_MARKER) == 1


def test_a_long_comment_keeps_15_lines_per_verdict_and_is_cut_below_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runs = [medium(n, 0.3) for n in range(3)]
    wide = "x" * 200
    many = [entry(f"f{i}", " ".join(("SELECT", str(i), "FROM", wide)), calls=1, ms=1.0, buffers=1)
            for i in range(400)]  # fmt: skip
    runs.append(medium(3, 0.3, calls=0, profile=many))
    report = data(History.of(runs))
    comment = render_comment(report)
    (more,) = re.findall(r"and (\d+) more line\(s\): see the full report", comment)
    assert comment.count("\n- note ") == 15 and int(more) > 380
    assert "- note new statement: `SELECT 399" not in comment
    monkeypatch.setattr(report_module, "COMMENT_LIMIT", 1_000)
    cut = render_comment(report)
    assert len(cut) <= 1_100 and cut.endswith(
        "(cut here: the comment's limit; see the full report)\n"
    )
    assert cut.startswith(COMMENT_MARKER)


def test_units_scale_to_ms_and_us() -> None:
    md = render_markdown(data())
    small = next(line for line in md.splitlines() if line.startswith("| small |"))
    assert "2.60 ms / 2.00 s" in small and "0.003 s" not in md  # the batch time
    assert "260 µs" in small  # per office
    assert "800 ms / 5.00 s (2026-02-09)" in small  # restore, from an older run, with budget
    assert "250,000 rows/s (2026-02-09)" in small


def test_the_html_leads_with_the_verdict_and_lists_the_statement_changes() -> None:
    page = render_html(data())
    body = page.split("<body>", 1)[1]
    verdict = body.split('<section id="verdict"', 1)[1].split("</section>", 1)[0]
    assert body.index('<section id="verdict"') < body.index("<h2")  # before any section
    assert (
        '<div class="verdict failed"><p class="headline">medium: REGRESSED ×3.0 batch time'
        in verdict
    )
    assert f"N+1: <code>{PER_OFFICE}</code> went 1 → 100 calls" in verdict
    assert "statements 101 &gt; 5 (budget from <code>@perf_budget</code> in" in verdict
    assert '<div class="verdict passed"><p class="headline">small: passed</p>' in verdict


# -- the page: size, charts, sections ----------------------------------------------------------


def charts_of(page: str) -> dict[str, list[dict[str, Any]]]:
    found = re.search(r'<script type="application/json" id="perfkit-charts">(.*?)</script>', page)
    assert found is not None
    charts: dict[str, list[dict[str, Any]]] = json.loads(found.group(1))
    return charts


def test_the_page_is_offline_and_under_a_megabyte_or_small_from_the_cdn() -> None:
    report = data()
    page = render_html(report)
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"<script[^>]*\bsrc=", page)  # nothing loaded from elsewhere
    assert "uPlot" in page and len(page.encode()) < 1_000_000
    cdn = render_html(report, charts="cdn")
    (tag,) = re.findall(r"<script[^>]*\bsrc=[^>]*>", cdn)
    assert 'src="https://cdn.jsdelivr.net/npm/uplot@1.6.32/dist/uPlot.iife.min.js"' in tag
    assert 'integrity="sha384-' in tag and 'crossorigin="anonymous"' in tag
    assert len(cdn.encode()) < len(page.encode()) - 45_000
    sizes = f"{len(page.encode()):,} bytes inline, {len(cdn.encode()):,} with --charts cdn"
    print(f"\nHTML report: {sizes}")


def test_charts_go_by_run_with_commit_labels_scaled_units_and_log_axes() -> None:
    charts = charts_of(render_html(data()))
    by_id = {c["id"]: c for c in charts["metrics"]}
    batch = by_id["chart-batch_seconds"]
    assert batch["x"]["labels"] == ["01010101", "02020202", "03030303"]  # one per run
    assert (
        batch["x"]["hover"][0] == "01010101 · 2026-02-09 04:00 UTC · run 20260209T040000Z-00000001"
    )
    assert batch["unit"] == "ms"  # 2.6 ms .. 900 ms
    assert batch["log"] is True  # ×346 between small and medium
    kinds = [s["kind"] for s in batch["series"]]
    assert kinds.count("line") == 2 and "low" in kinds and "high" in kinds and "budget" in kinds
    small = next(s for s in batch["series"] if s["label"] == "small · deadline_alerts")
    assert small["values"][-1] == pytest.approx(2.6)
    assert by_id["chart-statements"]["log"] is True and by_id["chart-statements"]["unit"] == "count"
    memory = by_id["chart-peak_memory_mb"]
    assert memory["log"] is False and memory["unit"] == "MB"
    # per statement, across runs: calls, total time, buffers
    titles = [c["title"] for c in charts["statements"]]
    assert titles == [
        "medium · deadline_alerts: calls per statement",
        "medium · deadline_alerts: total time per statement",
        "medium · deadline_alerts: shared buffers per statement",
    ]
    calls = charts["statements"][0]["series"]
    assert [s["values"] for s in calls if PER_OFFICE.startswith(s["label"][:30])] == [[1, 1, 100]]


def test_time_units_and_log_axes_by_rule() -> None:
    assert report_charts.time_unit([0.0026, 0.9]) == ("ms", 1e-3)
    assert report_charts.time_unit([0.00026]) == ("µs", 1e-6)
    assert report_charts.time_unit([1.5]) == ("s", 1.0)
    assert report_charts.log_axis([1, 31]) and not report_charts.log_axis([1, 29])
    assert not report_charts.log_axis([0, 100])


def test_the_markdown_shows_the_regression_check_statements_and_history() -> None:
    md = render_markdown(data())
    assert "## Regression check" in md
    assert "❌ medium (deadline_alerts): 1 regression" in md or "❌ medium (deadline_alerts)" in md
    assert re.search(r"\| batch time \(median\) \| 305 ms \| 900 ms \| ×2\.95 \|", md)
    assert "## Where the time goes: medium (deadline_alerts)" in md
    assert "| share | calls | total | mean | rows | buffers | statement | slowest node |" in md
    assert "### Statements across runs: medium (deadline_alerts)" in md
    trend = next(line for line in md.splitlines() if line.startswith(f"| `{PER_OFFICE}`"))
    assert "| 1 → 100 |" in trend and "| 3 → 300 |" in trend  # calls, buffers
    assert "## History: small (last 3 runs, newest first)" in md
    rows = [line for line in md.splitlines() if line.startswith("| 2026-02-09")]
    assert rows[0].startswith("| 2026-02-09 06:00")  # newest first


def test_budgets_are_listed_with_their_sources() -> None:
    h = History.of(
        [
            run_record(
                1,
                budgets={"batch": 0.25, "statements": 1},
                metrics={"statements": 11},
                budget_sources={
                    "batch": "scales.yaml scales.small.budgets.batch",
                    "statements": "`@perf_budget` in test_batch_at_scale.py",
                },
                passed=False,
            )
        ]
    )
    md = render_markdown(data(h))
    assert (
        "- batch 50.0 ms <= 250 ms (budget from scales.yaml scales.small.budgets.batch): ok" in md
    )
    assert (
        "- statements 11 > 1 (budget from `@perf_budget` in test_batch_at_scale.py): OVER BUDGET"
    ) in md
    assert verdict_block(md)[0] == "❌ **small: no baseline yet; over budget: statements**"


def test_steps_in_the_history_are_listed_with_their_commit_range() -> None:
    runs = [run_record(n, batch=0.05 if n < 8 else 0.15,
                       samples={"batch_seconds": [0.05 if n < 8 else 0.15] * 3})
            for n in range(16)]  # fmt: skip
    md = render_markdown(data(History.of(runs), last=16))
    (step,) = [line for line in md.splitlines() if "batch_seconds" in line and "×3.00" in line]
    assert "between 0707070707 and 0808080808" in step and "50.0 ms → 150 ms" in step


#: A load run's latency at each of LADDER's percentiles, as multiples of its median.
LADDER_FACTORS = (0.2, 0.6, 1, 1.4, 2, 2.5, 3, 5, 7, 9)


def load_record(n: int, p50: float, *, workload: str = "dashboard") -> RunRecord:
    base = run_record(n, workload=workload)
    return dataclasses.replace(
        base,
        metrics={"latency_p50_seconds": p50, "latency_p90_seconds": p50 * 2,
                 "latency_p95_seconds": p50 * 2.5, "latency_p99_seconds": p50 * 3,
                 "latency_max_seconds": p50 * 9, "throughput": 90.0, "requests": 300,
                 "errors": 0, "error_rate": 0.0, "users": 4, "prepare_seconds": 1.0},
        samples={"latency_ladder_seconds": [p50 * f for f in LADDER_FACTORS]},
        budgets={"p95": 0.5, "errors": 0},
        budget_sources={"p95": "scales.yaml app.workloads.dashboard.budgets.small.p95"},
    )  # fmt: skip


def test_http_workloads_show_percentiles_throughput_and_an_hdr_plot() -> None:
    h = History.of([run_record(0), load_record(1, 0.010), run_record(2), load_record(3, 0.011)])
    report = data(h)
    md = render_markdown(report)
    assert "## HTTP load: latency percentiles and throughput" in md
    row = next(line for line in md.splitlines() if "| 4 users |" in line)
    assert "| 11.0 ms |" in row and "| 27.5 ms / 500 ms |" in row and "| 90/s |" in row
    # each workload has its own verdict line
    heads = verdict_block(md)
    assert any(h.startswith("✅ **small · deadline_alerts: passed") for h in heads)
    assert any(h.startswith("✅ **small · dashboard: passed") for h in heads)
    assert "- p95 27.5 ms <= 500 ms (budget from scales.yaml app.workloads.dashboard" in md
    (plot,) = charts_of(render_html(report))["percentiles"]
    assert plot["xnumeric"] and len(plot["x"]["values"]) == len(LADDER) == 10
    assert plot["x"]["labels"][-1] == "max" and plot["unit"] == "ms"
    assert [s["label"][:8] for s in plot["series"]] == ["01010101", "03030303"]  # one per run


def test_an_empty_history_renders_a_hint() -> None:
    empty = build_report(History.of([]))
    assert "No runs recorded yet" in render_markdown(empty)
    assert "No runs recorded yet" in render_html(empty)


# -- writing, flags, packaging -----------------------------------------------------------------


def test_output_paths(tmp_path: Path) -> None:
    assert report_paths(tmp_path, ("md", "html")) == {
        "md": tmp_path / "report.md",
        "html": tmp_path / "report.html",
    }
    assert report_paths(tmp_path, ("comment",)) == {"comment": tmp_path / "comment.md"}
    assert report_paths(tmp_path / "x.html", ("html",)) == {"html": tmp_path / "x.html"}
    assert report_paths(tmp_path / "c.md", ("comment",)) == {"comment": tmp_path / "c.md"}
    for bad in ((tmp_path / "x.md", ("md", "html")), (tmp_path / "x.md", ("html",))):
        with pytest.raises(ReportError) as caught:
            report_paths(*bad)
        assert caught.value.exit_code == 2


def test_write_report_writes_each_format(tmp_path: Path) -> None:
    written = write_report(data(), output=tmp_path / "out", formats=parse_formats("both"))
    assert [p.name for p in written] == ["report.md", "report.html"]
    assert all(p.stat().st_size > 0 for p in written)
    (comment,) = write_report(data(), output=tmp_path / "out", formats=("comment",))
    assert comment.read_text(encoding="utf-8").startswith(COMMENT_MARKER)


def test_flag_parsing() -> None:
    assert parse_formats("both") == ("md", "html")
    assert parse_formats("comment") == ("comment",)
    assert parse_charts("cdn") == "cdn"
    for bad in (lambda: parse_formats("pdf"), lambda: parse_charts("plotly"),
                lambda: build_report(History.of([]), last=0)):  # fmt: skip
        with pytest.raises(ReportError) as caught:
            bad()
        assert caught.value.exit_code == 2
    assert split_scales("small, medium") == ("small", "medium")
    assert split_scales(None) == ()


def test_the_templates_and_uplot_are_package_data() -> None:
    """Every file under perfkit/templates is matched by pyproject's package-data, so the
    wheel carries it (the report needs each one)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = project["tool"]["setuptools"]["package-data"]["perfkit"]
    folder = ROOT / "perfkit" / "templates"
    files = [p.relative_to(ROOT / "perfkit").as_posix() for p in folder.rglob("*") if p.is_file()]
    assert {"templates/report.html", "templates/vendor/uPlot.iife.min.js",
            "templates/vendor/uPlot.LICENSE"} <= set(files)  # fmt: skip
    unmatched = [f for f in files if not any(fnmatch.fnmatch(f, p) for p in patterns)]
    assert not unmatched


def test_a_markdown_template_cannot_print_free_text_unescaped() -> None:
    env = markdown_environment(jinja2.DictLoader({"t": "{{ name }}", "ok": "{{ name | md_text }}"}))
    with pytest.raises(TypeError, match="without md_text"):
        env.get_template("t").render(name="<script>")
    assert env.get_template("ok").render(name="<b>") == "\\<b>"
    assert isinstance(Md("x"), str)


# -- hostile text in the records: the Markdown and the comment carry none of it as markup -----

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(2)>"
#: Free text as a record can hold it: tags, links, emphasis, table pipes, backticks, newlines.
HOSTILE_TEXT = f"{SCRIPT} {IMG} [click](javascript:alert(3)) **b** | `c` &lt; a\nb _x_ <!-- -->"
#: A statement with backtick runs and pipes (a code span must be fenced around them).
HOSTILE_SQL = f"SELECT '{SCRIPT}' || `a``b` | {IMG} `"


def hostile_history() -> History:
    def hostile_entry(relation: str, calls: int) -> dict[str, Any]:
        shape = {"node": "Seq Scan", "relation": relation}
        return {"fingerprint": "f1", "statement": HOSTILE_SQL, "calls": calls, "total_ms": 1.0,
                "mean_ms": 1.0, "rows": calls, "shared_blks_hit": 100 * calls ** 2,
                "shared_blks_read": 0, "buffers_source": "pg_stat_statements",
                "plan": {"shape": shape, "shape_hash": relation[:8],
                         "slowest_node": f"Seq Scan on {relation}", "slowest_node_ms": 1.0,
                         "execution_ms": 1.0}}  # fmt: skip

    def record(n: int, relation: str, calls: int = 1, **kw: Any) -> Any:
        return run_record(
            n, scale=f"small{SCRIPT}", workload=HOSTILE_TEXT,
            profile=[hostile_entry(relation, calls)],
            machine={"hostname": IMG, "cpus": 2, "python": SCRIPT, "platform": HOSTILE_TEXT},
            server_version=IMG, backend=SCRIPT, commit=IMG, **kw,
        )  # fmt: skip

    return History.of(
        [record(1, "offices"), record(2, "offices"),
         record(3, f"offices{IMG}", calls=30, passed=False, failures=[HOSTILE_TEXT, SCRIPT],
                budgets={"batch": 2.0, "statements": 0.5},
                budget_sources={"statements": HOSTILE_TEXT})],
        source=Path(f"/tmp/{SCRIPT}|`x`/results.jsonl"),
    )  # fmt: skip


class _Elements(HTMLParser):
    """The element names an HTML text holds, and its text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [name for name, _value in attrs]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def hostile_report() -> Any:
    h = hostile_history()
    found = compare_history(h, baseline="median:5", rules=rules_from_config(RegressionConfig()))
    (comparison,) = found
    # every kind of line reaches the page: a plan change, an N+1, a budget, free failures
    assert comparison.plan_changes and comparison.statements
    return build_report(h, comparisons=found)


@pytest.mark.parametrize("render", [render_markdown, render_comment], ids=["report", "comment"])
def test_hostile_text_in_records_is_never_markup(render: Any) -> None:
    md = render(hostile_report())
    rendered = MarkdownIt("commonmark", {"html": True}).enable("table").render(md)
    elements = _Elements()
    elements.feed(rendered)
    allowed = {"h1", "h2", "h3", "p", "table", "thead", "tbody", "tr", "th", "td", "code", "ul",
               "li", "strong", "blockquote"}  # fmt: skip
    assert set(elements.tags) <= allowed, set(elements.tags) - allowed
    text = "".join(elements.text)
    for shown in (SCRIPT, IMG, "[click](javascript:alert(3))", "**b**", "_x_"):
        assert shown in text, shown  # shown as text, not dropped
    # the statement is one code span, whole, pipes and backticks included, in the table
    if render is render_markdown:
        assert f"<code>{html.escape(HOSTILE_SQL, quote=False)}</code>" in rendered
    # and the Markdown source has no tag outside code spans but the comment's marker
    outside = re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "", md.replace(COMMENT_MARKER, ""))
    assert not re.search(r"(?<!\\)<[A-Za-z/!?]", outside)


def test_hostile_text_in_records_is_escaped_in_the_html() -> None:
    page = render_html(hostile_report())
    elements = _Elements()
    elements.feed(page)
    assert elements.tags.count("script") == 3  # the charts' data, uPlot, the report's own
    assert "img" not in elements.tags
    assert not [a for a in elements.attributes if a.startswith("on")]  # no event handler
    assert "<script>alert(1)" not in page
    text = "".join(elements.text)
    assert SCRIPT in text and IMG in text  # shown as text


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


# -- invoke report: scales.yaml's rules reach the verdict ----------------------------------------


def test_report_command_judges_by_scales_yaml_rules_and_prints_the_comment(tmp_path: Path) -> None:
    from perfkit.config import load_config
    from perfkit.report import report_command
    from perfkit.results import append_record

    results = tmp_path / "results"
    config = tmp_path / "scales.yaml"
    config.write_text(
        "scales:\n  small: {offices: 10}\n"
        f"results:\n  directory: {results}\n"
        "regression:\n  plan_change: fail\n  buffers: {threshold: 0.5, min_blocks: 10}\n",
        encoding="utf-8",
    )
    cfg = load_config(config, env={})

    def run(n: int, scan: str, buffers: int) -> RunRecord:
        shape = {"node": scan, "relation": "support_plan_cycles"}
        plan = {"shape": shape, "shape_hash": scan[:8], "slowest_node": scan,
                "slowest_node_ms": 0.1, "execution_ms": 0.1}  # fmt: skip
        return run_record(n, profile=[{**entry("c", BATCH_SQL, calls=1, ms=1.0, buffers=buffers),
                                       "plan": plan}])  # fmt: skip

    append_record(results / "results.jsonl", run_record(-1, workload="once"))
    for n in range(3):
        append_record(results / "results.jsonl", run(n, "Index Scan", 40))
    append_record(results / "results.jsonl", run(3, "Seq Scan", 70))  # ×1.75, +30 blocks
    done = report_command(cfg, fmt="comment")
    assert done.markdown is not None and done.markdown.startswith(COMMENT_MARKER)
    (head,) = [line for line in verdict_block(render_markdown(done.data)) if "❌" in line]
    shown = "`WITH subscribers AS (SELECT staffs.office_id FROM staffs) S…`"  # cut at 60
    assert head == (
        f"❌ **small · deadline_alerts: REGRESSED ×1.75 buffers in {shown}; plan changed in "
        f"{shown}**"
    )
    assert "small · once: no baseline yet" in render_markdown(done.data)
    # a workload last measured before the report's window is not judged again
    recent = report_command(cfg, fmt="md", last=4).markdown
    assert recent is not None and "once" not in recent
    written = report_command(cfg, fmt="html", output=tmp_path / "r.html", charts="cdn")
    assert written.written == (tmp_path / "r.html",)
    assert "cdn.jsdelivr.net" in (tmp_path / "r.html").read_text(encoding="utf-8")


def test_a_compared_run_that_failed_its_budgets_or_checks_never_reads_as_passed() -> None:
    over = run_record(3, budgets={"batch": 0.04}, passed=False)  # 50 ms > 40 ms
    problem = run_record(3, passed=False, failures=["statement count varied between runs: [1, 2]"])
    for newest, headline, line in (
        (over, "❌ **small: FAILED, over budget: batch**", "- FAIL batch 50.0 ms > 40.0 ms: OVER"),
        (problem, "❌ **small: FAILED, the run failed**", "- FAIL statement count varied"),
    ):
        md = render_markdown(data(History.of([run_record(n) for n in range(3)] + [newest])))
        block = verdict_block(md)
        assert block[0] == headline and block[1].startswith(line), block
