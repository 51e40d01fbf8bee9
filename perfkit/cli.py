"""Plumbing shared by the front ends (``tasks.py``, ``noxfile.py``): load, run, report, exit.

Front ends stay thin: they declare tasks with :func:`task`, parse arguments (:func:`choice`,
:func:`whole_number`), call :func:`load` and one package function inside :func:`guarded`, and
print with :func:`say` / :func:`warn` / :func:`console`. A
:class:`~perfkit.errors.PerfkitError` becomes one line on stderr and its exit status (2 for
any bad input, flags included); Ctrl-C becomes one line and status 130, SIGTERM (a CI
cancel, ``kill``) one line and status 143, both after the running command's clean-up. No
tracebacks, unless ``PERFKIT_DEBUG=1``.

Text is printed as it is: the console reads no rich markup and no ``:emoji:`` codes in
strings, so a user's value (``--scale '[/x]'``) or a hint (``pip install 'perfkit[embedded]'``)
comes out literally. Styles come only from :class:`rich.text.Text` objects built on purpose.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import Any, TypeVar

import asyncpg
from invoke.tasks import Task
from invoke.tasks import task as invoke_task
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy.exc import DBAPIError

from perfkit.config import Config, load_config
from perfkit.disks import HINT as DISK_HINT
from perfkit.disks import disk_full, is_disk_full
from perfkit.errors import BadFlagError, NothingMatchedError, PerfkitError
from perfkit.text import clipped, quoted
from perfkit.typedconfig import MAX_INT
from perfkit.urls import mask_text

T = TypeVar("T")

#: How a printed piece of text looks: plain, or ``(text, rich style)``.
Part = str | tuple[str, str]


@functools.cache
def console() -> Console:
    """The terminal for messages and progress: stderr, so stdout stays clean for scripts.
    Strings print literally (no markup, no emoji codes); see the module docstring."""
    options: dict[str, Any] = {"stderr": True, "highlight": False, "markup": False, "emoji": False}
    term = Console(**options)
    if term.is_terminal or "COLUMNS" in os.environ:
        return term
    # Logs and pipes: rich would assume 80 columns and cut table cells short.
    return Console(**options, width=120)


def say(*parts: Part) -> None:
    """One message on the terminal: each part plain, or ``(text, style)``; never wrapped, and
    never read as markup."""
    console().print(Text.assemble(*parts), soft_wrap=True)


def warn(message: str) -> None:
    """``warning: <message>`` on the terminal."""
    say(("warning:", "yellow"), " ", message)


def _error_line(message: str) -> Text:
    return Text.assemble(("perfkit:", "bold red"), " ", message)


# -- tasks and their flags --------------------------------------------------------------------


class PerfkitTask(Task[Any]):
    """invoke's ``Task`` with every parameter a flag.

    invoke makes a parameter without a default *positional*, and a positional parameter takes
    the next word whatever it is: ``invoke seed --help`` ran seed with the scale ``--help``.
    Here such a parameter is a required flag (``--scale NAME``) instead, so ``--help`` after any
    task shows its help, and a missing one is one line and exit status 2 before the task's body
    runs (the body never sees ``None`` for a parameter its signature says is required).
    """

    def fill_implicit_positionals(self, positional: Any) -> Any:
        return [] if positional is None else positional

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        params = list(self.argspec(self.body).parameters.values())
        missing = [
            p.name
            for p in params
            if p.default is inspect.Parameter.empty and kwargs.get(p.name) is None
        ]
        if missing:
            flag = "--" + missing[0].replace("_", "-")
            with guarded():
                raise BadFlagError(
                    flag,
                    f"this flag is required by `invoke {self.name}`",
                    value="",
                    hint=f"`invoke {self.name} --help` lists its flags",
                )
        return super().__call__(*args, **kwargs)


def task(*args: Any, **kwargs: Any) -> Callable[..., Any]:
    """invoke's ``@task`` (the same arguments) making a :class:`PerfkitTask`."""
    kwargs.setdefault("klass", PerfkitTask)
    return invoke_task(*args, **kwargs)


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
    (invoke's own ``int`` flags end in a ``ValueError`` traceback on ``--last abc``)."""
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


def load(config: str | None = None, **flags: Any) -> Config:
    """Load the config with command-line flags on top (``database.port=5434`` style keys)."""
    return load_config(config, overrides={k: v for k, v in flags.items() if v is not None})


def none_found(
    cfg: Config, *, scale: str | None, snapshot_id: str | None = None, verb: str = "yet"
) -> str:
    """What ``invoke snapshots`` / ``verify`` say when no snapshot matched.

    A snapshot id, or a scale scales.yaml does not have, that matched nothing is a
    :class:`NothingMatchedError` (exit status 2: the command could do nothing it was asked);
    otherwise there is simply nothing there yet, and the sentence saying so is returned.
    """
    where = cfg.snapshots.directory
    if snapshot_id:
        of = f" of scale {quoted(scale)}" if scale else ""
        raise NothingMatchedError(
            f"no snapshot {quoted(snapshot_id)}{of} in {where}",
            what="snapshot",
            name=clipped(snapshot_id),
            hint="`invoke snapshots` lists the snapshots and their ids",
        )
    if scale and scale not in cfg.scales:
        raise NothingMatchedError(
            f"unknown scale {quoted(scale)}: scales.yaml has no such scale and {where} holds "
            "no snapshots of it",
            what="scale",
            name=clipped(scale),
            hint=f"valid scales: {', '.join(cfg.scale_names)}",
        )
    return f"no snapshots{f' of scale {scale}' if scale else ''} {verb} in {where}"


#: The exit status of a command ended by SIGTERM (128 + 15, what a shell reports for it).
SIGTERM_EXIT = 128 + signal.SIGTERM
#: The exit status of a command ended by Ctrl-C (128 + SIGINT).
SIGINT_EXIT = 128 + signal.SIGINT


class Terminated(BaseException):
    """SIGTERM arrived: the command stops as Ctrl-C stops it (its clean-up runs), and
    :func:`guarded` turns it into one line and exit status 143. A ``BaseException``, like
    ``KeyboardInterrupt``, so no ``except Exception`` on the way swallows it. ``detail``
    is what the stopped command had to say as it stopped (for example that a restore took
    effect)."""

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or "terminated")
        self.detail = detail

    def one_line(self) -> str:
        return f"terminated (SIGTERM): {self.detail}" if self.detail else "terminated (SIGTERM)"


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine to completion (the front ends are synchronous).

    Ctrl-C cancels it (asyncio's runner does; the coroutine's ``finally`` blocks close what
    they opened) and comes out as ``KeyboardInterrupt``, which :func:`guarded` turns into one
    line. SIGTERM does the same and comes out as :class:`Terminated`; a second one stops the
    clean-up too. Connections closed that way leave asyncpg futures whose connection error
    nobody awaits any more; they are not reported (:func:`_quiet_orphans`).
    """
    with asyncio.Runner() as runner:
        runner.get_loop().set_exception_handler(_quiet_orphans)
        return runner.run(_stopped_by_sigterm(coro))


async def _stopped_by_sigterm(coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro`` with SIGTERM cancelling it (as asyncio's runner does for Ctrl-C)."""
    if threading.current_thread() is not threading.main_thread():
        return await coro  # signals reach the main thread only
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    received = 0

    def on_sigterm(_signum: int, _frame: FrameType | None) -> None:
        nonlocal received
        received += 1
        if received > 1 or task is None or task.done():
            raise Terminated("stopped again during the clean-up")
        task.cancel()
        loop.call_soon_threadsafe(lambda: None)  # wake the loop if it sleeps

    previous = _on_sigterm(on_sigterm)
    try:
        return await coro
    except asyncio.CancelledError:
        if received:
            raise Terminated() from None
        raise
    except PerfkitError as exc:
        if received:  # what the stopped command said (a restore after its swap), exit 143
            raise Terminated(exc.one_line()) from None
        raise
    finally:
        _on_sigterm(previous)


