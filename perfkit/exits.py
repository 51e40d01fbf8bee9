"""What a front end does with a command's end: one line and an exit status, never a traceback.

Both front ends (the ``perfkit`` console script, :mod:`perfkit.console`; the invoke tasks,
:mod:`perfkit.invoke_tasks`) run a command inside :func:`guarded` and its coroutine with
:func:`run`. A :class:`~perfkit.errors.PerfkitError` becomes one line on stderr and its exit
status (2 for any bad input, flags included; 3 environment; 4 unsafe target; 5 busy; 6
regression; 1 other); Ctrl-C becomes one line and status 130, SIGTERM (a CI cancel, ``kill``)
one line and status 143, both after the running command's clean-up. Every line is masked
(:func:`perfkit.urls.mask_text`). No tracebacks, unless ``PERFKIT_DEBUG=1``.

Light on purpose: neither asyncpg nor SQLAlchemy is imported here, and asyncio only when a
command runs. A driver's error can only come from a driver already imported, so they are
recognised through ``sys.modules``.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import signal
import sys
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from perfkit.disks import HINT as DISK_HINT
from perfkit.disks import disk_full, is_disk_full
from perfkit.errors import PerfkitError
from perfkit.text import clipped
from perfkit.urls import mask_text

if TYPE_CHECKING:  # asyncio is imported by run(): `perfkit --help` needs no event loop
    import asyncio

T = TypeVar("T")

#: The exit status of a command ended by SIGTERM (128 + 15, what a shell reports for it).
SIGTERM_EXIT = 128 + signal.SIGTERM
#: The exit status of a command ended by Ctrl-C (128 + SIGINT).
SIGINT_EXIT = 128 + signal.SIGINT


def leave(status: int) -> NoReturn:
    """End the process with ``status``, the way a console script does after its command.

    When the process ran installed code only (Python's own modules, perfkit and the packages of
    its environment: no module of the application or its tests was imported) and no other
    thread is left that Python would wait for (a daemon thread, such as the one that reaps a
    background spare build, is not), the interpreter's tear-down is skipped: the exit handlers run
    (:mod:`atexit`: what a library registered to save or close), stdout and stderr are
    flushed, and the process ends at once (``os._exit``). Tearing down the ~300 modules a
    command imports takes about 20 ms, an eighth of ``perfkit db-status``; nothing of perfkit's
    needs it (files are closed where they are written, servers and children are stopped by the
    command). Any other process exits normally (``sys.exit``), so code perfkit does not know
    keeps every guarantee of a normal exit."""
    main = threading.main_thread()
    waited = [t for t in threading.enumerate() if t is not main and not t.daemon]
    if waited or not only_installed_code():  # Python would wait for those threads
        sys.exit(status)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):  # a closed pipe or stream
            stream.flush()
    os._exit(status)


def only_installed_code() -> bool:
    """Whether every imported module comes from Python itself, from the environment's
    packages (``sys.prefix``, ``sys.base_prefix``) or from perfkit: none was imported from
    an application's or a project's own folders."""
    import perfkit

    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, *perfkit.__path__}
    homes = tuple(f"{p.rstrip(os.sep)}{os.sep}" for r in roots for p in {r, os.path.realpath(r)})
    for module in list(sys.modules.values()):
        where = getattr(module, "__file__", None)
        places = [where] if where else list(getattr(module, "__path__", None) or ())
        if not all(isinstance(p, str) and p.startswith(homes) for p in places):
            return False  # a path spelled another way counts as foreign: a normal exit
    return True


def error_line(message: str) -> None:
    """``perfkit: <message>`` on stderr, as it is (no markup is read in it)."""
    print(f"perfkit: {message}", file=sys.stderr, flush=True)


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
    nobody awaits any more; they are not reported (:func:`_quiet_orphans`). Nor are asyncio's
    warnings about writing to a connection the server closed (``socket.send() raised
    exception.``, one per write): the command's own error says what happened, in one line.
    """
    import asyncio
    import logging

    logging.getLogger("asyncio").setLevel(logging.ERROR)
    with asyncio.Runner() as runner:
        debug = os.environ.get("PERFKIT_DEBUG") == "1"
        runner.get_loop().set_exception_handler(functools.partial(_quiet_orphans, debug=debug))
        return runner.run(_stopped_by_sigterm(coro))


