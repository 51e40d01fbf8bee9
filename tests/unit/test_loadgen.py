"""The load runner on operations of this module's own (no database, no HTTP): the closed and
open models, coordinated omission, errors, timeouts, the HDR percentiles and the budgets.

Where a test compares latencies it relies only on lower bounds that ``asyncio.sleep`` keeps
(a sleep is never shorter than asked), or on upper bounds hundreds of times above the work."""

from __future__ import annotations

import asyncio

import pytest

from perfkit.errors import ConfigError
from perfkit.loadconfig import LoadBudgets, LoadSettings
from perfkit.loadgen import (
    Exchange,
    LatencyHistogram,
    check_load,
    min_iterations,
    run_load,
)
from perfkit.typedconfig import build


def settings(**values: object) -> LoadSettings:
    return build(LoadSettings, {"warmup": 0, **values}, source="t", key_path="load")


class Server:
    """One worker: requests queue for it; each takes ``work`` seconds, iteration ``stall_at``
    takes ``stall`` seconds instead (a server that stops for a moment)."""

    def __init__(self, *, work: float = 0.001, stall_at: int = -1, stall: float = 0.0) -> None:
        self.lock = asyncio.Lock()
        self.work, self.stall_at, self.stall = work, stall_at, stall
        self.seen: list[int] = []
        self.active = 0
        self.most_active = 0

    async def __call__(self, i: int) -> Exchange:
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        try:
            async with self.lock:
                self.seen.append(i)
                await asyncio.sleep(self.stall if i == self.stall_at else self.work)
            return Exchange()
        finally:
            self.active -= 1


async def test_the_closed_model_runs_n_users_for_exactly_the_iterations_asked() -> None:
    server = Server()
    result = await run_load(server, settings(users=4, iterations=50))
    assert result.model == "closed"
    assert (result.iterations, result.requests, result.errors) == (50, 50, 0)
    assert sorted(server.seen) == list(range(50))  # each iteration once, none past the count
    assert server.most_active == 4
    assert result.latency.count == 50 and result.send_lag is None


async def test_warm_up_iterations_are_run_but_not_measured() -> None:
    server = Server()
    result = await run_load(server, settings(users=2, iterations=10, warmup=6))
    assert len(server.seen) == 16 and result.iterations == 10 and result.latency.count == 10


async def test_a_duration_stops_starting_iterations_and_waits_for_those_in_flight() -> None:
    server = Server(work=0.01)
    result = await run_load(server, settings(users=3, duration=0.2))
    assert result.iterations == len(server.seen) > 0
    assert server.active == 0
    assert result.seconds >= 0.2


async def test_the_open_model_counts_the_wait_a_stall_imposed_on_every_due_iteration() -> None:
    """Coordinated omission: 60 iterations due at 100/s; the first holds the only worker for
    0.6 s. In the open model the 59 iterations due meanwhile count their wait from their due
    time; one closed-model user would have waited instead of sending, and only one iteration
    would show the stall."""
    open_result = await run_load(Server(stall_at=0, stall=0.6), settings(rate=100, iterations=60))
    closed = await run_load(Server(stall_at=0, stall=0.6), settings(users=1, iterations=60))
    assert open_result.model == "open" and open_result.iterations == 60
    # iterations 1..40 were due at 0.01..0.40 s and served after 0.6 s: each waited >= 0.2 s
    assert open_result.percentile(50) >= 0.2
    assert open_result.latency.max >= 0.59
    assert closed.latency.max >= 0.6  # the stall itself...
    assert closed.percentile(50) < 0.2  # ...and nothing else waited
    assert open_result.send_lag is not None and open_result.send_lag.count == 60


async def test_the_open_model_counts_from_the_due_time_even_when_it_cannot_send() -> None:
    """With one iteration in flight at most, the generator itself is held up by the stall:
    the iterations it sends late still count from when they were due."""
    result = await run_load(
        Server(stall_at=0, stall=0.3), settings(rate=100, iterations=20, max_in_flight=1)
    )
    assert result.send_lag is not None and result.send_lag.max >= 0.25
    assert result.percentile(50) >= 0.2  # iterations 1..19 were due before 0.2 s


