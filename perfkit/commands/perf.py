"""``perfkit perf --scale <name> [-- pytest args]``: the ``perf-<name>`` session's body, in one
process.

1. the database is brought up once and checked (as ``perfkit db-up``; a running server is
   reused) through the command's :class:`~perfkit.run.Run`;
2. pytest runs in this process (``pytest.main``) on the performance tests: the project's own
   (scales.yaml ``perf.tests``, default the config's folder) and perfkit's built-in ones
   (:mod:`perfkit.perf_tests`), every scale up to ``<name>`` (``PERF_TEST_SCALE``, the staging
   rule), each under its scale's ``timeout`` (:func:`perfkit.staging.perf_pytest_args`);
3. perfkit's pytest plugin is handed the run (:class:`HandedRun`): it
   reads no config again, loads the application once, and makes each scale's data ready once.

pytest finds its rootdir and configuration from the project's folders, so the project's own
pytest configuration governs its tests (perfkit's ``filterwarnings = error`` never reaches
them), and a warning raised while importing the application is reported, never fatal
(:mod:`perfkit.loading`). pytest's report goes to stdout as pytest prints it; the exit status is
pytest's verdict in perfkit's table (:meth:`PerfDone.failure`).

A synchronous command (the others are coroutines): pytest owns the main thread while it runs
(pytest-timeout's SIGALRM, pytest-asyncio's event loops, its own Ctrl-C handling).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from perfkit.errors import PerfkitError

if TYPE_CHECKING:
    from perfkit.config import Config
    from perfkit.env import ServerStatus
    from perfkit.run import Run

#: pytest's exit statuses (``pytest.ExitCode``), named here so that importing this module
#: does not import pytest.
_OK, _FAILED, _INTERRUPTED, _INTERNAL, _USAGE, _NO_TESTS = 0, 1, 2, 3, 4, 5


class PerfTestsFailedError(PerfkitError):
    """The performance tests did not pass (pytest's verdict ``pytest_status``): a test failed
    or went over budget, a test module failed to import, pytest was interrupted, or no
    performance test was collected (exit status 1); pytest refused its arguments (2)."""

    def __init__(self, scale: str, pytest_status: int) -> None:
        what, hint, code = _VERDICTS.get(
            pytest_status,
            (f"pytest ended with status {pytest_status}", "see pytest's report above", 1),
        )
        super().__init__(f"perf --scale {scale}: {what}", hint=hint)
        self.scale = scale
        self.pytest_status = pytest_status
        self.exit_code = code


_VERDICTS: dict[int, tuple[str, str, int]] = {
    _FAILED: (
        "performance tests failed",
        "pytest's report above names each failure and its budget",
        1,
    ),
    _INTERRUPTED: (
        "pytest stopped: errors while collecting the tests, or interrupted",
        "pytest's report above says which",
        1,
    ),
    _INTERNAL: ("pytest's internal error", "see pytest's report above", 1),
    _USAGE: (
        "pytest refused its arguments",
        "check the arguments after `--` (`pytest --help`)",
        2,
    ),
    _NO_TESTS: (
        "no performance test was collected",
        "scales.yaml perf.tests names the project's tests (default: the config's folder); "
        "a test is a performance test when it uses perf_scale or is marked performance",
        1,
    ),
}


class HandedRun:
    """What ``perfkit perf`` hands the pytest session it runs in process
    (``pytest.main(args, plugins=[HandedRun(run)])``): its :class:`~perfkit.run.Run` (the
    config, the test database's handle, the application once loaded), and whether the database
    is up and checked already. perfkit's fixtures (:mod:`perfkit.pytest_plugin`) then use that
    run instead of reading scales.yaml again, and make each scale's data ready once. (It lives
    here, not in the plugin: importing a pytest plugin before pytest starts stops pytest from
    rewriting its asserts.)"""

    def __init__(self, run: Run, *, database_ready: bool = True) -> None:
        self.run = run
        self.database_ready = database_ready


@dataclass(frozen=True)
class PerfDone:
    """What ``perfkit perf`` did: the scale, pytest's arguments and its exit status (pytest
    printed its own report already)."""

    scale: str
    pytest_args: tuple[str, ...]
    pytest_status: int

    def lines(self) -> list[str]:
        return []  # pytest's report, with its "performance" section, is the output

    def to_json(self) -> dict[str, Any]:
        """``scale``, ``pytest_args``, ``pytest_status``."""
        return {
            "scale": self.scale,
            "pytest_args": list(self.pytest_args),
            "pytest_status": self.pytest_status,
        }

    def failure(self) -> PerfkitError | None:
        """:class:`PerfTestsFailedError` unless every collected test passed (or skipped)."""
        if self.pytest_status == _OK:
            return None
        return PerfTestsFailedError(self.scale, self.pytest_status)


def perf(run: Run, *, scale: str, pytest_args: Sequence[str] = ()) -> PerfDone:
    """Run the performance tests up to ``scale`` in this process (the module docstring):
    the database up once, pytest with the run handed to perfkit's plugin, each scale's data
    made ready once. ``pytest_args`` go to pytest last (``perfkit perf --scale small -- -x``)."""
    import pytest

    from perfkit.exits import run as run_coroutine
    from perfkit.staging import perf_pytest_args, perf_session_env

    chosen = run.cfg.scale(scale)
    _check_test_paths(run.cfg)
    run.say("database: bringing it up")
    run_coroutine(ready_database(run))
    _ready_for_import(run)
    args = perf_pytest_args(run.cfg, chosen, pytest_args=pytest_args)
    with _environment(perf_session_env(chosen)):
        status = int(pytest.main(args, plugins=[HandedRun(run)]))
    return PerfDone(scale=chosen.name, pytest_args=tuple(args), pytest_status=status)


def _ready_for_import(run: Run) -> None:
    """What the application needs before a test module imports it at collection: its folder
    on ``sys.path``, its placeholder settings (``app.env``) and its database variables
    (``app.database_env``) pointing at the test database (:func:`perfkit.loading.
    prepare_import`), as perfkit sets them before it imports the application itself."""
    from perfkit.loading import prepare_import
    from perfkit.urls import with_driver

    cfg = run.cfg
    url = with_driver(str(run.db.url), cfg.app.driver) if cfg.app.database_env else ""
    prepare_import(cfg, database_url=url)


def _check_test_paths(cfg: Config) -> None:
    """Every path of ``perf.tests`` exists (before the database is touched)."""
    from perfkit.errors import ConfigError
    from perfkit.staging import perf_test_paths

    for path in perf_test_paths(cfg):
        if not path.exists():
            raise ConfigError(
                f"{path} does not exist",
                source=cfg.source.name,
                key_path="perf.tests",
                hint="name the project's performance tests, files or folders relative to "
                f"{cfg.source.name} (default: its folder)",
            )


async def ready_database(run: Run) -> ServerStatus:
    """Bring the run's server up (``perfkit db-up``: a running one is reused, an external one
    only checked) and check that its test database passes the safety rule for writing tables
    (perfkit created it, or a part of its name says test).

    Imports neither SQLAlchemy nor perfkit's measuring modules: ``perfkit perf`` calls it
    before pytest starts, and pytest rewrites the asserts of plugins (time-machine's) it
    imports itself."""
    from perfkit.commands.database import server_up
    from perfkit.safety import check_name, created_by_perfkit

    status = await server_up(run)
    db = run.db
    async with db.admin() as admin:
        created = await created_by_perfkit(admin.conn, db.name)
    check_name(db.name, run.cfg, created=created, destructive=False)
    return status


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """``values`` in ``os.environ`` for the block (the tests read ``PERF_TEST_SCALE``)."""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in before.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
