"""The performance report: Markdown, one HTML page, and a pull-request comment.

All three lead with the **verdict** per scale: ``medium: REGRESSED ×8.1 batch time; N+1 in
`SELECT …` (1 → 100 calls)`` or ``small: passed``, followed by every line ``perfkit compare``
prints (each metric that moved, each statement change: new, N+1, vanished, buffers, rows,
plan shape) and the budgets the newest run exceeded, each with where it was set. Then the
measurement table, HTTP load percentiles, each comparison, where the time goes (statements,
plans, their trend across runs), steps in the history and the runs themselves. The content is
gathered once (:mod:`perfkit.report_view`) and rendered by Jinja2 templates shipped in
``perfkit/templates``:

- ``report.html``: autoescaped, so nothing from a record becomes markup. Its charts
  (:mod:`perfkit.report_charts`) are drawn by uPlot (MIT, vendored in
  ``perfkit/templates/vendor``, ~50 KB): x by run, labelled by commit, units in s/ms/µs, log
  axes labelled by decades. ``charts="inline"`` (the default) embeds uPlot, so the page opens
  offline (a CI artifact, an e-mail attachment); ``charts="cdn"`` loads it from jsDelivr
  (pinned, with its subresource-integrity hash) for a smaller page. It reads at 390 px wide:
  tables and charts scroll inside their own box;
- ``report.md`` and ``comment.md``: Markdown with autoescape off, where every value printed
  must be :class:`perfkit.markdown.Md` (free text through ``md_text`` / ``md_code``;
  :func:`markdown_environment` refuses a plain string). The comment starts with the hidden
  marker :data:`COMMENT_MARKER`, by which the CI workflow finds and updates its one comment on
  a pull request.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from perfkit.compare import compare_history, rules_from_config, step_sizes
from perfkit.config import Config
from perfkit.history import history_for
from perfkit.markdown import Md, md_code, md_sentence, md_table, md_text
from perfkit.report_view import (
    TABLE_METRICS,
    TOP_STATEMENTS,
    ReportData,
    ReportError,
    ReportFlagError,
    ReportView,
    build_report,
    comparison_rows,
    report_view,
)
from perfkit.statement_changes import figure_rules_from_config
from perfkit.text import clipped, quoted

if TYPE_CHECKING:
    import jinja2

__all__ = [
    "COMMENT_MARKER",
    "TABLE_METRICS",
    "TOP_STATEMENTS",
    "ReportData",
    "ReportError",
    "ReportFlagError",
    "build_report",
    "comparison_rows",
    "md_code",
    "md_text",
    "render_comment",
    "render_html",
    "render_markdown",
    "report_command",
    "write_report",
]

Format = Literal["md", "html", "comment"]
Charts = Literal["inline", "cdn"]
FORMATS: dict[str, tuple[Format, ...]] = {
    "md": ("md",),
    "html": ("html",),
    "both": ("md", "html"),
    "comment": ("comment",),
}
FILE_NAMES: dict[Format, str] = {"md": "report.md", "html": "report.html", "comment": "comment.md"}
#: The first line of the pull-request comment: the CI workflow updates the comment holding it.
COMMENT_MARKER = "<!-- perfkit-report -->"
#: GitHub refuses a comment over 65,536 characters; the comment is cut well before.
COMMENT_LIMIT = 60_000
#: Lines under each verdict in the comment (the report lists them all).
COMMENT_LINES = 15
#: uPlot as vendored, and where ``--charts cdn`` loads the same file from.
UPLOT_VERSION = "1.6.32"
UPLOT_CDN = f"https://cdn.jsdelivr.net/npm/uplot@{UPLOT_VERSION}/dist/uPlot.iife.min.js"


def _template_text(name: str) -> str:
    return resources.files("perfkit").joinpath("templates", name).read_text(encoding="utf-8")


def _own_markup(name: str) -> Any:
    """A file of perfkit's templates folder (its CSS, its script, vendored uPlot), to be put
    in the page as it is: perfkit's own text, never a record's."""
    from markupsafe import Markup

    return Markup(_template_text(name))  # noqa: S704


@functools.cache
def _environment(kind: Literal["html", "md"]) -> jinja2.Environment:
    import jinja2

    loader = jinja2.PackageLoader("perfkit", "templates")
    if kind == "html":
        env = jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined)
        env.filters["sentence"] = html_sentence
        return env
    return markdown_environment(loader)


def markdown_environment(loader: jinja2.BaseLoader) -> jinja2.Environment:
    """The Markdown templates' environment: autoescape off, ``md_*`` filters, and a
    ``finalize`` that refuses to print a plain string (only :class:`Md` and numbers), so
    free text cannot reach the page without its filter."""
    import jinja2

    def only_markdown(value: object) -> object:
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if isinstance(value, Md) or number:
            return value
        raise TypeError(
            f"a Markdown template printed {quoted(value)} without md_text, md_code, md_sentence "
            "or md_table"
        )

    env = jinja2.Environment(
        loader=loader,
        # Markdown, not HTML: its escaping is the md_* filters', which finalize enforces
        autoescape=False,  # noqa: S701
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=only_markdown,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["md_text"] = md_text
    env.filters["md_code"] = md_code
    env.filters["md_sentence"] = md_sentence
    env.filters["md_table"] = lambda t: md_table(t.header, t.rows, code=t.code)
    return env


_CODE_SPAN = re.compile(r"(?<!`)`([^`]+)`(?!`)")


def html_sentence(text: object) -> Any:
    """One of perfkit's sentences as HTML: escaped, its backticked statements as ``<code>``."""
    from markupsafe import Markup, escape

    raw = str(text)
    out: list[str] = []
    last = 0
    for m in _CODE_SPAN.finditer(raw):
        out.append(str(escape(raw[last : m.start()])))
        out.append(f"<code>{escape(m.group(1))}</code>")
        last = m.end()
    out.append(str(escape(raw[last:])))
    return Markup("".join(out))  # noqa: S704 - every part escaped above


