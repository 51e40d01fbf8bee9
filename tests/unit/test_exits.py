"""The event loop's exception handler of a command: a lost connection's orphaned futures are
not reported, even while the interpreter shuts down; anything else is."""

from __future__ import annotations

import sys
from typing import Any

import asyncpg
import pytest

from perfkit.exits import _quiet_orphans


class Loop:
    """Records what would have been reported."""

    def __init__(self) -> None:
        self.reported: list[dict[str, Any]] = []

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        self.reported.append(context)


def orphan(exc: BaseException) -> dict[str, Any]:
    return {"message": "Future exception was never retrieved", "exception": exc}


LOST = asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation")


def handle(context: dict[str, Any], *, debug: bool = False) -> list[dict[str, Any]]:
    loop = Loop()
    _quiet_orphans(loop, context, debug=debug)  # type: ignore[arg-type]
    return loop.reported


@pytest.mark.parametrize(
    "exc",
    [
        LOST,
        asyncpg.InterfaceError("connection is closed"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        ConnectionResetError("reset"),
    ],
    ids=["does-not-exist", "closed", "admin-shutdown", "os"],
)
def test_an_orphaned_lost_connection_is_not_reported(exc: BaseException) -> None:
    assert handle(orphan(exc)) == []
    assert handle(orphan(exc), debug=True) == [orphan(exc)]


def test_it_stays_quiet_while_the_interpreter_empties_sys_modules(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At shutdown a collected future reaches the handler after ``asyncpg`` left
    ``sys.modules``: the class still tells a lost connection."""
    monkeypatch.delitem(sys.modules, "asyncpg")
    monkeypatch.delenv("PERFKIT_DEBUG", raising=False)
    assert handle(orphan(LOST)) == []


def test_anything_else_is_reported() -> None:
    other = orphan(ValueError("a bug"))
    assert handle(other) == [other]
    failed = {"message": "Unhandled error in a callback", "exception": LOST}
    assert handle(failed) == [failed]


def test_a_session_the_server_ended_is_a_database_error_for_every_command(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """asyncpg's InternalClientError after a fast shutdown (its protocol left consuming the
    server's last error) is the database's failure, exit status 3, not "a bug in perfkit"."""
    from perfkit.exits import guarded

    monkeypatch.delenv("PERFKIT_DEBUG", raising=False)
    with pytest.raises(SystemExit) as info, guarded():
        raise asyncpg.InternalClientError("cannot switch to state 21; another operation (2)")
    err = capsys.readouterr().err
    assert info.value.code == 3
    assert err.startswith("perfkit: database error: InternalClientError: cannot switch")
    assert "internal error" not in err and err.count("\n") == 1
