"""Free text as Markdown that shows it literally: the filters of the Markdown templates.

Everything a run record holds (scale, workload and host names, statements, failures, plan
nodes) is free text: it may hold ``<script>``, a link, a table pipe, backticks or a newline.
In the Markdown report and the pull-request comment it goes through :func:`md_text` (escaped
text on one line) or :func:`md_code` (a code span on one line); both return :class:`Md`, and
the Markdown templates' environment (:func:`perfkit.report_render.markdown_environment`)
refuses to print a plain string, so a template cannot print free text unescaped by mistake.
"""

from __future__ import annotations

import re
from collections.abc import Sequence


class Md(str):
    """Text that is Markdown already: escaped free text, a code span, or perfkit's own
    markup. Only what this module returns is one."""

    __slots__ = ()


#: What could start markup (or raw HTML) inside a line of text: emphasis, code, links and
#: images, table cells, strike-through, heading closers; ``<`` before a tag or autolink; ``&``
#: before an entity; ``_`` that is not inside a word (inside one it never makes emphasis).
_MD_MARKUP = re.compile(
    r"[\\`*\[\]|~#]|<(?=[A-Za-z/!?])|&(?=[#A-Za-z0-9])|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])"
)
_LINE_BREAKS = str.maketrans({c: " " for c in "\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029"})
#: A code span: the statement parts of perfkit's own sentences (``N+1: `SELECT …` went``).
_CODE_SPAN = re.compile(r"(?<!`)`([^`]+)`(?!`)")


def md_text(text: object) -> Md:
    """Free text (a workload, host or scale name, a failure) as Markdown that shows it
    literally on one line: every character that could start markup or raw HTML is
    backslash-escaped (CommonMark allows that for any ASCII punctuation), so ``<script>``
    stays text, in a table cell as anywhere else; ``a <= b`` and ``batch_seconds`` stay as
    they are."""
    if isinstance(text, Md):
        return text
    return Md(_MD_MARKUP.sub(lambda m: "\\" + m.group(), str(text).translate(_LINE_BREAKS)))


def md_code(text: object, *, cell: bool = False) -> Md:
    """``text`` as a code span on one line: fenced by more backticks than any run inside it
    (padded with a space when it starts or ends with one, or with a backtick). In a table
    ``cell`` its ``|`` is escaped (GitHub and CommonMark tables unescape it before the span
    is read; elsewhere a backslash in a code span is shown as it is)."""
    text = str(text).translate(_LINE_BREAKS)
    if not text.strip():
        return md_text(text)
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    body = text.replace("|", "\\|") if cell else text
    return Md(f"{fence}{pad}{body}{pad}{fence}")


def md_sentence(text: object, *, cell: bool = False) -> Md:
    """One of perfkit's own sentences (``N+1: `SELECT …` went 1 → 100 calls``), whose
    backticked parts are statements: those become code spans (:func:`md_code`), the rest
    escaped text (:func:`md_text`). A statement holding a backtick is cut by the sentence's
    own backticks; it still shows, as text."""
    out: list[str] = []
    last = 0
    raw = str(text)
    for m in _CODE_SPAN.finditer(raw):
        out.append(md_text(raw[last : m.start()]))
        out.append(md_code(m.group(1), cell=cell))
        last = m.end()
    out.append(md_text(raw[last:]))
    return Md("".join(out))


def md_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], *, code: Sequence[int] = ()
) -> Md:
    """A GitHub table; every cell is free text (:func:`md_text`), the columns in ``code``
    code spans (:func:`md_code`)."""

    def cell(i: int, text: str) -> str:
        return md_code(text, cell=True) if i in code and text else md_text(text)

    lines = ["| " + " | ".join(md_text(h) for h in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(cell(i, c) for i, c in enumerate(row)) + " |" for row in rows]
    return Md("\n".join(lines))
