"""Load: an operation run under concurrency, its latency percentiles, and their budgets.

An *operation* is an async callable ``op(i) -> Exchange``: iteration ``i`` of a workload (an
HTTP request script, :mod:`perfkit.http`, or any coroutine), returning how many requests it
sent and which of them failed. :func:`run_load` runs it after ``warmup`` untimed iterations,
in one of two models:

**closed** (``users: N``)
    N virtual users, each sending its next iteration as soon as its last one returned. The
    latency of an iteration runs from its send to its return. When the server slows down,
    the users send less: the load adapts to the server (what a fixed team of people does);
**open** (``rate: R``, iterations per second)
    iteration ``i`` is *due* at ``start + i / R``, whatever happened before. Its latency runs
    from that intended time, not from the moment it was really sent: when the server (or, in
    process, the event loop it shares with perfkit) stalls, the iterations that should have
    gone out meanwhile count their wait. A load generator that timed from the actual send
    would leave that wait out and report a p99 far below what users saw (*coordinated
    omission*). ``max_in_flight`` caps the iterations outstanding at once; a due iteration
    waits for a slot, and its wait counts too. The result also says how late the sender was
    (``send_lag``): a large lag means the generator, not only the server, fell behind.

Either runs for ``duration`` seconds or ``iterations`` iterations, whichever ends first; no
iteration starts after that, and those in flight are waited for. Latencies go to an HDR
histogram (the ``hdrhistogram`` package: 1 µs to 1 h, 3 significant digits, so p99 of a
million iterations costs a few kilobytes), from which the result reads any percentile.

An iteration fails when it raises, takes longer than ``timeout``, or returns errors (a wrong
status code, for HTTP). :class:`LoadBudgets` names limits on any percentile (``p50``,
``p95``, ``p99.9``...), ``max``, ``errors``, ``error_rate`` and ``statements_per_request``;
:func:`check_load` turns a result and its budgets into :class:`~perfkit.budget.BudgetCheck`\\ s
and problems. Without ``errors`` or ``error_rate`` in the budgets, one error fails the run.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import msgspec

from perfkit.budget import BudgetCheck
from perfkit.loadconfig import LoadBudgets, LoadSettings, Model, percentile_name
from perfkit.measure import StatementCounter
from perfkit.urls import mask_url

#: The percentiles a summary shows and a record keeps.
STANDARD_PERCENTILES = (50.0, 90.0, 95.0, 99.0)
#: Distinct error lines a result keeps (with their counts); the rest are only counted.
ERROR_KINDS_KEPT = 20
#: The HDR histogram's range, in microseconds, and its precision.
LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES = 1, 3_600_000_000, 3


@dataclass(frozen=True)
class Exchange:
    """What one iteration of an operation did: the requests it sent, and one line per request
    that failed (e.g. ``GET /api/dashboard -> 500``)."""

    requests: int = 1
    errors: tuple[str, ...] = ()


Operation = Callable[[int], Awaitable[Exchange]]


class LatencyHistogram:
    """Latencies in seconds, kept in an HDR histogram of microseconds (1 µs to 1 h, three
    significant figures: a percentile is exact to 0.1 %). A value past an hour counts as an
    hour."""

    def __init__(self) -> None:
        # the http extra's; imported here so that budgets and settings parse without it
        from hdrh.histogram import HdrHistogram

        self._hist = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)

    def record(self, seconds: float) -> None:
        micros = min(HIGHEST_US, max(LOWEST_US, round(seconds * 1_000_000)))
        self._hist.record_value(micros)

    @property
    def count(self) -> int:
        return int(self._hist.get_total_count())

    def percentile(self, q: float) -> float:
        """The latency (seconds) that ``q`` % of the values do not exceed (``q`` 0: the
        fastest); 0 when empty."""
        if not 0 <= q <= 100:
            raise ValueError(f"a percentile is in [0, 100], got {q}")
        return float(self._hist.get_value_at_percentile(q)) / 1_000_000

    @property
    def max(self) -> float:
        return float(self._hist.get_max_value()) / 1_000_000

    @property
    def mean(self) -> float:
        return float(self._hist.get_mean_value()) / 1_000_000

    def encode(self) -> str:
        """The histogram in HDR's compressed base64 form (``HdrHistogram.decode`` reads it)."""
        return bytes(self._hist.encode()).decode("ascii")