def _collapse_blank_lines(text: str) -> str:
    """At most one blank line in a row (Markdown reads them as one), ending in one newline."""
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def render_markdown(data: ReportData) -> str:
    """The report as GitHub-flavoured Markdown, leading with the verdict. Everything that
    comes from the records (scale, workload and host names, statements, failures, plans) is
    escaped or a code span: the page carries no raw HTML and no markup of theirs."""
    template = _environment("md").get_template("report.md")
    return _collapse_blank_lines(template.render(view=report_view(data), line_limit=10_000))


def render_comment(data: ReportData) -> str:
    """The pull-request comment: :data:`COMMENT_MARKER`, a heading naming the scales, the
    verdict per scale with its lines (the first :data:`COMMENT_LINES` of each), each
    comparison's table; at most :data:`COMMENT_LIMIT` characters (cut at a line, saying so).
    The CI workflow joins each scale job's comment under one marker."""
    template = _environment("md").get_template("comment.md")
    text = _collapse_blank_lines(
        template.render(
            view=report_view(data), scales=", ".join(data.scales), line_limit=COMMENT_LINES
        )
    )
    if len(text) <= COMMENT_LIMIT:
        return text
    cut = text[:COMMENT_LIMIT].rsplit("\n", 1)[0]
    return cut + "\n\n(cut here: the comment's limit; see the full report)\n"


@dataclass(frozen=True)
class CdnScript:
    url: str
    integrity: str


def _uplot_integrity() -> str:
    blob = resources.files("perfkit").joinpath("templates", "vendor", "uPlot.iife.min.js")
    digest = hashlib.sha384(blob.read_bytes()).digest()
    return "sha384-" + base64.b64encode(digest).decode("ascii")


def render_html(data: ReportData, *, charts: Charts = "inline") -> str:
    """The report as one HTML page: uPlot embedded (``charts="inline"``, opens offline) or
    loaded from jsDelivr (``"cdn"``); see the module docstring."""
    from perfkit.report_charts import all_charts

    view: ReportView = report_view(data)
    inline = charts == "inline"
    return (
        _environment("html")
        .get_template("report.html")
        .render(
            view=view,
            charts=all_charts(data) if not view.empty else {},
            css=_own_markup("report.css"),
            uplot_css=_own_markup("vendor/uPlot.min.css"),
            uplot_js=_own_markup("vendor/uPlot.iife.min.js") if inline else None,
            report_js=_own_markup("report.js"),
            cdn=CdnScript(UPLOT_CDN, _uplot_integrity()),
        )
    )


def render(data: ReportData, fmt: Format, *, charts: Charts = "inline") -> str:
    """``data`` in one format."""
    if fmt == "md":
        return render_markdown(data)
    if fmt == "comment":
        return render_comment(data)
    return render_html(data, charts=charts)


# --------------------------------------------------------------------------------------------
# writing


