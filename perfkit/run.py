"""The run context: what one command works with, made once by the front end and handed down.

A :class:`Run` holds the config (:class:`~perfkit.config.Config`), the day the data is dated
for (:attr:`Run.today`: ``app.run_day``, or ``--as-of``), where its messages go (:meth:`Run.say`:
progress, a status line on a terminal; :meth:`Run.note` and :meth:`Run.warn`: what the user
must read, such as waiting for another command's lock, always on stderr), and, made on first
use and then kept for the rest of the command:

- :attr:`Run.env`: the database environment (:func:`perfkit.env.select_environment`);
- :attr:`Run.db`: the :class:`~perfkit.database.Database` handle of the test database (its
  server pinned where its first connection arrived, :mod:`perfkit.db`);
- :attr:`Run.app`: the application under test (:func:`perfkit.loading.load_application`),
  imported and its schema built only when a command first touches it;
- :attr:`Run.on_record`: the application as commands that never build its schema see it.

Steps take the run (or the handle and the application), never a URL or a config to look them
up again (alembic's ``EnvironmentContext`` plays this part there). :meth:`Run.on` is the same
run on another database of the server (a clone, a scratch database), sharing what was loaded.

Importing this module loads neither a database driver nor SQLAlchemy: ``perfkit db-status``
and ``perfkit --help`` stay fast.
"""

from __future__ import annotations

import copy
import datetime as dt
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from perfkit.config import Config

if TYPE_CHECKING:
    from perfkit.app import Application
    from perfkit.database import Database
    from perfkit.env import Environment
    from perfkit.loading import OnRecord

#: Where a run's messages go: ``progress`` (a status line on a terminal; nothing by default),
#: ``note`` (always shown: stderr by default).
Progress = Callable[[str], None]


def run_day(cfg: Config, *, today: dt.date | None = None) -> dt.date:
    """The day the data is dated for and the workloads' clock is pinned to (``app.run_day``):
    today, the latest weekday on or before it, or a fixed date."""
    day = today or dt.date.today()
    rule = cfg.app.run_day
    if rule == "today":
        return day
    if rule == "weekday":
        return day - dt.timedelta(days=max(0, day.weekday() - 4))
    return dt.date.fromisoformat(rule)


def _quiet(_message: str) -> None:
    """Progress nobody watches."""


def print_note(message: str) -> None:
    """``message`` on stderr: where a run's notes and warnings go unless told otherwise."""
    print(message, file=sys.stderr, flush=True)


class ApplicationNotNeededError(RuntimeError):
    """A command declared as never loading the application touched :attr:`Run.app` (a bug:
    listing, verifying and pruning must work without importing or building it)."""


class _Loaded:
    """What a run and the runs made from it with :meth:`Run.on` share once loaded."""

    def __init__(self, app: Application | None) -> None:
        self.app = app
        self.on_record: OnRecord | None = None
        self.env: Environment | None = None


class Run:
    """One command's context; see the module docstring.

    ``db`` and ``app`` may be given (tests, a plugin that already has them); otherwise they
    are made on first use. ``allow_app=False`` makes touching :attr:`app` an
    :class:`ApplicationNotNeededError`.
    """

    def __init__(
        self,
        cfg: Config,
        *,
        today: dt.date | None = None,
        progress: Progress | None = None,
        note: Progress | None = None,
        db: Database | str | None = None,
        app: Application | None = None,
        allow_app: bool = True,
    ) -> None:
        self.cfg = cfg
        self.today = today or run_day(cfg)
        self.progress: Progress = progress or _quiet
        self.notes: Progress = note or print_note
        self.allow_app = allow_app
        self._db = _handle(db) if db is not None else None
        self._loaded = _Loaded(app)

    def __repr__(self) -> str:
        return f"Run(config={str(self.cfg.source)!r}, today={self.today.isoformat()})"

    def say(self, message: str) -> None:
        """Report progress (one short line; a terminal shows it as a status line)."""
        self.progress(message)

    def note(self, message: str) -> None:
        """Tell the user something they must read, whether or not stderr is a terminal (such
        as waiting for another command's lock)."""
        self.notes(message)

    def warn(self, message: str) -> None:
        """``warning: <message>``, as a :meth:`note`."""
        self.notes(f"warning: {message}")

    @property
    def env(self) -> Environment:
        """The database environment scales.yaml (and the flags) ask for."""
        if self._loaded.env is None:
            from perfkit.env import select_environment

            self._loaded.env = select_environment(self.cfg)
        return self._loaded.env

    @property
    def db(self) -> Database:
        """The test database's handle (one per command: every step connects through it)."""
        if self._db is None:
            from perfkit.database import Database

            self._db = Database(self.env.url())
        return self._db

    @property
    def app(self) -> Application:
        """The application under test, loaded on first use (its schema built then)."""
        if self._loaded.app is None:
            if not self.allow_app:
                raise ApplicationNotNeededError(
                    "this command must not load the application under test"
                )
            from perfkit.loading import load_application

            self._loaded.app = load_application(self)
        return self._loaded.app

    @property
    def app_loaded(self) -> bool:
        """Whether :attr:`app` was loaded already (nothing is loaded to answer)."""
        return self._loaded.app is not None

    @property
    def on_record(self) -> OnRecord:
        """The application's recipe and its schema as last built, without building it
        (:func:`perfkit.loading.application_on_record`)."""
        if self._loaded.on_record is None:
            from perfkit.loading import application_on_record

            self._loaded.on_record = application_on_record(self)
        return self._loaded.on_record

    def on(self, target: Database | str) -> Run:
        """This run on another database of the same server (a clone, a scratch database):
        the same config, day, progress and application."""
        return self._derive(_db=_handle(target))

    def with_config(self, cfg: Config) -> Run:
        """This run (same database, day and application) under ``cfg``, another reading of the
        same project's config (a benchmark turning one setting off)."""
        return self._derive(cfg=cfg)

    def with_progress(self, progress: Progress) -> Run:
        """This run (same database and application) reporting progress to ``progress``."""
        return self._derive(progress=progress)

    def as_of(self, day: dt.date) -> Run:
        """This run (same database and application) with its data dated ``day``."""
        return self._derive(today=day)

    def _derive(self, **changes: object) -> Run:
        """A copy sharing what was loaded (the environment, the application), with
        ``changes`` to its own attributes."""
        other = copy.copy(self)
        other.__dict__.update(changes)
        return other


def _handle(target: Database | str) -> Database:
    from perfkit.database import Database

    return Database.of(target)
