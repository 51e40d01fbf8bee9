"""A bulk load's work spread over a few connections: each table's rows, then its keys and
indexes in pieces, then its foreign keys, with no connection idle while work is left.

:func:`load_tables` is the part of an inferred fill (:mod:`perfkit.datagen.infer.fill`) and of
a restore of inferred data (:mod:`perfkit.snapshot.replay`) between the bare tables and the
last steps (triggers, policies, sequences). It runs small jobs from one queue, each on the
next free connection:

1. *copy* a unit of rows (a table, or one partition of a partitioned table), biggest first;
2. once every unit of a table is in: its *pieces* (:attr:`perfkit.ddl.emit.PostLoad.pieces`:
   the partitioned table's own statements first, then each physical table's constraints and
   each index on its own, so the indexes of a big table or of several partitions build side
   by side), then its attaches and ``ANALYZE``;
3. once a table and every table its foreign keys reference are built: its foreign keys, added
   ``NOT VALID`` under one lock shared by all (adding one locks the tables it joins), then
   each ``VALIDATE CONSTRAINT`` as a job of its own.

Work that follows other work goes first, so the end of a load is never one connection
finishing a big table's indexes alone. Tables named ``deferred`` are only copied (their caller
builds them later, e.g. after ``sql:`` overrides ran); those in ``unlinked`` get no foreign
keys here.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import asyncpg

from perfkit.db import publish_counters
from perfkit.ddl.emit import PostLoad
from perfkit.sqlnames import quote_ident

Job = Callable[[asyncpg.Connection], Awaitable[None]]


@dataclass(frozen=True)
class Unit:
    """Rows copied in one go: ``name`` (a table or a partition), the data table they belong
    to (``owner``: a partition's topmost parent, else the table itself) and how many rows
    (the biggest go first)."""

    name: str
    owner: str
    rows: int


class _Queue:
    """Jobs by priority; workers take the next one until none is left and none is running."""

    def __init__(self) -> None:
        self._heap: list[tuple[tuple[int, int], int, Job]] = []
        self._order = itertools.count()
        self._running = 0
        self._changed = asyncio.Event()

    def add(self, job: Job, *, first: bool, size: int = 0) -> None:
        """``first``: work that follows other work (before any new copy)."""
        heapq.heappush(self._heap, ((0 if first else 1, -size), next(self._order), job))
        self._changed.set()

    async def work(self, conn: asyncpg.Connection) -> None:
        while True:
            if self._heap:
                _, _, job = heapq.heappop(self._heap)
                self._running += 1
                try:
                    await job(conn)
                finally:
                    self._running -= 1
                    self._changed.set()
            elif self._running == 0:
                return
            else:
                self._changed.clear()
                await self._changed.wait()


async def load_tables(
    conns: Sequence[asyncpg.Connection],
    steps: PostLoad,
    units: Sequence[Unit],
    copy: Callable[[asyncpg.Connection, Unit], Awaitable[None]],
    *,
    schema: str,
    deferred: frozenset[str] = frozenset(),
    unlinked: frozenset[str] = frozenset(),
) -> None:
    """Copy every unit (``copy(conn, unit)``) and replay each table's post-load statements
    of ``steps`` as soon as they can run (see the module docstring); every connection has
    ``steps.search_path`` in force, ``schema`` holds the tables. The first failure cancels
    the rest and is raised."""
    queue = _Queue()
    left = Counter(u.owner for u in units)
    owners = list(left)
    built: set[str] = set()
    linked: set[str] = set()
    one_at_a_time = asyncio.Lock()

    def copied(unit: Unit) -> Job:
        async def job(conn: asyncpg.Connection) -> None:
            await copy(conn, unit)
            await publish_counters(conn)  # the table's ANALYZE, on any connection, sees them
            left[unit.owner] -= 1
            if left[unit.owner] == 0 and unit.owner not in deferred:
                queue.add(build(unit.owner), first=True)

        return job

    def build(owner: str) -> Job:
        pieces = steps.pieces.get(owner, ((),))

        async def job(conn: asyncpg.Connection) -> None:
            if pieces[0]:
                await conn.execute(";\n".join(pieces[0]))
            rest = [piece for piece in pieces[1:] if piece]
            waiting = Counter({"pieces": len(rest)})
            if not rest:
                await finish(owner)(conn)
                return
            for piece in rest:
                queue.add(built_piece(owner, piece, waiting), first=True)

        return job

    def built_piece(owner: str, piece: Sequence[str], waiting: Counter[str]) -> Job:
        async def job(conn: asyncpg.Connection) -> None:
            await conn.execute(";\n".join(piece))
            waiting["pieces"] -= 1
            if waiting["pieces"] == 0:
                queue.add(finish(owner), first=True)

        return job

    def finish(owner: str) -> Job:
        async def job(conn: asyncpg.Connection) -> None:
            target = f"{quote_ident(schema)}.{quote_ident(owner)}"
            await conn.execute(";\n".join([*steps.attaches.get(owner, ()), f"ANALYZE {target}"]))
            built.add(owner)
            for table in owners:  # this one, and any waiting for it as a parent
                if table not in linked and _linkable(table):
                    linked.add(table)
                    queue.add(link(table), first=True)

        return job

    def _linkable(table: str) -> bool:
        if table in unlinked or table not in built:
            return False
        return all(p in built or p not in left for p in steps.references.get(table, ()))

    def link(table: str) -> Job:
        async def job(conn: asyncpg.Connection) -> None:
            statements = steps.foreign_keys.get(table)
            if statements:
                async with one_at_a_time:  # added NOT VALID: a moment each
                    await conn.execute(";\n".join(statements))
            for check in steps.validations.get(table, ()):
                queue.add(validate(check), first=True)

        return job

    def validate(statement: str) -> Job:
        async def job(conn: asyncpg.Connection) -> None:
            await conn.execute(statement)

        return job

    for unit in sorted(units, key=lambda u: -u.rows):
        queue.add(copied(unit), first=False, size=unit.rows)
    tasks = [asyncio.ensure_future(queue.work(conn)) for conn in conns]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
