"""The shared data, guarded: a measurement on it runs on the data its record names.

A scale's shared data (the test database ``prepare`` made ready) is read by every measurement
and every test of the scale. :func:`shared_data_guard` holds perfkit's lock on it while a
measurement runs, and checks it on both sides: before, that it is still the dataset prepared,
unchanged since it was loaded (:func:`perfkit.snapshot.dataset.changes_problem`: catalogue,
settings, committed changes); after, that the measurement committed nothing. It finds the
writes of the measuring engine's sessions exactly: PostgreSQL publishes a session's statistics
counters when it ends, so the guard closes the engine's idle connections and waits for their
sessions to end (:func:`close_idle`, :func:`server_pid`). A change found on either side is
restored at once (:func:`restore_shared`), then reported: :class:`DatasetChangedError` (before)
or :class:`WorkloadWroteError` (after).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import greenlet_spawn

from perfkit.config import Scale
from perfkit.datagen import DatasetInfo, read_dataset_info
from perfkit.datagen.changes import wait_until_gone
from perfkit.errors import PerfkitError
from perfkit.locks import exclusive
from perfkit.prepare import PrepareReport, prepare
from perfkit.snapshot.dataset import changes_problem

if TYPE_CHECKING:
    from perfkit.run import Run


class DatasetChangedError(PerfkitError):
    """The shared data is not the data prepared, just before it was to be measured: another
    command replaced it (``restored`` False), or something changed it since it was loaded
    (``restored`` True: it was restored before this error, nothing was measured)."""

    def __init__(self, scale: str, what: str, *, restored: bool = False) -> None:
        if restored:
            message = (
                f"the shared {scale} data was changed before it could be measured: {what}; "
                "it was restored, and nothing was measured"
            )
            hint = (
                "something wrote to the shared data (a test, the application's own engine, "
                "a session left open); a test that writes asks for a clone of its own: "
                "@pytest.mark.perf_clone"
            )
        else:
            message = f"the {scale} dataset changed before it could be measured (now: {what})"
            hint = "another perfkit command is using the same database; run one at a time"
        super().__init__(message, hint=hint)
        self.scale = scale
        self.what = what
        self.restored = restored


class WorkloadWroteError(PerfkitError):
    """A workload not declared as writing changed the shared data while it was measured (its
    data was restored; nothing was recorded)."""

    def __init__(self, scale: str, workload: str, what: str) -> None:
        super().__init__(
            f"workload {workload!r} is not declared as writing, but the shared {scale} data "
            f"changed while it ran: {what}; the data was restored, and no run was recorded",
            hint=f"a workload that writes says so (scales.yaml app.workloads.{workload}.writes: "
            "true, or @pytest.mark.perf_clone on its test): each of its runs then gets a fresh "
            "clone of the data",
        )
        self.scale = scale
        self.workload = workload
        self.what = what


@asynccontextmanager
async def shared_data_guard(
    run: Run,
    scale: Scale,
    *,
    info: DatasetInfo,
    engine: AsyncEngine,
    workload: str,
) -> AsyncIterator[DatasetInfo]:
    """Hold perfkit's lock on the shared data, the run's database (``info``: the dataset
    prepared there)
    while the block measures ``workload`` on ``engine``; yield the data's info as read now. A
    measurement never runs on data other than the data its record names:

    - before: the database holds the dataset prepared (else :class:`DatasetChangedError`:
      another command replaced it), unchanged since it was loaded
      (:func:`~perfkit.snapshot.dataset.changes_problem`: catalogue, settings, committed
      changes). A change is restored at once (:func:`restore_shared`), then
      :class:`DatasetChangedError` with ``restored`` says what changed;
    - after: the engine's idle connections are closed, and their sessions waited for until
      they have ended (so published their counters; a connection a session still holds is
      left to it); any change committed meanwhile is restored,
      then :class:`WorkloadWroteError`. The same check runs when the block fails (not on
      Ctrl-C), so the data is restored before anything else is measured.
    """
    app, db = run.app, run.db
    async with exclusive(db, on_wait=run.note):
        async with db.connect() as conn:
            now = await read_dataset_info(conn, order=app.tables)
            if now is None or not now.same_data(info):
                raise DatasetChangedError(scale.name, now.describe() if now else "no dataset")
            before = await changes_problem(conn, app, now)
        if before is not None:
            await restore_shared(run, scale, day=info.anchor_date)
            raise DatasetChangedError(scale.name, before, restored=True)
        await close_idle(engine)  # every connection the block uses is opened, and seen, below
        closed: set[int] = set()

        async def after() -> str | None:
            """What the block changed (restored already), once its sessions have ended."""
            await close_idle(engine)  # their sessions end, and publish their counters
            async with db.connect() as conn:
                await wait_until_gone(conn, closed)
                found = await changes_problem(conn, app, now)
            if found is not None:
                await restore_shared(run, scale, day=now.anchor_date)
            return found

        with _closed_sessions(engine, closed):
            try:
                yield now
            except Exception:
                await after()  # restored before the failure goes on (Ctrl-C does not wait)
                raise
            changed = await after()
        if changed is not None:
            raise WorkloadWroteError(scale.name, workload, changed)


async def restore_shared(run: Run, scale: Scale, *, day: dt.date) -> PrepareReport:
    """Make the shared data (the run's database) ``scale``'s dataset again, dated ``day``
    (``prepare``: from the template, else its snapshot)."""
    return await prepare(run, scale, as_of=day)


@contextmanager
def _closed_sessions(engine: AsyncEngine, closed: set[int]) -> Iterator[None]:
    """Collect into ``closed`` the server pids of ``engine``'s connections opened while the
    block runs and closed by the time it ends (:func:`wait_until_gone` then waits for their
    sessions to end). Nothing runs per statement or per checkout: only when a connection is
    opened or closed."""
    sync = engine.sync_engine

    def opened(dbapi_connection: Any, record: Any) -> None:
        pid = server_pid(dbapi_connection)
        if pid is not None:
            record.info["perfkit_pid"] = pid

    def gone(dbapi_connection: Any, record: Any) -> None:
        pid = record.info.get("perfkit_pid") if record is not None else None
        if pid is not None:
            closed.add(int(pid))

    pool = sync.pool
    event.listen(pool, "connect", opened)
    event.listen(pool, "close", gone)
    try:
        yield
    finally:
        event.remove(pool, "connect", opened)
        event.remove(pool, "close", gone)


async def close_idle(engine: AsyncEngine) -> None:
    """Close the connections idle in ``engine``'s pool, keeping the pool (unlike
    ``engine.dispose()``, which replaces it and so leaks a connection a session still holds:
    it goes back to the old pool and is never closed)."""
    await greenlet_spawn(engine.sync_engine.pool.dispose)


def server_pid(dbapi_connection: Any) -> int | None:
    """The server process of a driver connection SQLAlchemy wraps: asyncpg's
    ``get_server_pid()``, psycopg's ``info.backend_pid``; None for another driver."""
    driver = getattr(dbapi_connection, "driver_connection", dbapi_connection)
    get_pid = getattr(driver, "get_server_pid", None)
    if callable(get_pid):
        return int(get_pid())
    pid = getattr(getattr(driver, "info", None), "backend_pid", None)
    return int(pid) if isinstance(pid, int) and pid else None
