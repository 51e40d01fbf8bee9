"""No module of perfkit over 500 lines without a line at its top saying why (issue 19)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "perfkit"
LIMIT = 500


def test_every_long_module_says_why_it_is_long() -> None:
    unexplained = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if text.count("\n") <= LIMIT:
            continue
        doc = ast.get_docstring(ast.parse(text)) or ""
        if "Over 500 lines:" not in doc:
            unexplained.append(str(path.relative_to(PACKAGE.parent)))
    assert unexplained == [], f"over {LIMIT} lines with no 'Over 500 lines: <why>' at the top"
