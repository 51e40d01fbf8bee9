"""What the pytest plugin's fixtures do, apart from pytest's wiring (:mod:`perfkit.pytest_plugin`).

The plugin imports this module only when a test asks for one of its fixtures, so a test suite
that uses none of them never loads SQLAlchemy or asyncpg through perfkit, reads no scales.yaml
and reaches no database. Everything here goes through the one run path of
:mod:`perfkit.pipeline`: :func:`~perfkit.pipeline.prepare_data` makes a scale's data ready,
:func:`~perfkit.pipeline.measure_and_record` measures, checks the budgets and appends the
record, exactly as ``nox -s perf-<scale>`` does.

- :class:`PerfSession`: one pytest session's state: scales.yaml, the run id every record of the
  session shares, the database (brought up and checked once), the runs for the summary;
- :class:`Unavailable`: what a fixture gives instead of data that could not be made ready: the
  error's one line, which fails the test (the plugin's ``pytest_pyfunc_call``);
- :class:`Binding`: a test's data and the engines on it: sessions on the shared data connect as
  perfkit's reader role (:mod:`perfkit.reader`: SELECT only, so no statement can make them
  write), writable ones on a test's own clone (:func:`clone_of`);
- :func:`measure_call`: a measurement on the shared data first checks that the data is still
  what was prepared and loaded (a change fails the test, naming the tests that ran since the
  last check, and the data is restored); a ``perf_clone`` test's runs each get a fresh copy of
  its clone as it was when ``perf_measure`` was called (:mod:`perfkit.fresh`);
- :func:`budgets_for`: a measurement's budgets from the ``perf_budget`` marker, else scales.yaml
  by name (``app.workloads.<name>.budgets``), else the scale's.

(Over 500 lines: the session's state, the bindings and measuring in a test hand each other the
same few types, and pytest's wiring stays apart in :mod:`perfkit.pytest_plugin`.)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any, NoReturn, Protocol, TypeVar

import asyncpg
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from perfkit.budget import marker_source
from perfkit.commands.perf import ready_database
from perfkit.config import Config, Scale, WorkloadBudgets, load_config
from perfkit.database import Database
from perfkit.datagen import read_dataset_info
from perfkit.db import create_session_factory, open_engine
from perfkit.errors import PerfkitError
from perfkit.fresh import copies_of
from perfkit.guard import DatasetChangedError, WorkloadWroteError, close_idle
from perfkit.measure import Stopwatch
from perfkit.pipeline import (
    WORKLOAD_BUDGET_CHECKS,
    Preparation,
    PreparedData,
    ScaleRun,
    Timed,
    measure_and_record,
    prepare_data,
    workload_budget_sources,
    workload_timed,
)
from perfkit.prepare import PrepareReport
from perfkit.reader import ensure_reader
from perfkit.results import new_run_id
from perfkit.run import Run
from perfkit.snapshot.errors import SnapshotError
from perfkit.snapshot.prepare import cloned_database
from perfkit.text import quoted
from perfkit.urls import SecretUrl, mask_url
from perfkit.workload import WorkloadContext

T = TypeVar("T")

#: ``perf_data``'s type, for a test's annotations.
PerfData = PreparedData
#: ``perf_measure``'s type: ``run = await perf_measure(fn, *, name=None, label=None)``.
PerfMeasure = Callable[..., Awaitable[ScaleRun]]

#: Where the preparation's progress goes (``pytest --log-level=INFO`` shows it).
log = logging.getLogger("perfkit.pytest")

#: Errors from making the data ready that are the environment's, not a bug: one line each.
_DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, sa_exc.DBAPIError, OSError)
ENVIRONMENT_ERRORS: tuple[type[BaseException], ...] = (PerfkitError, *_DRIVER_ERRORS)

#: SQLSTATE of a write in a read-only transaction, and of a write the role may not make.
READ_ONLY_SQL_TRANSACTION = "25006"
INSUFFICIENT_PRIVILEGE = "42501"


class MarkerError(PerfkitError):
    """A ``perf_budget`` marker with an argument it does not take, or a value out of range;
    ``argument`` names it."""

    exit_code = 2

    def __init__(self, message: str, *, argument: str) -> None:
        super().__init__(
            f"@pytest.mark.perf_budget: {message}",
            hint="e.g. @pytest.mark.perf_budget(seconds=0.5, statements=5), or per scale: "
            "seconds={'small': 0.25, 'medium': 0.5}",
        )
        self.argument = argument


class SharedDataChangedError(PerfkitError):
    """The shared data was changed since it was last checked: the measuring test fails, naming
    the tests that ran since (the writer is one of them, or this test before measuring)."""

    def __init__(self, scale: str, what: str, *, writers: list[str]) -> None:
        by = (
            f"by one of the tests run since the last check ({', '.join(writers)}) or by this test"
            if writers
            else "by this test"
        )
        super().__init__(
            f"the shared {scale} data was changed before this measurement ({by}, or a session "
            f"still open): {what}; it was restored, and nothing was measured",
            hint="a test that writes asks for a clone of its own: @pytest.mark.perf_clone; "
            "perf_session on the shared data cannot write, the application's own engine can",
        )
        self.scale = scale
        self.what = what
        self.writers = tuple(writers)


class ReadOnlyDataError(PerfkitError):
    """A test wrote to the scale's shared data, which every test of the scale reads."""

    def __init__(self, scale: str) -> None:
        super().__init__(
            f"the test wrote to the shared {scale} data, which is read-only",
            hint="a test that writes asks for its own clone: @pytest.mark.perf_clone",
        )
        self.scale = scale