@dataclass(frozen=True)
class LoadResult:
    """A load run's figures. ``errors`` counts failed requests (an iteration that raised or
    timed out counts as one); ``latency`` holds every iteration's latency."""

    settings: LoadSettings
    #: Wall seconds of the measured phase, from the first send to the last return.
    seconds: float
    iterations: int
    requests: int
    errors: int
    latency: LatencyHistogram
    #: The distinct error lines and how often each came (the first few kinds).
    error_kinds: Mapping[str, int] = field(default_factory=dict)
    #: SQL statements sent during the measured phase; ``None`` when not counted (a server in
    #: another process).
    statements: int | None = None
    #: Open model: how late each iteration was sent after its due time.
    send_lag: LatencyHistogram | None = None

    @property
    def model(self) -> Model:
        return self.settings.model

    @property
    def throughput(self) -> float:
        """Iterations per second."""
        return self.iterations / self.seconds if self.seconds > 0 else 0.0

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def error_rate(self) -> float:
        """Failed requests over requests sent (0 when none was sent)."""
        return self.errors / self.requests if self.requests else 0.0

    @property
    def statements_per_request(self) -> float | None:
        if self.statements is None or not self.requests:
            return None
        return self.statements / self.requests

    def percentile(self, q: float) -> float:
        """Latency at percentile ``q`` (seconds)."""
        return self.latency.percentile(q)

    def percentiles(self) -> dict[str, float]:
        """``{"p50": s, "p90": s, "p95": s, "p99": s, "max": s}``."""
        out = {percentile_name(q): self.percentile(q) for q in STANDARD_PERCENTILES}
        out["max"] = self.latency.max
        return out

    def metrics(self) -> dict[str, float]:
        """The figures for a run record: ``latency_p50_seconds``..., ``throughput`` (iterations
        per second), ``requests``, ``errors``, ``error_rate`` and, when counted,
        ``statements_per_request``."""
        out: dict[str, float] = {
            f"latency_{name.replace('.', '_')}_seconds": round(value, 6)
            for name, value in self.percentiles().items()
        }
        out.update(
            throughput=round(self.throughput, 3),
            requests=self.requests,
            errors=self.errors,
            error_rate=round(self.error_rate, 6),
        )
        spr = self.statements_per_request
        if spr is not None:
            out["statements_per_request"] = round(spr, 3)
        return out

    def summary_lines(self) -> list[str]:
        """What a run prints: the load, percentiles, throughput, errors, statements."""
        p = self.percentiles()
        shown = ", ".join(f"{k} {v * 1000:.1f}" for k, v in p.items())
        lines = [
            f"  load      {self.model} model, {self.settings.describe()}: {self.iterations:,} "
            f"iterations in {self.seconds:.2f} s ({self.throughput:,.1f}/s)",
            f"  latency   ms {shown} (HDR histogram of {self.latency.count:,})",
            f"  errors    {self.errors} of {self.requests:,} requests ({self.error_rate:.2%})",
        ]
        lines += [f"            {n}x {line}" for line, n in self.error_kinds.items()]
        if self.send_lag is not None:
            lines.append(
                f"  send lag  p99 {self.send_lag.percentile(99) * 1000:.1f} ms, max "
                f"{self.send_lag.max * 1000:.1f} ms (how late the generator sent)"
            )
        spr = self.statements_per_request
        if spr is not None:
            lines.append(f"  SQL       {spr:.2f} statement(s) per request")
        return lines


class _Recorder:
    """Collects iterations' outcomes while a load runs."""

    def __init__(self) -> None:
        self.latency = LatencyHistogram()
        self.iterations = 0
        self.requests = 0
        self.errors = 0
        self.kinds: Counter[str] = Counter()

    def add(self, seconds: float, exchange: Exchange) -> None:
        self.latency.record(seconds)
        self.iterations += 1
        self.requests += exchange.requests
        self.errors += len(exchange.errors)
        for line in exchange.errors:
            if line in self.kinds or len(self.kinds) < ERROR_KINDS_KEPT:
                self.kinds[line] += 1


async def attempt(op: Operation, i: int, *, timeout: float) -> Exchange:
    """Iteration ``i`` of ``op``; a timeout or an exception is returned as an error line (the
    message's first line, URLs masked), never raised."""
    try:
        async with asyncio.timeout(timeout):
            return await op(i)
    except TimeoutError:
        return Exchange(errors=(f"timed out after {timeout:g} s",))
    except Exception as exc:
        return Exchange(errors=(exception_line(exc),))


def exception_line(exc: BaseException) -> str:
    """``Type: first line of the message``, URLs masked: an error as one line."""
    first = (str(exc).strip().splitlines() or [""])[0]
    return mask_url(f"{type(exc).__name__}: {first}" if first else type(exc).__name__)


@dataclass
class _Stop:
    """When a load stops starting iterations: after ``iterations`` or at ``deadline``."""

    iterations: int | None
    deadline: float | None

    def reached(self, i: int, now: float) -> bool:
        return (self.iterations is not None and i >= self.iterations) or (
            self.deadline is not None and now >= self.deadline
        )


