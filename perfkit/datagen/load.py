"""Seeding a database: generate rows, COPY them into a staging schema, swap it in atomically.

The steps, under the per-database lock (:func:`perfkit.locks.exclusive`):

1. **check**: with ``reset``, the safety rule first; without it, a database that already holds
   this dataset, unchanged since it was loaded, is left alone, and one that holds anything
   else (or that dataset, changed) is refused.
2. **schema**: a fresh staging schema ``perfkit_seed_<hex>`` with bare tables (primary keys
   only, :func:`perfkit.ddl.create_tables_sql`) and the metadata table; the recipe is checked
   against those tables (:mod:`perfkit.datagen.validate`) before any row is written.
3. **load**: each table streams from its generator through binary COPY
   (``copy_records_to_table``) on its own connection, a few tables at a time, parents first,
   in chunks. As soon as a table is in, its connection builds its constraints and indexes,
   ANALYZEs it, and adds its foreign keys once the tables they reference are in, while the
   other tables still load.
4. **swap**: one transaction writes the ``perfkit_dataset`` row, drops the old tables (with
   ``reset``) and moves the staging tables into ``public``. Once the loaders have left, the
   tables' statistics counters are recorded (:mod:`perfkit.datagen.changes`): later checks
   tell an untouched dataset from one that was written since.

Until the swap commits nothing outside the staging schema changes: a failure, Ctrl-C or a
killed connection leaves the previous state as it was, and the staging schema is dropped (here,
or by the next seed when this process could not).

Over 400 lines: the seed is one all-or-nothing transaction story (check, staging schema,
parallel COPY with per-table indexing, swap, cleanup on every failure path), best read in one
place.

Over 500 lines: the seed's all-or-nothing contract (lock, staging schema, COPY, swap, clean-up)
is one sequence; splitting it would spread the failure handling over modules.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import functools
import gc
import itertools
import secrets
import types
from collections.abc import Awaitable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncpg

from perfkit.catalog import read_catalog
from perfkit.config import Config, DataConfig, DataMode, Scale
from perfkit.datagen.changes import changes_since_load, record_load_baseline
from perfkit.datagen.entities import ENTITY_VERSION
from perfkit.datagen.errors import DatasetConflictError, SeedFailedError
from perfkit.datagen.metadata import (
    DatasetInfo,
    create_dataset_table_sql,
    read_dataset_info,
    write_dataset_info,
)
from perfkit.datagen.recipe import Recipe, Shape, TableRecipe
from perfkit.datagen.validate import validate_recipe
from perfkit.db import connect, publish_counters, statement_failures
from perfkit.errors import ConfigError
from perfkit.locks import exclusive
from perfkit.measure import Stopwatch, timed
from perfkit.safety import ensure_test_database
from perfkit.schema_source import built_by_source, remember_fingerprint
from perfkit.sqlnames import quote_ident

if TYPE_CHECKING:
    from perfkit.app import Application
    from perfkit.database import Database
    from perfkit.db import ServerPin
    from perfkit.run import Run

#: Where seeded tables end up.
TARGET_SCHEMA = "public"
#: Staging schemas are named this plus random hex; leftovers are dropped by the next seed.
STAGING_PREFIX = "perfkit_seed_"
#: Rows per COPY statement: between chunks the loader reports progress and can be cancelled.
CHUNK_ROWS = 50_000
#: Tables loading at once, each on its own connection (measured best on 2-4 cores).
LOADER_CONNECTIONS = 3
#: How the seeder's connections show up in ``pg_stat_activity``.
APPLICATION_NAME = "perfkit seed"
#: How long the final swap waits for other sessions' locks on the old tables.
SWAP_LOCK_TIMEOUT = "30s"

_PG_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
#: Session settings of the seeder's connections. ``synchronous_commit=off`` skips the WAL
#: flush wait at each of the many small commits (DDL, indexes): a crash can lose only the
#: last commits, and whatever it loses, the swap is still all or nothing.
_SESSION = {"application_name": APPLICATION_NAME, "synchronous_commit": "off"}


class SeedProgress:
    """What seeding reports while it works; every method is a no-op here, override any."""

    def phase(self, name: str) -> None:
        """A phase starts: ``check``, ``schema``, ``load``, ``swap``."""

    def rows(self, table: str, done: int, total: int) -> None:
        """``done`` of ``total`` rows of ``table`` are in (called after each chunk)."""

    def note(self, message: str) -> None:
        """Something the user should read (e.g. waiting for another command's lock)."""


@dataclass(frozen=True)
class SeedReport:
    """What :func:`seed_database` did: rows per table, seconds per phase, the dataset.
    ``seconds`` is the seed's own time: the application was imported before its clock, as a
    restore's is."""

    info: DatasetInfo
    rows: Mapping[str, int]
    phases: Mapping[str, float]
    seconds: float
    #: False when the database already held this dataset and nothing was done.
    created: bool = True

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def rows_per_second(self) -> float:
        return self.total_rows / self.seconds if self.created and self.seconds > 0 else 0.0


def planned_dataset(
    app: Application,
    scale: Scale,
    data: DataConfig,
    *,
    seed: int,
    mode: DataMode,
    anchor: dt.date,
) -> DatasetInfo:
    """The :class:`DatasetInfo` that seeding ``app`` with these inputs writes
    (``created_at`` = now)."""
    return plan_dataset(
        app.recipe,
        fingerprint=app.schema.fingerprint,
        scale=scale,
        data=data,
        seed=seed,
        mode=mode,
        anchor=anchor,
    )


def plan_dataset(
    recipe: Recipe,
    *,
    fingerprint: str,
    scale: Scale,
    data: DataConfig,
    seed: int,
    mode: DataMode,
    anchor: dt.date,
) -> DatasetInfo:
    """:func:`planned_dataset` for ``recipe`` and a schema of ``fingerprint``: what commands
    that never build the schema know (:func:`perfkit.app.application_on_record`)."""
    return DatasetInfo(
        scale=scale.name,
        seed=seed,
        mode=mode,
        generator_version=recipe.version,
        anchor_date=anchor,
        schema_fingerprint=fingerprint,
        row_counts=types.MappingProxyType(recipe.row_counts(scale, data, mode)),
        created_at=dt.datetime.now(dt.UTC),
        parameters=types.MappingProxyType(recipe.parameters(scale, data)),
    )


async def seed_database(
    run: Run,
    scale: Scale,
    *,
    seed: int | None = None,
    mode: DataMode | None = None,
    anchor: dt.date | None = None,
    reset: bool = False,
    confirm: str | None = None,
    progress: SeedProgress | None = None,
) -> SeedReport:
    """Fill the run's database with ``scale``'s dataset; all or nothing.

    ``seed`` and ``mode`` default to ``cfg.data``; ``anchor`` (the date every generated date is
    relative to) to the run's day. Without ``reset`` a database that already holds the same
    dataset is left as it is (``created=False``; an existing dataset made for another anchor
    date counts as the same unless ``anchor`` is given), and one holding other data is refused
    with :class:`DatasetConflictError`. With ``reset`` the database must pass the safety rule
    (``confirm`` repeats the name of a database that does not look like a test database), and
    the old tables are replaced.
    """
    # Before the clock, as a restore does: importing the application is not seeding.
    app, cfg, db = run.app, run.cfg, run.db
    total = Stopwatch()
    shown = progress or SeedProgress()
    shape = Shape(
        scale=scale,
        data=cfg.data,
        mode=mode or cfg.data.mode,
        seed=cfg.data.seed if seed is None else seed,
        anchor=anchor or run.today,
        version=ENTITY_VERSION,
    )
    wanted = planned_dataset(
        app, scale, cfg.data, seed=shape.seed, mode=shape.mode, anchor=shape.anchor
    )
    phases: dict[str, float] = {}
    # The target first: a missing database or a wrong password is reported with its own URL.
    conn = await connect(db.url, pin=db.pin, server_settings=_SESSION)
    try:
        async with exclusive(db, on_wait=shown.note):
            with _phase("check", phases, shown):
                # Seeding writes tables even without --reset: test databases only.
                await ensure_test_database(conn, cfg, confirm=confirm)
                existing = await check_existing(
                    conn, app.tables, wanted, reset=reset, compare_anchor=anchor is not None
                )
                if existing is not None:
                    return SeedReport(
                        info=existing,
                        rows=existing.row_counts,
                        phases=phases,
                        seconds=total.stop(),
                        created=False,
                    )
                await _drop_stale_staging(conn)
            rows, wanted = await _build_and_swap(
                db,
                conn,
                cfg,
                app,
                shape,
                wanted,
                reset=reset,
                phases=phases,
                progress=shown,
            )
    except statement_failures() as exc:
        raise SeedFailedError.of(exc, hint=_unchanged_hint(exc)) from exc
    finally:
        await _close_quietly(conn)
    return SeedReport(info=wanted, rows=rows, phases=phases, seconds=total.stop())


# --------------------------------------------------------------------------------------------
# check


async def check_existing(
    conn: asyncpg.Connection,
    tables: Sequence[str],
    wanted: DatasetInfo,
    *,
    reset: bool,
    compare_anchor: bool,
) -> DatasetInfo | None:
    """The existing dataset when it is the wanted one (and not ``reset``); raise when seeding
    would replace data without ``reset``; None when seeding should go ahead. ``tables`` are
    the application's."""
    if reset:
        return None
    existing = await read_dataset_info(conn, schema=TARGET_SCHEMA)
    if existing is not None:
        if existing.same_data(wanted, compare_anchor=compare_anchor):
            changed = await changes_since_load(conn, tables, schema=TARGET_SCHEMA)
            if changed.problem is not None:
                raise DatasetConflictError(
                    f"the database holds this dataset, but {changed.problem}",
                    hint="add --reset to load it again",
                )
            return existing
        if existing.schema_fingerprint != wanted.schema_fingerprint:
            why = (
                f"made for schema {existing.schema_fingerprint}; "
                f"the schema is now {wanted.schema_fingerprint}"
            )
        else:
            why = f"wanted {wanted.describe()}"
        raise DatasetConflictError(
            f"the database already holds another dataset ({existing.describe()}); {why}",
            hint="add --reset to replace it",
        )
    present = await conn.fetch(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = $1 AND c.relname = ANY($2::text[]) ORDER BY c.relname",
        TARGET_SCHEMA,
        list(tables),
    )
    if present:
        names = ", ".join(r["relname"] for r in present)
        raise DatasetConflictError(
            f"the database has application tables ({names}) but no perfkit dataset",
            hint="add --reset to replace them with generated data",
        )
    return None


async def _drop_stale_staging(conn: asyncpg.Connection) -> None:
    """Drop staging schemas an interrupted seed left behind (we hold the lock: none is live).
    Every schema named ``perfkit_seed_*`` counts as one."""
    stale = await conn.fetch(
        "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)", STAGING_PREFIX
    )
    for row in stale:
        await conn.execute(f"DROP SCHEMA IF EXISTS {quote_ident(row['nspname'])} CASCADE")


# --------------------------------------------------------------------------------------------
# build and swap


async def _build_and_swap(
    db: Database,
    conn: asyncpg.Connection,
    cfg: Config,
    app: Application,
    shape: Shape,
    wanted: DatasetInfo,
    *,
    reset: bool,
    phases: dict[str, float],
    progress: SeedProgress,
) -> tuple[dict[str, int], DatasetInfo]:
    """Build the dataset in a staging schema and swap it in; returns the rows per table and
    the dataset as recorded (its fingerprint read from the tables just built)."""
    staging = STAGING_PREFIX + secrets.token_hex(4)
    # The loaders' connections open while the main connection makes the staging schema.
    opening = asyncio.ensure_future(_open_loaders(db.url, LOADER_CONNECTIONS, pin=db.pin))
    loaders: list[asyncpg.Connection] = []
    swapped = False
    pids: list[int] = []
    try:
        with _phase("schema", phases, progress):
            # Names in default and check expressions read back from a database are not
            # qualified ('open'::review_status): the staging schema's own types come first.
            path = f"SET search_path = {quote_ident(staging)}, {TARGET_SCHEMA}"
            await conn.execute(
                ";\n".join(
                    [
                        f"CREATE SCHEMA {quote_ident(staging)}",
                        path,
                        *app.schema.create_types_sql(staging),
                        *app.schema.create_tables_sql(staging),
                        *(  # built after the rows (Schema.primary_keys)
                            drop for drop, _ in app.schema.primary_keys(staging).values()
                        ),
                        create_dataset_table_sql(staging),
                        "RESET search_path",
                    ]
                )
            )
            # The recipe against the tables it fills, before any row: RecipeError stops here.
            await validate_recipe(
                conn, app, shape, schema=staging, recipe_path=cfg.app.recipe or ""
            )
            loaders = await opening
            pids = [loader.get_server_pid() for loader in loaders]
            await asyncio.gather(*(loader.execute(path) for loader in loaders))
        with _phase("load", phases, progress):
            rows = await _load_tables(loaders, app, shape, staging, progress=progress)
        _verify_counts(rows, wanted.row_counts)
        with _phase("swap", phases, progress):
            wanted = await _as_built(conn, cfg, app, wanted, staging)
            async with conn.transaction():
                await conn.execute(f"SET LOCAL lock_timeout = '{SWAP_LOCK_TIMEOUT}'")
                await write_dataset_info(conn, wanted, schema=staging)
                swap = app.schema.swap_sql(staging, TARGET_SCHEMA, replace=reset)
                await conn.execute(";\n".join(swap))
            swapped = True
    finally:
        if not opening.done():
            opening.cancel()
        with contextlib.suppress(BaseException):
            loaders = loaders or await opening
        for loader in loaders:
            loader.terminate()
        if not swapped:
            await _drop_staging(db.url, staging, pin=db.pin)
    # What "unchanged since the load" is measured against (the loaders' counters included).
    # The data is in place whatever happens here: without a record, checks count rows.
    try:
        await record_load_baseline(conn, app.tables, loaders=pids, schema=TARGET_SCHEMA)
    except asyncpg.PostgresError as exc:
        progress.note(f"the load's statistics were not recorded ({type(exc).__name__})")
    return rows, wanted


async def _as_built(
    conn: asyncpg.Connection, cfg: Config, app: Application, wanted: DatasetInfo, staging: str
) -> DatasetInfo:
    """``wanted`` with the fingerprint of the tables built in ``staging``, read from the
    catalogue. Tables read back from a SQL file or migrations must come out as the source built
    them: a difference is a feature perfkit's rebuild lost, and stops the seed."""
    built = await read_catalog(conn, staging, app.tables)
    source = built_by_source(app.schema)
    if source is not None and source.fingerprint != built.fingerprint:
        raise ConfigError(
            "perfkit's build of the tables differs from the schema source's: "
            + "; ".join(built.differences(source)[:3]),
            source=str(cfg.source),
            key_path="app.schema",
            hint="the table list may hold a feature perfkit does not rebuild (see "
            "docs/configuration.md); use app.schema.metadata instead",
        )
    remember_fingerprint(cfg, app.schema, built.fingerprint)
    return dataclasses.replace(wanted, schema_fingerprint=built.fingerprint)


def _unchanged_hint(exc: BaseException) -> str:
    if isinstance(exc, asyncpg.LockNotAvailableError):
        return "other sessions hold the old tables; close them and retry (nothing was changed)"
    if isinstance(exc, asyncpg.UniqueViolationError | asyncpg.DuplicateTableError):
        return "the database changed while seeding; retry (nothing was changed)"
    return "the database still holds what it held before; fix the cause and retry"


async def _close_quietly(conn: asyncpg.Connection) -> None:
    """Close ``conn``; a connection the server already dropped is just let go (the error that
    dropped it is what the caller reports)."""
    try:
        await conn.close(timeout=5)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError):
        conn.terminate()