def failure_line(exc: BaseException) -> str:
    """perfkit's one line for ``exc``: its message and hint, with every password masked."""
    if isinstance(exc, PerfkitError):
        text = exc.one_line()
    else:
        first = (str(exc).strip().splitlines() or [""])[0]
        text = (
            f"database error: {type(exc).__name__}: {first} "
            "(hint: `perfkit db-status` shows whether the server is up)"
        )
    return "perfkit: " + mask_url(text)


@dataclasses.dataclass(frozen=True)
class Unavailable:
    """A fixture's value when the data could not be made ready: ``message`` is perfkit's one
    line for why. The test fails with it before its body runs; a fixture of the test's own
    that touches the value fails with it at once."""

    message: str

    def fail(self) -> NoReturn:
        """Fail the current test (or fixture) with the message, no traceback."""
        import pytest

        pytest.fail(self.message, pytrace=False)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # introspection (copy, pickle, repr helpers) sees nothing
            raise AttributeError(name)
        self.fail()

    def __call__(self, *args: object, **kwargs: object) -> NoReturn:
        self.fail()


def run_in_thread(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on an event loop of its own, in a worker thread: the session's
    data is made ready once, whatever event loop (if any) the tests run on, and nothing it
    opens outlives it."""
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="perfkit") as pool:
        return pool.submit(asyncio.run, coro).result()


class Summarised(Protocol):
    """A run the session's summary shows: a :class:`ScaleRun` or a load run."""

    def summary_lines(self) -> list[str]: ...


class PerfSession:
    """One pytest session's perfkit state; nothing is read or reached before it is needed."""

    def __init__(self, config_path: Path) -> None:
        self.config_path = config_path
        self.run_id = new_run_id()
        #: Every measurement of the session (a :class:`ScaleRun`, or a load run), for the
        #: summary at the end.
        self.runs: list[Summarised] = []
        self._cfg: Config | None = None
        self._run: Run | None = None
        self._database: bool | Unavailable | None = None
        #: perfkit's reader role on the test database (None: not available, see
        #: :mod:`perfkit.reader`), set when the data is made ready.
        self.reader: SecretUrl | None = None
        #: Tests that ran since the shared data was last found unchanged, in order.
        self.since_check: list[str] = []

    @classmethod
    def on_run(cls, run: Run, *, database_ready: bool) -> PerfSession:
        """The state of a session that ``perfkit perf`` runs in process: its run (config,
        database handle, application) and, with ``database_ready``, its database already up
        and checked."""
        state = cls(run.cfg.source)
        state._cfg = run.cfg
        state._run = run.with_progress(log.info)
        if database_ready:
            state._database = True
        return state

    @property
    def cfg(self) -> Config:
        """scales.yaml (with the environment's overrides), read on first use."""
        if self._cfg is None:
            self._cfg = load_config(self.config_path)
        return self._cfg

    @property
    def run(self) -> Run:
        """The session's run context: scales.yaml, the test database's handle, the
        application (loaded once for the whole session); progress to the ``perfkit.pytest``
        log."""
        if self._run is None:
            self._run = Run(self.cfg, progress=log.info)
        return self._run

    def dataset(self, scale: str) -> PreparedData | Unavailable:
        """``scale``'s data made ready by the cheapest route (the database brought up and
        checked first, once per session), or why it could not be."""
        if self._database is None:
            try:
                run_in_thread(ready_database(self.run))
                self._database = True
            except ENVIRONMENT_ERRORS as exc:
                self._database = Unavailable(failure_line(exc))
        if isinstance(self._database, Unavailable):
            return self._database
        try:
            data = run_in_thread(prepare_data(self.run, self.cfg.scale(scale)))
            self.reader = run_in_thread(ensure_reader(self.run.db))
        except ENVIRONMENT_ERRORS as exc:
            return Unavailable(failure_line(exc))
        self.since_check.clear()  # prepare found it unchanged, or made it so
        return data

    def ran(self, nodeid: str) -> None:
        """A test finished (the plugin's ``pytest_runtest_teardown``)."""
        self.since_check.append(nodeid)

    async def restored(self, data: PreparedData) -> None:
        """The shared data was restored: the reader's grants again, and a clean slate."""
        self.reader = await ensure_reader(Database(data.url))
        self.since_check.clear()


@asynccontextmanager
async def clone_of(run: Run, shared: PreparedData) -> AsyncIterator[PreparedData]:
    """A fresh clone of ``shared``'s data (the scale's template), for one test that writes;
    dropped on exit. Its preparation is listed after the shared data's."""
    sw = Stopwatch()
    async with cloned_database(run.on(shared.url), shared.scale) as clone:
        seconds = sw.stop()
        async with clone.connect() as conn:
            info = await read_dataset_info(conn, order=run.app.tables)
        if info is None:  # pragma: no cover - a template always holds a dataset
            raise SnapshotError(f"the clone {clone.name!r} holds no dataset")
        report = PrepareReport(
            scale=shared.scale.name,
            how="template",
            seconds=seconds,
            info=info,
            database=clone.name,
            reason="a test that writes gets a clone of its own",
            restore_seconds=seconds,
        )
        yield dataclasses.replace(
            shared,
            url=SecretUrl(clone.url),
            info=info,
            preparations=(*shared.preparations, Preparation(source="clone", report=report)),
            cloned=True,
        )


@dataclasses.dataclass(frozen=True)
class Binding:
    """A test's data and the engines on it (the application's driver, scales.yaml's pool):
    ``engine`` as the URL's user (workloads, a clone's sessions), ``reader`` as perfkit's
    reader role for sessions on the shared data (None on a clone, or when the role is not
    available)."""

    run: Run
    data: PreparedData
    engine: AsyncEngine
    reader: AsyncEngine | None = None
    #: The sessions :meth:`session` gave out, closed by :meth:`release`.
    sessions: list[AsyncSession] = dataclasses.field(default_factory=list)

    @property
    def cfg(self) -> Config:
        """scales.yaml, as the session's run read it."""
        return self.run.cfg

    def session(self) -> AsyncSession:
        """A session on the data: read-only on the shared data (as the reader role, whose
        privileges are SELECT only; every transaction READ ONLY too), writable on a clone."""
        engine = self.engine
        if not self.data.cloned:
            engine = (self.reader or engine).execution_options(postgresql_readonly=True)
        session = create_session_factory(engine, self.cfg.pool)()
        self.sessions.append(session)
        return session

    async def release(self) -> None:
        """Close the sessions given out (they stay usable: the next statement connects again)
        and the idle connections of the engines: before a clone is copied or renewed."""
        for session in self.sessions:
            await session.close()
        await close_idle(self.engine)
        if self.reader is not None:
            await close_idle(self.reader)

    def workload(self, name: str | None = None) -> Timed:
        """The application's workload ``name`` (default: ``app.default_workload``) on this
        data, as ``nox -s perf-<scale>`` runs it (its sessions are its own, rolled back)."""
        app = self.run.app
        spec = app.workload(name)
        ctx = WorkloadContext(
            session_factory=create_session_factory(self.engine, self.cfg.pool),
            today=self.data.anchor_date,
        )
        return workload_timed(
            app, spec, ctx, scale=self.data.scale.name, config_file=self.cfg.source.name
        )


@asynccontextmanager
async def bind(
    run: Run, data: PreparedData, *, reader: str | None = None
) -> AsyncIterator[Binding]:
    """A :class:`Binding` for ``data`` (``reader``: the reader role's URL, used on the shared
    data); its engines are disposed of on exit. Statements sent through the reader's engine
    reach the listeners of ``engine`` too, so ``perf_measure`` counts and profiles them."""
    cfg = run.cfg
    driver = run.app.driver
    engine = await open_engine(data.url, cfg.pool, driver=driver)
    reader_engine = None
    if reader is not None and not data.cloned:
        reader_engine = await open_engine(reader, cfg.pool, driver=driver)
        forward_statements(reader_engine, engine)
    try:
        yield Binding(run=run, data=data, engine=engine, reader=reader_engine)
    finally:
        if reader_engine is not None:
            await reader_engine.dispose()
        await engine.dispose()


def forward_statements(source: AsyncEngine, target: AsyncEngine) -> None:
    """Call ``target``'s ``before/after_cursor_execute`` listeners (statement counters and
    profilers) for every statement ``source`` sends too."""
    listeners = target.sync_engine.dispatch

    def before(*args: Any) -> None:
        for fn in listeners.before_cursor_execute:
            fn(*args)

    def after(*args: Any) -> None:
        for fn in listeners.after_cursor_execute:
            fn(*args)

    event.listen(source.sync_engine, "before_cursor_execute", before)
    event.listen(source.sync_engine, "after_cursor_execute", after)


# --------------------------------------------------------------------------------------------
# measuring in a test


def _doc_line(obj: object) -> str | None:
    doc = (inspect.getdoc(obj) or "").strip() if obj is not None else ""
    return doc.splitlines()[0].strip() if doc else None


def label_for(fn: object, *, test: object, name: str) -> str:
    """The summary's title: the test's docstring, else the measured function's (a named
    function, not a lambda), else the name."""
    own = fn if inspect.isfunction(fn) and fn.__name__ != "<lambda>" else None
    return _doc_line(test) or _doc_line(own) or name


def _budget_value(value: object, *, key: str, scale: Scale, whole: bool) -> float | int | None:
    """One ``perf_budget`` argument at ``scale``: a number, or ``{scale name: number}``."""
    if isinstance(value, Mapping):  # other scales' keys are ignored: scales.yaml may differ
        value = value.get(scale.name)
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (whole and not isinstance(value, int))
        or value <= 0
    ):
        expected = "a positive whole number" if whole else "a positive number of seconds"
        raise MarkerError(f"{key} must be {expected}, got {quoted(value)}", argument=key)
    return value