async def run_load(
    op: Operation, settings: LoadSettings, *, counter: StatementCounter | None = None
) -> LoadResult:
    """Warm up, then run ``op`` as ``settings`` say (module docstring); statements are counted
    on ``counter`` (an active :class:`~perfkit.measure.StatementCounter`) during the measured
    phase only."""
    if settings.warmup:
        warm = msgspec.structs.replace(
            settings, iterations=settings.warmup, duration=None, rate=None,
            users=min(settings.users or 1, settings.warmup),
        )  # fmt: skip
        await _closed(op, warm, _Recorder())
    if counter is not None:
        counter.reset()
    rec = _Recorder()
    started = time.perf_counter()
    lag = None
    if settings.model == "closed":
        await _closed(op, settings, rec)
    else:
        lag = await _open(op, settings, rec)
    seconds = time.perf_counter() - started
    return LoadResult(
        settings=settings,
        seconds=seconds,
        iterations=rec.iterations,
        requests=rec.requests,
        errors=rec.errors,
        latency=rec.latency,
        error_kinds=dict(rec.kinds.most_common()),
        statements=counter.count if counter is not None else None,
        send_lag=lag,
    )


async def _closed(op: Operation, settings: LoadSettings, rec: _Recorder) -> None:
    """``settings.users`` users, each sending its next iteration when its last one returned."""
    users = settings.users or 1
    start = time.perf_counter()
    stop = _Stop(
        settings.iterations, start + settings.duration if settings.duration is not None else None
    )
    numbers = itertools.count()

    async def user() -> None:
        while True:
            i = next(numbers)
            sent = time.perf_counter()
            if stop.reached(i, sent):
                return
            exchange = await attempt(op, i, timeout=settings.timeout)
            rec.add(time.perf_counter() - sent, exchange)

    async with asyncio.TaskGroup() as group:
        for _ in range(users):
            group.create_task(user())


async def _open(op: Operation, settings: LoadSettings, rec: _Recorder) -> LatencyHistogram:
    """Iteration ``i`` due at ``start + i / rate``; its latency counted from then. Returns how
    late each was sent."""
    rate = settings.rate or 1.0
    start = time.perf_counter()
    stop = _Stop(
        settings.iterations, start + settings.duration if settings.duration is not None else None
    )
    slots = asyncio.Semaphore(settings.max_in_flight)
    lag = LatencyHistogram()

    async def one(i: int, due: float) -> None:
        try:
            exchange = await attempt(op, i, timeout=settings.timeout)
            rec.add(time.perf_counter() - due, exchange)
        finally:
            slots.release()

    async with asyncio.TaskGroup() as group:
        for i in itertools.count():
            due = start + i / rate
            if stop.reached(i, due):
                break
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            await slots.acquire()
            lag.record(time.perf_counter() - due)
            group.create_task(one(i, due))
    return lag


# --------------------------------------------------------------------------------------------
# budgets


def min_iterations(q: float) -> int:
    """Iterations a percentile needs to be more than the maximum: 100 for p99, 1,000 for
    p99.9, 2 for p50."""
    return math.ceil(round(100 / (100 - q), 6)) if q < 100 else 1  # 99.9: 1000, not 1001


def check_load(
    result: LoadResult, budgets: LoadBudgets | None
) -> tuple[tuple[BudgetCheck, ...], tuple[str, ...]]:
    """``result`` against ``budgets``: the checks, and problems (a budgeted percentile that
    too few iterations cannot tell apart from the maximum; statements budgeted but not
    counted)."""
    b = budgets or LoadBudgets()
    checks: list[BudgetCheck] = []
    problems: list[str] = []
    for q, limit in sorted(b.percentiles.items()):
        name = percentile_name(q)
        checks.append(BudgetCheck(name, result.percentile(q), limit))
        if result.iterations < min_iterations(q):
            problems.append(
                f"{name} needs at least {min_iterations(q):,} iterations to mean anything, got "
                f"{result.iterations:,}: run longer or at a higher rate"
            )
    if b.max is not None:
        checks.append(BudgetCheck("max", result.latency.max, b.max))
    if b.errors is not None or b.error_rate is None:
        checks.append(BudgetCheck("errors", result.errors, b.errors or 0, unit=""))
    if b.error_rate is not None:
        checks.append(BudgetCheck("error_rate", result.error_rate, b.error_rate, unit=""))
    if b.statements_per_request is not None:
        spr = result.statements_per_request
        if spr is None:
            problems.append(
                "statements_per_request is budgeted but statements were not counted (they are "
                "counted in process only, not under a server in another process)"
            )
        else:
            checks.append(
                BudgetCheck("statements_per_request", spr, b.statements_per_request, unit="")
            )
    return tuple(checks), tuple(problems)
