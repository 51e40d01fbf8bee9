"""Measuring a phase: wall time, SQL statements and peak memory, as one :class:`Measurement`.

:func:`measure` runs an async callable ``warmup`` times untimed (to fill caches and the
connection pool, and to let SQLAlchemy compile its statements), then ``repeat`` times timed
with :func:`time.perf_counter`, counting the SQL statements each timed run sends through the
engine (SQLAlchemy's ``before_cursor_execute`` event; an ``executemany`` counts once). A last
untimed run under :mod:`tracemalloc` gives the phase's peak Python memory, so tracing never
slows the timed runs. The record keeps every sample; budgets apply to the median.

``before_each``, when given, runs before every one of those runs (warm-up, timed, memory),
outside the stopwatch and the memory tracing: a measurement of a workload that writes renews
its data there (:mod:`perfkit.fresh`), so that each run sees the same data.
"""

from __future__ import annotations

import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:  # the timers need no SQLAlchemy: a command that only times steps loads none
    from sqlalchemy import Engine
    from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T")

MB = 1024 * 1024


class StatementCounter:
    """Counts the SQL statements an engine sends while the counter is active.

    ``with StatementCounter(engine) as counter: ...`` then ``counter.count``; ``statements``
    keeps the SQL text of each, for a failure message that shows what was sent.
    """

    def __init__(self, engine: AsyncEngine | Engine) -> None:
        from sqlalchemy.ext.asyncio import AsyncEngine

        self._engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
        self.statements: list[str] = []

    @property
    def count(self) -> int:
        return len(self.statements)

    def reset(self) -> int:
        """Start counting again from zero; return the count so far."""
        done = self.count
        self.statements = []
        return done

    def _on_execute(self, *args: Any) -> None:
        # (conn, cursor, statement, parameters, context, executemany)
        self.statements.append(str(args[2]))

    def __enter__(self) -> StatementCounter:
        from sqlalchemy import event

        event.listen(self._engine, "before_cursor_execute", self._on_execute)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        from sqlalchemy import event

        event.remove(self._engine, "before_cursor_execute", self._on_execute)


@dataclass
class Stopwatch:
    """Elapsed seconds of a ``with stopwatch() as sw:`` block (``sw.seconds`` after it).

    For a span that is not one block (a function that returns a report of its own duration),
    make one, ``sw = Stopwatch()``, and read ``sw.stop()`` at the end.
    """

    started: float = field(default_factory=time.perf_counter)
    seconds: float = 0.0

    def stop(self) -> float:
        """The seconds since the start, kept in :attr:`seconds` and returned."""
        self.seconds = time.perf_counter() - self.started
        return self.seconds


@contextmanager
def stopwatch() -> Iterator[Stopwatch]:
    """Time a block with :func:`time.perf_counter`."""
    sw = Stopwatch()
    try:
        yield sw
    finally:
        sw.stop()


@contextmanager
def timed(steps: MutableMapping[str, float], name: str) -> Iterator[Stopwatch]:
    """Time a block and record its seconds as ``steps[name]`` (a report's per-step times).

    The time is recorded even when the block fails or returns early, so a report built
    inside the block still sees it; ``sw.seconds`` holds it too, after the block.
    """
    sw = Stopwatch()
    try:
        yield sw
    finally:
        steps[name] = sw.stop()


def process_peak_rss_mb() -> float:
    """The process's resident-memory high-water mark so far, in MB (whole process)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MB if sys.platform == "darwin" else peak / 1024


@dataclass(frozen=True)
class Measurement(Generic[T]):
    """One measured phase: its timed samples, statement count, peak memory and last result."""

    name: str
    #: Seconds of each timed run, in order.
    samples: tuple[float, ...]
    #: Untimed runs before the timed ones.
    warmup: int
    #: SQL statements of each timed run (empty when no engine was given).
    statement_samples: tuple[int, ...]
    #: Peak Python memory allocated during one run (tracemalloc), in MB.
    peak_memory_mb: float
    #: What the last run returned.
    result: T

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def best(self) -> float:
        return min(self.samples)

    @property
    def worst(self) -> float:
        return max(self.samples)

    @property
    def statements(self) -> int:
        """Statements per run (the most any timed run sent)."""
        return max(self.statement_samples, default=0)

    @property
    def statements_stable(self) -> bool:
        """Whether every timed run sent the same number of statements."""
        return len(set(self.statement_samples)) <= 1


async def measure(
    fn: Callable[[], Awaitable[T]],
    *,
    name: str,
    engine: AsyncEngine | Engine | None = None,
    repeat: int = 1,
    warmup: int = 0,
    before_each: Callable[[], Awaitable[object]] | None = None,
) -> Measurement[T]:
    """Run ``fn`` ``warmup`` times untimed, ``repeat`` times timed, then once for memory.

    Statements are counted on ``engine`` (when given) during each timed run only;
    ``before_each`` (when given) is awaited before every run, untimed.
    """
    if repeat < 1:
        raise ValueError("repeat must be at least 1")

    async def ready() -> None:
        if before_each is not None:
            await before_each()

    for _ in range(warmup):
        await ready()
        await fn()
    samples: list[float] = []
    statements: list[int] = []
    last: list[T] = []  # only the latest result is kept alive
    for _ in range(repeat):
        last.clear()
        await ready()
        with _counting(engine) as counter, stopwatch() as sw:
            value = await fn()
        samples.append(sw.seconds)
        last.append(value)
        if counter is not None:
            statements.append(counter.count)
    await ready()
    peak = await peak_heap_bytes(fn)
    return Measurement(
        name=name,
        samples=tuple(samples),
        warmup=warmup,
        statement_samples=tuple(statements),
        peak_memory_mb=peak / MB,
        result=last[0],
    )


@contextmanager
def _counting(engine: AsyncEngine | Engine | None) -> Iterator[StatementCounter | None]:
    if engine is None:
        yield None
        return
    with StatementCounter(engine) as counter:
        yield counter


async def peak_heap_bytes(fn: Callable[[], Awaitable[Any]]) -> int:
    """Peak bytes tracemalloc saw during one run of ``fn`` (baseline excluded)."""
    started_here = not tracemalloc.is_tracing()
    if started_here:
        tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        await fn()
        return max(0, tracemalloc.get_traced_memory()[1] - baseline)
    finally:
        if started_here:
            tracemalloc.stop()
