"""Values as people write and read them: days typed on the command line, byte sizes shown,
and user values quoted in messages (never more than :data:`QUOTE_LIMIT` characters of them).

No terminal rendering here (that is :mod:`perfkit.views`), so library code can use it too.
"""

from __future__ import annotations

import datetime as dt
import re
import reprlib
from collections.abc import Sequence
from typing import Any

from perfkit.errors import BadFlagError, ConfigError

#: The most characters of a user's value that a message quotes. A value from a file, a flag or
#: the environment can be any size (a YAML "billion laughs" alias expands to gigabytes), so
#: every message quotes user values through :func:`quoted`, never with a bare ``repr``.
QUOTE_LIMIT = 80
#: The range of days ``--anchor`` and ``--as-of`` accept: generated and shifted dates lie
#: within a few centuries of them, and must stay within what ``datetime.date`` can hold.
EARLIEST_DAY = dt.date(1900, 1, 1)
LATEST_DAY = dt.date(2999, 12, 31)
#: The largest integer any key or flag takes unless it says otherwise (PostgreSQL's
#: ``integer``): a count, a number of seconds or a pool size past it is a typo, not a wish.
MAX_INT = 2**31 - 1
#: Integers with more bits than this are described, not written out (Python refuses to turn
#: an integer of more than 4,300 digits into text, and nobody reads one).
_INT_BITS_SHOWN = 256


class _BoundedRepr(reprlib.Repr):
    """``reprlib`` with limits small enough that the work done is bounded too: containers are
    cut after a few items and a few levels, whatever their real size or depth."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxtuple = self.maxlist = self.maxarray = self.maxdict = 6
        self.maxset = self.maxfrozenset = self.maxdeque = 6
        self.maxstring = self.maxlong = self.maxother = limit + 2

    def repr_str(self, x: str, level: int) -> str:
        return repr(x[: self.maxstring])  # the caller cuts; never the middle of the text

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > _INT_BITS_SHOWN:
            return f"<an integer of about {x.bit_length() * 3 // 10:,} digits>"
        return super().repr_int(x, level)

    def repr_instance(self, x: Any, level: int) -> str:
        if isinstance(x, bytes | bytearray):
            x = x[: self.maxother]
        return super().repr_instance(x, level)


def quoted(value: object, *, limit: int = QUOTE_LIMIT) -> str:
    """``repr(value)`` for a message, at most ``limit`` characters (``…`` marks a cut).

    Made without ever building the whole representation, so a huge or deeply nested value
    costs no more than a small one.
    """
    text = _BoundedRepr(limit).repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clipped(text: str, *, limit: int = QUOTE_LIMIT) -> str:
    """``text`` itself, cut to ``limit`` characters (``…`` marks a cut): for names shown
    without quotes."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


class BadDateError(ConfigError):
    """A command-line date (``--anchor``, ``--as-of``) that is not ``YYYY-MM-DD``;
    ``key_path`` names the flag."""

    exit_code = 2


def join_key(path: str, key: str) -> str:
    """``path.key``, the key path errors name (a key that is empty, padded or unprintable is
    quoted)."""
    shown = key if key.isprintable() and key.strip() == key and key else quoted(key)
    return f"{path}.{shown}" if path else shown


def parse_day(text: str, *, flag: str) -> dt.date:
    """``YYYY-MM-DD`` (or ``today``) given to ``flag``, as a date from :data:`EARLIEST_DAY`
    to :data:`LATEST_DAY`."""
    if text == "today":
        return dt.date.today()
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise BadDateError(
            f"not a date: {quoted(text)}",
            source="command line",
            key_path=flag,
            hint=f"use YYYY-MM-DD, e.g. {flag} 2026-03-01",
        ) from None
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise BadDateError(
            f"{day.isoformat()} is out of range: dates are made and moved relative to it, "
            f"so it must lie from {EARLIEST_DAY} to {LATEST_DAY}",
            source="command line",
            key_path=flag,
            hint=f"use a day near today, e.g. {flag} today",
        )
    return day


def whole_number(
    value: str | int | None,
    *,
    flag: str,
    default: int | None = None,
    minimum: int = 1,
    maximum: int = MAX_INT,
) -> int | None:
    """``value`` of an integer flag (text from the command line), from ``minimum`` to
    ``maximum``; ``default`` when it was not given. Anything else is a :class:`BadFlagError`
    (exit status 2), never a traceback."""
    if value is None or value == "":
        return default
    text = str(value).strip()
    number = int(text) if re.fullmatch(r"[+-]?[0-9]{1,19}", text) else None
    if number is None or not minimum <= number <= maximum:
        expected = f"a whole number from {minimum:,}" + (
            f" to {maximum:,}" if maximum < MAX_INT else " up"
        )
        raise BadFlagError(
            flag, f"expected {expected}, got {quoted(value)}", value=clipped(str(value))
        )
    return number


def choice(value: str, *, flag: str, choices: Sequence[str]) -> str:
    """``value`` of ``flag`` when it is one of ``choices``; else a :class:`BadFlagError`."""
    if value in choices:
        return value
    raise BadFlagError(
        flag,
        f"expected {', '.join(choices[:-1])} or {choices[-1]}, got {quoted(value)}",
        value=clipped(str(value)),
        hint=f"use {flag} {choices[0]}",
    )


def human_bytes(n: int) -> str:
    """A byte count in B, KiB, MiB, GiB, TiB or PiB (one decimal above bytes)."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if size < 1024 or unit == "PiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} PiB"  # pragma: no cover


def human_seconds(seconds: float) -> str:
    """A duration in s, ms or µs with three significant digits: ``1.25 s``, ``2.60 ms``,
    ``870 µs``."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if abs(seconds) >= scale or unit == "µs":
            value = seconds / scale
            digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
            return f"{value:.{digits}f} {unit}"
    return f"{seconds:g} s"  # pragma: no cover