def marker_budgets(
    args: tuple[object, ...], kwargs: Mapping[str, object], *, scale: Scale
) -> WorkloadBudgets:
    """The ``perf_budget(seconds=..., statements=...)`` marker's budgets at ``scale``."""
    if args:
        raise MarkerError("takes keyword arguments only", argument=repr(args[0]))
    unknown = sorted(set(kwargs) - {"seconds", "statements"})
    if unknown:
        raise MarkerError(
            f"unknown argument {quoted(unknown[0])}; it takes seconds and statements",
            argument=unknown[0],
        )
    seconds = _budget_value(kwargs.get("seconds"), key="seconds", scale=scale, whole=False)
    statements = _budget_value(kwargs.get("statements"), key="statements", scale=scale, whole=True)
    return WorkloadBudgets(
        seconds=None if seconds is None else float(seconds),
        statements=None if statements is None else int(statements),
    )


def budgets_for(
    cfg: Config, scale: Scale, name: str, marker: WorkloadBudgets | None
) -> WorkloadBudgets | None:
    """A measurement's own budgets: the marker's, else scales.yaml's
    ``app.workloads.<name>.budgets.<scale>``; a key neither sets is the scale's (the pipeline
    falls back to ``scales.<scale>.budgets``)."""
    settings = cfg.app.call_workloads.get(name)
    own = settings.budgets.get(scale.name) if settings else None
    if marker is None:
        return own
    if own is None:
        return marker
    return WorkloadBudgets(
        seconds=marker.seconds if marker.seconds is not None else own.seconds,
        statements=marker.statements if marker.statements is not None else own.statements,
    )