def report_paths(output: Path, formats: Sequence[Format]) -> dict[Format, Path]:
    """Where each format goes: ``output`` itself when it names a file of the only format
    (``report.html``, ``comment.md``), else ``report.md`` / ``report.html`` / ``comment.md``
    inside the folder ``output``."""
    suffix = output.suffix.lower()
    if suffix in {".md", ".html", ".htm"}:
        kinds: tuple[Format, ...] = ("md", "comment") if suffix == ".md" else ("html",)
        if len(formats) != 1 or formats[0] not in kinds:
            wanted = " and ".join(formats)
            raise ReportFlagError(
                "--output",
                f"{clipped(str(output))} names a {suffix} file, but the report is {wanted}",
                value=clipped(str(output)),
                hint="name a folder (report.md and report.html go inside it), "
                f"or pass --format {kinds[0]}",
            )
        return {formats[0]: output}
    return {fmt: output / FILE_NAMES[fmt] for fmt in formats}


def write_report(
    data: ReportData, *, output: Path, formats: Sequence[Format], charts: Charts = "inline"
) -> list[Path]:
    """Render ``formats`` and write them under ``output`` (see :func:`report_paths`)."""
    written: list[Path] = []
    for fmt, path in report_paths(output, formats).items():
        text = render(data, fmt, charts=charts)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ReportError(
                f"cannot write the report to {path}: {exc.strerror or exc}",
                hint="choose another --output",
            ) from None
        written.append(path)
    return written


# --------------------------------------------------------------------------------------------
# the `perfkit report` front end


@dataclass(frozen=True)
class ReportOutcome:
    """What ``perfkit report`` produced: text to print, and/or the files written."""

    markdown: str | None
    written: tuple[Path, ...]
    data: ReportData


def parse_formats(fmt: str) -> tuple[Format, ...]:
    """``md``, ``html``, ``both`` or ``comment``."""
    try:
        return FORMATS[fmt]
    except (KeyError, TypeError):
        raise ReportFlagError(
            "--format",
            f"unknown report format {quoted(fmt)}",
            value=clipped(str(fmt)),
            hint="use --format md, html, both or comment",
        ) from None


def parse_charts(charts: str) -> Charts:
    """``inline`` (uPlot embedded: the page opens offline) or ``cdn``."""
    if charts == "inline":
        return "inline"
    if charts == "cdn":
        return "cdn"
    raise ReportFlagError(
        "--charts",
        f"unknown chart mode {quoted(charts)}",
        value=clipped(str(charts)),
        hint="use --charts inline (offline) or cdn (a smaller page that loads uPlot)",
    )


def split_scales(text: str | None) -> tuple[str, ...]:
    """``"small,medium"`` (or spaces) -> ``("small", "medium")``."""
    return tuple(name for name in (text or "").replace(",", " ").split() if name)


def report_command(
    cfg: Config,
    *,
    fmt: str = "md",
    output: str | Path | None = None,
    scales: Sequence[str] = (),
    last: int = 20,
    baseline: str | None = None,
    charts: str = "inline",
) -> ReportOutcome:
    """What ``perfkit report`` does: read the history, compare each scale's newest run with
    ``baseline`` (default ``regression.baseline``) by scales.yaml's rules, and render.

    Markdown (or the comment) alone with no ``output`` is returned for printing on stdout;
    otherwise the files go to ``output`` (default ``<results dir>/report/``)."""
    formats = parse_formats(fmt)
    mode = parse_charts(charts)
    for name in scales:
        cfg.scale(name)
    history = history_for(cfg)
    comparisons = compare_history(
        history,
        baseline=baseline or cfg.regression.baseline,
        rules=rules_from_config(cfg.regression),
        scales=scales or history.scales(cfg.scale_names),
        per_workload=True,  # each workload's newest run of each scale
        repo=cfg.root,
        plan_change=cfg.regression.plan_change,
        figure_rules=figure_rules_from_config(cfg.regression),
    )
    # a workload last measured before the report's window is not judged again
    shown = {id(r) for scale in history.scales() for r in history.last(scale, max(last, 1))}
    comparisons = [c for c in comparisons if id(c.candidate) in shown]
    data = build_report(
        history,
        scale_order=cfg.scale_names,
        scales=scales,
        last=last,
        comparisons=comparisons,
        step_sizes=step_sizes(cfg.regression),
    )
    if output is None and len(formats) == 1 and formats[0] in ("md", "comment"):
        return ReportOutcome(markdown=render(data, formats[0]), written=(), data=data)
    target = Path(output) if output is not None else cfg.results_dir / "report"
    written = write_report(data, output=target, formats=formats, charts=mode)
    return ReportOutcome(markdown=None, written=tuple(written), data=data)