async def _drop_staging(url: str, staging: str, *, pin: ServerPin | None = None) -> None:
    """Best effort, on a fresh connection: the seeding connections may be broken or busy."""
    with contextlib.suppress(Exception):
        conn = await connect(url, pin=pin, server_settings={"application_name": APPLICATION_NAME})
        try:
            await asyncio.wait_for(
                conn.execute(f"DROP SCHEMA IF EXISTS {quote_ident(staging)} CASCADE"), 30
            )
        finally:
            await conn.close()


async def _open_loaders(
    url: str, n: int, *, pin: ServerPin | None = None
) -> list[asyncpg.Connection]:
    """``n`` loader connections, opened concurrently (each checked to arrive on ``pin``'s
    server); none left open when one fails."""
    results = await asyncio.gather(*(_loader_connection(url, pin) for _ in range(n)),
                                   return_exceptions=True)  # fmt: skip
    opened = [r for r in results if isinstance(r, asyncpg.Connection)]
    failure = next((r for r in results if isinstance(r, BaseException)), None)
    if failure is not None:
        for conn in opened:
            conn.terminate()
        raise failure
    return opened


async def _loader_connection(url: str, pin: ServerPin | None) -> asyncpg.Connection:
    conn = await connect(url, pin=pin, server_settings=_SESSION)
    await conn.set_type_codec(
        "timestamptz",
        schema="pg_catalog",
        encoder=_timestamptz_tuple,
        decoder=_timestamptz_from_tuple,
        format="tuple",
    )
    return conn