def budget_sources_for(
    cfg: Config,
    scale: Scale,
    name: str,
    marker: WorkloadBudgets | None,
    *,
    test_file: str,
) -> dict[str, str]:
    """Where each of :func:`budgets_for`'s budgets came from, by check name: the marker's
    ``@perf_budget`` in ``test_file``, else scales.yaml's ``app.workloads.<name>.budgets``
    (a budget neither sets is the scale's, named by the pipeline)."""
    settings = cfg.app.call_workloads.get(name)
    sources = workload_budget_sources(
        settings.budgets.get(scale.name) if settings else None,
        config_file=cfg.source.name,
        workload=name,
        scale=scale.name,
    )
    if marker is not None:
        for key, check in WORKLOAD_BUDGET_CHECKS.items():
            if getattr(marker, key) is not None:
                sources[check] = marker_source(test_file)
    return sources


def timed_for(
    cfg: Config,
    scale: Scale,
    fn: Callable[[], Awaitable[object]] | Timed,
    *,
    name: str | None,
    label: str | None,
    test_name: str,
    test: object,
    marker: WorkloadBudgets | None,
    test_file: str = "the test",
) -> Timed:
    """What :func:`measure_and_record` measures for a test: ``fn`` with its name (``name``,
    else the test's without ``test_``: ``test_deadline_alerts`` -> ``deadline_alerts``), its
    label (``label``, else :func:`label_for`)
    and its budgets (:func:`budgets_for`, their sources from :func:`budget_sources_for`, the
    marker's named by ``test_file``); a name scales.yaml declares as writing
    (``app.workloads.<name>.writes``) writes. A workload from ``perf_workload`` keeps its own
    name and label unless ``name`` or ``label`` is given."""
    if isinstance(fn, Timed):
        called = name or fn.name
        return dataclasses.replace(
            fn,
            name=called,
            label=label or fn.label,
            budgets=budgets_for(cfg, scale, called, marker),
            budget_sources=budget_sources_for(cfg, scale, called, marker, test_file=test_file),
        )
    called = name or test_name.removeprefix("test_") or test_name
    settings = cfg.app.call_workloads.get(called)
    return Timed(
        fn=fn,
        name=called,
        label=label or label_for(fn, test=test, name=called),
        budgets=budgets_for(cfg, scale, called, marker),
        expect_work=settings.expect_work if settings else True,
        writes=settings.writes if settings else False,
        budget_sources=budget_sources_for(cfg, scale, called, marker, test_file=test_file),
    )