async def _stopped_by_sigterm(coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro`` with SIGTERM cancelling it (as asyncio's runner does for Ctrl-C)."""
    import asyncio

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


def _driver_errors() -> tuple[type[BaseException], ...]:
    """The database drivers' own error types, of the drivers this process imported (an
    error of one that was never imported cannot happen)."""
    found: list[type[BaseException]] = []
    if "asyncpg" in sys.modules:
        from perfkit.db import statement_failures

        found += statement_failures()
    sa_exc = sys.modules.get("sqlalchemy.exc")
    if sa_exc is not None:
        found.append(sa_exc.DBAPIError)
    return tuple(found)


def _quiet_orphans(
    loop: asyncio.AbstractEventLoop, context: dict[str, Any], *, debug: bool
) -> None:
    """The event loop's exception handler: drop what asyncpg reports about a connection that
    is going away, report the rest.

    - "Future exception was never retrieved" for a lost connection: asyncpg's internal
      waiters, when a cancelled or failed command terminates its connections (the error
      that matters went up the awaited path);
    - a transport's "protocol.data_received() call failed" (with two tracebacks) for an
      asyncpg protocol: its connection is closed by it, and the call that was using the
      connection fails with its own error, which the command reports in one line.

    With ``debug`` (``PERFKIT_DEBUG=1`` when the command started) everything is reported. The
    handler reads no module state: it may run while the interpreter shuts down, when a
    future nobody awaited is collected."""
    if not debug:
        orphan = str(context.get("message", "")).endswith("exception was never retrieved")
        if orphan and _connection_lost(context.get("exception")):
            return
        if type(context.get("protocol")).__module__.startswith("asyncpg."):
            return
    loop.default_exception_handler(context)


#: asyncpg's classes of a connection going away: closed or lost (``InterfaceError``), refused or
#: ended (``PostgresConnectionError``: ``ConnectionDoesNotExistError``...), ended by the server
#: or a cancel (``OperatorInterventionError``: admin shutdown, query cancelled).
_LOST_CONNECTION_CLASSES = frozenset(
    {"InterfaceError", "PostgresConnectionError", "OperatorInterventionError"}
)


def _connection_lost(exc: object) -> bool:
    """A ``ConnectionError``, or one of asyncpg's errors of a connection going away, told by
    its classes' names, which still answer while ``sys.modules`` is emptied at shutdown."""
    return isinstance(exc, ConnectionError) or any(
        cls.__name__ in _LOST_CONNECTION_CLASSES and cls.__module__.startswith("asyncpg")
        for cls in type(exc).__mro__
    )


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
        error_line(mask_text(exc.one_line(), *secrets))
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        error_line("interrupted")
        sys.exit(SIGINT_EXIT)
    except Terminated as exc:
        error_line(mask_text(exc.one_line(), *secrets))
        sys.exit(SIGTERM_EXIT)
    except Exception as exc:
        if debug:
            raise
        if isinstance(exc, (OSError, *_driver_errors())):
            # Unplanned failures from below: one line, never a traceback or a password.
            message, hint, code = _explain(exc)
            error_line(f"{mask_text(message, *secrets)} (hint: {hint})")
            sys.exit(code)
        # a bug: still one line; PERFKIT_DEBUG=1 shows the traceback
        first = clipped((str(exc).splitlines() or [""])[0], limit=200)
        error_line(
            mask_text(f"internal error: {type(exc).__name__}: {first}", *secrets)
            + " (hint: a bug in perfkit or the application under test; run again with "
            "PERFKIT_DEBUG=1 for the traceback and report it)"
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
        "`perfkit db-status` shows whether the server is up",
        3,
    )