async def test_errors_exceptions_and_timeouts_are_counted_not_raised() -> None:
    async def flaky(i: int) -> Exchange:
        if i % 10 == 1:
            raise RuntimeError("boom\nsecond line")
        if i % 10 == 2:
            await asyncio.sleep(5)
        if i % 10 == 3:
            return Exchange(requests=2, errors=("GET /x -> 500",))
        return Exchange(requests=2)

    result = await run_load(flaky, settings(users=5, iterations=20, timeout=0.05))
    assert result.iterations == 20
    assert result.errors == 6 and result.requests == 2 * 20 - 4  # a failed call counts one
    assert result.error_kinds == {
        "RuntimeError: boom": 2,
        "timed out after 0.05 s": 2,
        "GET /x -> 500": 2,
    }
    assert result.error_rate == pytest.approx(6 / 36)


def test_the_histogram_reads_percentiles_to_three_significant_figures() -> None:
    h = LatencyHistogram()
    for ms in range(1, 1001):
        h.record(ms / 1000)
    assert h.count == 1000
    assert h.percentile(50) == pytest.approx(0.5, rel=1e-3)
    assert h.percentile(99) == pytest.approx(0.99, rel=1e-3)
    assert h.max == pytest.approx(1.0, rel=1e-3)
    h.record(10_000.0)  # past the range: counted as the longest it tracks
    assert h.count == 1001 and h.max == pytest.approx(3600, rel=1e-3)
    assert h.encode()  # HDR's compressed form, for a record


@pytest.mark.parametrize(
    ("values", "key_path"),
    [
        ({"users": 2, "rate": 5, "iterations": 1}, "load"),
        ({"iterations": 1}, "load"),
        ({"users": 2}, "load"),
        ({"users": 0, "iterations": 1}, "load.users"),
        ({"users": 2, "duration": -1}, "load.duration"),
        ({"users": 2, "iterations": 3, "usres": 1}, "load.usres"),
    ],
)
def test_load_settings_refuse_bad_values_naming_the_key(
    values: dict[str, object], key_path: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        build(LoadSettings, values, source="scales.yaml", key_path="load")
    assert caught.value.key_path == key_path


def test_an_unknown_key_suggests_the_close_one() -> None:
    with pytest.raises(ConfigError) as caught:
        build(LoadSettings, {"usres": 1}, source="scales.yaml", key_path="load")
    assert caught.value.suggestion == "users"


def test_budgets_name_any_percentile_the_error_rate_and_statements() -> None:
    b = build(
        LoadBudgets,
        {"p95": 0.5, "p99.9": 2, "p50": 0.1, "errors": 0, "statements_per_request": 12},
        source="s",
        key_path="b",
    )
    assert b.percentiles == {95.0: 0.5, 99.9: 2.0, 50.0: 0.1}
    assert (b.errors, b.statements_per_request) == (0, 12)


@pytest.mark.parametrize(
    "values",
    [{"p95": -1}, {"p95": "fast"}, {"p0": 1}, {"p101": 1}, {"error_rate": 2}, {"p95x": 1}],
)
def test_budgets_refuse_what_is_not_a_budget(values: dict[str, object]) -> None:
    with pytest.raises(ConfigError) as caught:
        build(LoadBudgets, values, source="scales.yaml", key_path="app.w.budgets.small")
    assert caught.value.key_path.startswith("app.w.budgets.small")


async def test_check_load_fails_a_percentile_over_budget_and_any_error_by_default() -> None:
    async def op(i: int) -> Exchange:
        await asyncio.sleep(0.002)
        return Exchange(errors=("GET / -> 503",) if i == 7 else ())

    result = await run_load(op, settings(users=2, iterations=30))
    checks, problems = check_load(result, LoadBudgets.from_config({"p90": 1e-6, "p50": 60}))
    verdicts = {c.name: c.ok for c in checks}
    assert verdicts == {"p50": True, "p90": False, "errors": False}
    assert problems == ()
    # an error budget, or a rate, lets errors through
    allowed, _ = check_load(result, LoadBudgets.from_config({"error_rate": 0.05}))
    assert {c.name: c.ok for c in allowed} == {"error_rate": True}
    # p99 from 30 iterations says nothing: a problem, not a silent pass
    _, problems = check_load(result, LoadBudgets.from_config({"p99": 60}))
    assert problems and "p99 needs at least 100 iterations" in problems[0]


def test_min_iterations_per_percentile() -> None:
    assert [min_iterations(q) for q in (50, 95, 99, 99.9, 100)] == [2, 20, 100, 1000, 1]


def test_budgets_merge_a_tests_keys_over_the_files() -> None:
    base = LoadBudgets.from_config({"p95": 0.5, "errors": 0})
    over = LoadBudgets.from_config({"p99": 1.0, "errors": 2})
    merged = base.merged(over)
    assert merged.percentiles == {95.0: 0.5, 99.0: 1.0} and merged.errors == 2
