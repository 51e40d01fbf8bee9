"""Values as people write and read them: days typed on the command line, byte sizes shown.

No terminal rendering here (that is :mod:`perfkit.views`), so library code can use it too.
"""

from __future__ import annotations

import datetime as dt

from perfkit.errors import ConfigError


class BadDateError(ConfigError):
    """A command-line date (``--anchor``, ``--as-of``) that is not ``YYYY-MM-DD``;
    ``key_path`` names the flag."""

    exit_code = 2


def parse_day(text: str, *, flag: str) -> dt.date:
    """``YYYY-MM-DD`` (or ``today``) given to ``flag``, as a date."""
    if text == "today":
        return dt.date.today()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise BadDateError(
            f"not a date: {text!r}",
            source="command line",
            key_path=flag,
            hint=f"use YYYY-MM-DD, e.g. {flag} 2026-03-01",
        ) from None


def human_bytes(n: int) -> str:
    """A byte count in B, KiB, MiB or GiB (one decimal above bytes)."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"  # pragma: no cover