async def measure_call(state: PerfSession, binding: Binding, timed: Timed) -> ScaleRun:
    """Measure ``timed`` on the test's data the way ``nox -s perf-<scale>`` does, check the
    budgets and append the record (under the session's run id); the run is kept for the
    summary.

    On the shared data the data is checked first and after (:func:`~perfkit.guard.
    shared_data_guard`): changed since the last check, it is restored and the test fails with
    :class:`SharedDataChangedError`, naming the tests run since; a write to it is a
    :class:`ReadOnlyDataError`. On a ``perf_clone`` test's clone, each run gets a fresh copy of
    the clone as it is now (the sessions given out are closed between runs); a variant's clone
    (``perf_variant``) is measured as it is, unless the workload is declared as writing."""
    data = binding.data
    # a perf_clone test's clone: a fresh copy per run (a variant's clone only for a workload
    # declared as writing; it is measured as it is otherwise)
    per_run = data.cloned and (data.variant is None or timed.writes)
    try:
        async with (
            copies_of(Database(data.url), scale=data.scale.name, release=binding.release)
            if per_run
            else nullcontext()
        ) as copies:
            run = await measure_and_record(
                binding.run.on(data.url),
                data,
                timed,
                engine=binding.engine,
                run_id=state.run_id,
                lock=not data.cloned,  # a clone is the test's own: nothing else swaps it
                fresh=copies,
                release=binding.release,
            )
        if not data.cloned:
            state.since_check.clear()  # found unchanged before and after
    except DatasetChangedError as exc:
        if not exc.restored:
            raise
        writers = list(state.since_check)
        await state.restored(data)
        raise SharedDataChangedError(data.scale.name, exc.what, writers=writers) from None
    except WorkloadWroteError:
        await state.restored(data)
        raise
    except sa_exc.DBAPIError as exc:
        code = getattr(exc.orig, "sqlstate", None)
        if not data.cloned and code in (READ_ONLY_SQL_TRANSACTION, INSUFFICIENT_PRIVILEGE):
            raise ReadOnlyDataError(data.scale.name) from exc
        raise
    state.runs.append(run)
    return run
