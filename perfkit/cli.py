"""Plumbing shared by the front ends (``tasks.py``, ``noxfile.py``): load, run, report, exit.

Front ends stay thin: they parse arguments, call :func:`load` and one package function
inside :func:`guarded`, and print with :func:`console`. A :class:`~perfkit.errors.PerfkitError`
becomes one line on stderr and its exit status; Ctrl-C becomes status 130. No tracebacks,
unless ``PERFKIT_DEBUG=1``.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import os
import sys
from collections.abc import Coroutine, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

import asyncpg
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import DBAPIError

from perfkit.config import Config, load_config
from perfkit.errors import PerfkitError
from perfkit.urls import mask_text

T = TypeVar("T")


@functools.cache
def console() -> Console:
    """The terminal for messages and progress: stderr, so stdout stays clean for scripts."""
    term = Console(stderr=True, highlight=False)
    if term.is_terminal or "COLUMNS" in os.environ:
        return term
    # Logs and pipes: rich would assume 80 columns and cut table cells short.
    return Console(stderr=True, highlight=False, width=120)


def load(config: str | None = None, **flags: Any) -> Config:
    """Load the config with command-line flags on top (``database.port=5434`` style keys)."""
    return load_config(config, overrides={k: v for k, v in flags.items() if v is not None})


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine to completion (the front ends are synchronous)."""
    return asyncio.run(coro)


@contextmanager
def guarded(*secrets: str) -> Iterator[None]:
    """Turn perfkit errors and Ctrl-C into one masked line and an exit status."""
    try:
        yield
    except PerfkitError as exc:
        if os.environ.get("PERFKIT_DEBUG") == "1":
            raise
        console().print(
            f"[bold red]perfkit:[/] {mask_text(exc.one_line(), *secrets)}",
            markup=True,
            soft_wrap=True,
        )
        sys.exit(exc.exit_code)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, DBAPIError) as exc:
        # Unplanned failures from below: one line, never a traceback or a password.
        if os.environ.get("PERFKIT_DEBUG") == "1":
            raise
        message, hint, code = _explain(exc)
        console().print(
            f"[bold red]perfkit:[/] {mask_text(message, *secrets)} (hint: {hint})",
            markup=True,
            soft_wrap=True,
        )
        sys.exit(code)
    except KeyboardInterrupt:
        console().print("[bold red]perfkit:[/] interrupted", markup=True)
        sys.exit(130)


def _explain(exc: BaseException) -> tuple[str, str, int]:
    """(message, hint, exit status) for an error no perfkit layer turned into its own."""
    first_line = (str(exc).splitlines() or [""])[0]
    if (
        isinstance(exc, OSError)
        and not isinstance(exc, ConnectionError | TimeoutError)
        and (exc.filename is not None or exc.errno in (errno.ENOSPC, errno.EDQUOT))
    ):
        where = f": {exc.filename}" if exc.filename else ""
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return (
                f"no space left on the device{where} ({exc.strerror}); nothing half-written "
                "was kept",
                "free some space, or move snapshots and results to a larger disk "
                "(PERFKIT_SNAPSHOT_DIR, PERFKIT_RESULTS_DIR, PERFKIT_STATE_DIR)",
                1,
            )
        return (
            f"{exc.strerror or type(exc).__name__}{where}",
            "check the path and its permissions",
            1,
        )
    return (
        f"database error: {type(exc).__name__}: {first_line}",
        "`invoke db-status` shows whether the server is up",
        3,
    )


def print_table(title: str, rows: list[tuple[str, str]] | Mapping[str, str]) -> None:
    """A two-column table on the terminal."""
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows.items() if isinstance(rows, Mapping) else rows:
        table.add_row(key, value)
    console().print(table)