@functools.lru_cache(maxsize=256)
def _timestamptz_tuple(value: dt.datetime) -> tuple[int]:
    """Microseconds since 2000-01-01 UTC, cached: a dataset uses a handful of timestamps, and
    asyncpg's own encoder costs more per value than the rest of a row (profiled)."""
    delta = value - _PG_EPOCH
    return ((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds,)


def _timestamptz_from_tuple(value: tuple[int]) -> dt.datetime:
    return _PG_EPOCH + dt.timedelta(microseconds=value[0])


def load_order(app: Application, expected: Mapping[str, int]) -> list[str]:
    """Tables in the order loaders take them: parents before children (so a table's foreign
    keys never wait for a table no loader has taken), the bigger first among equals."""
    depth: dict[str, int] = {}
    for name in app.tables:  # parents first already
        parents = app.schema.referenced_tables(name) - {name}
        # A parent not placed yet comes later in the schema's order: it is reached through a
        # foreign key of a cycle, created after both tables (``use_alter``), so it orders
        # nothing here (that foreign key waits for it while the other loaders take it).
        depth[name] = 1 + max((depth[p] for p in parents if p in depth), default=-1)
    return sorted(app.tables, key=lambda name: (depth[name], -expected[name]))


async def _load_tables(
    loaders: Sequence[asyncpg.Connection],
    app: Application,
    shape: Shape,
    staging: str,
    *,
    progress: SeedProgress,
) -> dict[str, int]:
    """Load every table, each loader connection taking the next one when it is free.

    Right after its rows, a table gets its constraints, indexes and statistics; its foreign
    keys follow as soon as the tables they reference hold all their rows. So the server builds
    and checks while the client still generates other tables, and no step waits for all.
    """
    expected = app.recipe.row_counts(shape.scale, shape.data, shape.mode)
    specs = {spec.name: spec for spec in app.recipe.tables}
    queue = load_order(app, expected)
    per_table, _ = app.schema.post_load_steps(staging)
    primary_keys = app.schema.primary_keys(staging)
    foreign_keys = app.schema.foreign_keys_by_table(staging)
    loaded = {name: asyncio.Event() for name in app.tables}
    one_at_a_time = asyncio.Lock()
    counts: dict[str, int] = {}
    # A table whose parent loads after it (a foreign-key cycle) gets its keys after every
    # table is in: waiting for that parent would hold a loader it may need.
    position = {name: i for i, name in enumerate(queue)}
    late = {
        name
        for name in foreign_keys
        if any(position[p] > position[name] for p in app.schema.referenced_tables(name) - {name})
    }

    async def worker(conn: asyncpg.Connection) -> None:
        while queue:
            spec = specs[queue.pop(0)]
            counts[spec.name] = await _copy_table(
                conn, spec, shape, staging, total=expected[spec.name], progress=progress
            )
            await publish_counters(conn)  # so that the ANALYZE below counts the rows as seen
            target = f"{quote_ident(staging)}.{quote_ident(spec.name)}"
            # Its primary key, constraints, indexes and statistics in one round trip (one
            # transaction); its children's foreign keys need the key, so they wait for this.
            pk = [primary_keys[spec.name][1]] if spec.name in primary_keys else []
            steps = [*pk, *per_table.get(spec.name, ()), f"ANALYZE {target}"]
            await conn.execute(";\n".join(steps))
            loaded[spec.name].set()
            if spec.name in foreign_keys and spec.name not in late:
                for parent in app.schema.referenced_tables(spec.name) - {spec.name}:
                    await loaded[parent].wait()
                # One table's foreign keys at a time: each locks the child and its parents,
                # and two such transactions taking shared parents in turn would deadlock.
                async with one_at_a_time:
                    await conn.execute(";\n".join(foreign_keys[spec.name]))

    with _gc_paused():
        await _gather_or_cancel([worker(conn) for conn in loaders])
    for name in sorted(late):
        await loaders[0].execute(";\n".join(foreign_keys[name]))
    return {name: counts[name] for name in app.tables}


async def _copy_table(
    conn: asyncpg.Connection,
    spec: TableRecipe,
    shape: Shape,
    staging: str,
    *,
    total: int,
    progress: SeedProgress,
) -> int:
    """Stream ``spec``'s rows into the staging table in COPY chunks; the number of rows."""
    rows = spec.generate(shape)
    done = 0
    progress.rows(spec.name, 0, total)
    for chunk in _chunks(rows, CHUNK_ROWS):
        status = await conn.copy_records_to_table(
            spec.name, records=chunk, columns=list(spec.column_names), schema_name=staging
        )
        done += int(status.split()[-1])
        progress.rows(spec.name, done, total)
    return done


def _chunks(rows: Iterator[Any], size: int) -> Iterator[Iterator[Any]]:
    """Consecutive lazy slices of ``rows`` (nothing is materialized)."""
    while True:
        first = next(rows, None)
        if first is None:
            return
        yield itertools.chain((first,), itertools.islice(rows, size - 1))


async def _gather_or_cancel(coros: Sequence[Awaitable[None]]) -> None:
    """Run ``coros`` concurrently; the first failure cancels the others and is raised."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _verify_counts(rows: Mapping[str, int], expected: Mapping[str, int]) -> None:
    if dict(rows) != dict(expected):
        wrong = ", ".join(
            f"{t}: {rows.get(t)} != {n}" for t, n in expected.items() if rows.get(t) != n
        )
        raise SeedFailedError(
            f"generated row counts differ from the expected ones ({wrong})",
            hint="this is a bug in perfkit's generator; the database was not changed",
        )


@contextlib.contextmanager
def _phase(name: str, phases: dict[str, float], progress: SeedProgress) -> Iterator[None]:
    """Show the phase, and time it into ``phases``."""
    progress.phase(name)
    with timed(phases, name):
        yield


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """The generators make millions of short-lived, acyclic objects; the cyclic collector
    walking them cost a fifth of the load (profiled). Reference counting still frees them."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
