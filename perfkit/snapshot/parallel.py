"""Share work items among a few database connections (one item at a time per connection)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import asyncpg

T = TypeVar("T")

#: Connections a snapshot is written or restored over (the machines have two cores).
JOBS = 2


async def spread(
    conns: Sequence[asyncpg.Connection],
    items: Sequence[T],
    work: Callable[[asyncpg.Connection, T], Awaitable[object]],
) -> None:
    """Run ``work(conn, item)`` for every item; each connection takes the next item in order.

    Put the biggest items first. On the first failure the other workers are cancelled and that
    failure is raised as itself (not wrapped in an exception group).
    """
    queue = list(items)

    async def worker(conn: asyncpg.Connection) -> None:
        while queue:
            await work(conn, queue.pop(0))

    try:
        async with asyncio.TaskGroup() as group:
            for conn in conns:
                group.create_task(worker(conn))
    except BaseExceptionGroup as group_error:
        raise group_error.exceptions[0] from None