def _on_sigterm(handler: Any) -> Any:
    """Make ``handler`` answer SIGTERM; returns the one it replaced (the default when that
    one was not set from Python)."""
    previous = signal.signal(signal.SIGTERM, handler)
    return signal.SIG_DFL if previous is None else previous


def _quiet_orphans(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The event loop's exception handler: drop what asyncpg reports about a connection that
    is going away, report the rest.

    - "Future exception was never retrieved" for a lost connection: asyncpg's internal
      waiters, when a cancelled or failed command terminates its connections (the error
      that matters went up the awaited path);
    - a transport's "protocol.data_received() call failed" (with two tracebacks) for an
      asyncpg protocol: its connection is closed by it, and the call that was using the
      connection fails with its own error, which the command reports in one line.

    With ``PERFKIT_DEBUG=1`` everything is reported."""
    if os.environ.get("PERFKIT_DEBUG") != "1":
        orphan = str(context.get("message", "")).endswith("exception was never retrieved")
        lost = isinstance(context.get("exception"), ConnectionError | asyncpg.InterfaceError)
        if orphan and lost:
            return
        if type(context.get("protocol")).__module__.startswith("asyncpg."):
            return
    loop.default_exception_handler(context)


def _raise_terminated(_signum: int, _frame: FrameType | None) -> None:
    raise Terminated()


@contextmanager
def guarded(*secrets: str) -> Iterator[None]:
    """Turn every error, Ctrl-C and SIGTERM into one masked line and an exit status.

    SIGTERM raises :class:`Terminated` where the command is (its ``finally`` blocks run);
    inside :func:`run` it cancels the running coroutine instead."""
    debug = os.environ.get("PERFKIT_DEBUG") == "1"
    main = threading.current_thread() is threading.main_thread()
    previous = _on_sigterm(_raise_terminated) if main else None
    try:
        yield
    except PerfkitError as exc:
        if debug:
            raise
        console().print(_error_line(mask_text(exc.one_line(), *secrets)), soft_wrap=True)
        sys.exit(exc.exit_code)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, DBAPIError) as exc:
        # Unplanned failures from below: one line, never a traceback or a password.
        if debug:
            raise
        message, hint, code = _explain(exc)
        console().print(
            _error_line(f"{mask_text(message, *secrets)} (hint: {hint})"), soft_wrap=True
        )
        sys.exit(code)
    except KeyboardInterrupt:
        console().print(_error_line("interrupted"), soft_wrap=True)
        sys.exit(SIGINT_EXIT)
    except Terminated as exc:
        console().print(_error_line(mask_text(exc.one_line(), *secrets)), soft_wrap=True)
        sys.exit(SIGTERM_EXIT)
    except Exception as exc:  # a bug: still one line; PERFKIT_DEBUG=1 shows the traceback
        if debug:
            raise
        first = clipped((str(exc).splitlines() or [""])[0], limit=200)
        console().print(
            _error_line(
                mask_text(f"internal error: {type(exc).__name__}: {first}", *secrets)
                + " (hint: a bug in perfkit or the application under test; run again with "
                "PERFKIT_DEBUG=1 for the traceback and report it)"
            ),
            soft_wrap=True,
        )
        sys.exit(1)
    finally:
        if previous is not None:
            _on_sigterm(previous)


def _explain(exc: BaseException) -> tuple[str, str, int]:
    """(message, hint, exit status) for an error no perfkit layer turned into its own."""
    first_line = (str(exc).splitlines() or [""])[0]
    if isinstance(exc, OSError) and is_disk_full(exc):
        if exc.filename is None:
            return f"no space left on a device ({exc.strerror})", DISK_HINT, 1
        return disk_full(exc.filename, kept=True).message, DISK_HINT, 1
    if (
        isinstance(exc, OSError)
        and not isinstance(exc, ConnectionError | TimeoutError)
        and exc.filename is not None
    ):
        return (
            f"{exc.strerror or type(exc).__name__}: {exc.filename}",
            "check the path and its permissions",
            1,
        )
    return (
        f"database error: {type(exc).__name__}: {first_line}",
        "`invoke db-status` shows whether the server is up",
        3,
    )


def print_table(title: str, rows: list[tuple[str, str]] | Mapping[str, str]) -> None:
    """A two-column table on the terminal (its text printed literally)."""
    table = Table(title=Text(title), show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows.items() if isinstance(rows, Mapping) else rows:
        table.add_row(Text(key), Text(value))
    console().print(table)
