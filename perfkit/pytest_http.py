"""What the pytest plugin's HTTP, load and variant fixtures do (``perf_client``, ``perf_load``,
``perf_variant``) and ``perf_measure``'s memory option, apart from pytest's wiring
(:mod:`perfkit.pytest_plugin`).

Imported when a test asks for one of those fixtures. Everything goes through the run paths the
command-line runs use: :func:`perfkit.http.target.http_target` for the client,
:func:`perfkit.loadrun.load_and_record` for a load (budgets checked, record appended), and
:func:`perfkit.pytest_support.clone_of` + :func:`perfkit.snapshot.variants.apply_variant` for
a variant's clone.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import httpx
import msgspec

from perfkit.config import Config
from perfkit.http.target import http_target
from perfkit.httpconfig import HttpWorkload, http_app, http_workload
from perfkit.loadconfig import LoadBudgets, LoadSettings, MemoryBudgets, MemorySettings
from perfkit.loadrun import LoadRun, load_and_record
from perfkit.pipeline import PreparedData, pinned_clock
from perfkit.pytest_support import Binding, PerfSession, bind, clone_of
from perfkit.snapshot.variants import VariantReport, apply_variant
from perfkit.typedconfig import build
from perfkit.variants import variant_named

if TYPE_CHECKING:
    from perfkit.run import Run

#: The key path a test's own load settings, budgets and scripts are named by in errors.
TEST_KEY = "perf_load"
#: ``perf_load``'s type: ``run = await perf_load(workload, *, users=..., rate=..., ...)``.
PerfLoad = Callable[..., Awaitable[LoadRun]]


@dataclasses.dataclass(frozen=True)
class VariantBinding(Binding):
    """A test's clone of the scale's data with a variant applied (``data.variant`` names it),
    the engine on it, and what the variant did (``report``)."""

    report: VariantReport | None = None


#: ``perf_variant``'s type: ``variant = await perf_variant(name)``.
PerfVariant = Callable[[str], Awaitable[VariantBinding]]


@asynccontextmanager
async def variant_of(run: Run, shared: PreparedData, name: str) -> AsyncIterator[VariantBinding]:
    """A fresh clone of ``shared``'s scale with variant ``name`` (scales.yaml ``variants``)
    applied, bound to an engine; dropped on exit."""
    cfg = run.cfg
    variant = variant_named(cfg.variants, name, shared.scale.name)
    async with clone_of(run, shared) as clone:
        report = await apply_variant(clone.url, name, variant, cfg=cfg)
        async with bind(run, dataclasses.replace(clone, variant=name)) as binding:
            yield VariantBinding(
                run=binding.run, data=binding.data, engine=binding.engine, report=report
            )


class VariantClones:
    """The variants a test asked ``perf_variant`` for. Each clone lives in a task of its own,
    from its creation in the test's body to the fixture's teardown: perfkit's lock on a clone
    is held per task, and is let go in the task that took it."""

    def __init__(self, run: Run, shared: PreparedData) -> None:
        self._run = run
        self._shared = shared
        self._release = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def open(self, name: str) -> VariantBinding:
        """A clone with variant ``name`` applied, kept until :meth:`close`."""
        ready: asyncio.Future[VariantBinding] = asyncio.get_running_loop().create_future()

        async def hold() -> None:
            try:
                async with variant_of(self._run, self._shared, name) as binding:
                    ready.set_result(binding)
                    await self._release.wait()
            except BaseException as exc:
                if ready.done():
                    raise
                ready.set_exception(exc)

        self._tasks.append(asyncio.create_task(hold()))
        return await ready

    async def close(self) -> None:
        """Drop every clone (their tasks end; a failure to drop one is raised)."""
        self._release.set()
        await asyncio.gather(*self._tasks)


@asynccontextmanager
async def client_on(binding: Binding) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on the application's app in process (``app.http``, its overrides) on
    ``binding``'s data, the clock pinned to the data's day while it lives."""
    data = binding.data
    async with http_target(
        binding.cfg,
        http_app(binding.cfg),
        url=data.url,
        writable=data.cloned,
        engine=binding.engine,
    ) as target:
        with pinned_clock(data.anchor_date):
            yield target.client


def load_workload(
    cfg: Config, spec: str | Mapping[str, Any] | HttpWorkload, *, name: str | None
) -> tuple[str, HttpWorkload]:
    """The HTTP workload ``spec`` names (``app.workloads.<spec>``), or ``spec`` itself (a
    mapping of an HTTP workload's keys; ``kind: http`` may be left out), and its name."""
    if isinstance(spec, str):
        return name or spec, http_workload(cfg, spec)
    if isinstance(spec, HttpWorkload):
        return name or "http", spec
    workload = build(HttpWorkload, {"kind": "http", **spec}, source="test", key_path=TEST_KEY)
    return name or "http", workload


def load_settings(workload: HttpWorkload, given: Mapping[str, Any]) -> LoadSettings | None:
    """The workload's load with a test's ``users``/``rate``, ``duration``/``iterations`` and
    ``warmup`` on top (``None`` values are not given): ``users`` replaces ``rate`` and the other
    way round; ``duration`` or ``iterations`` replace both of the workload's stopping rules."""
    chosen = {k: v for k, v in given.items() if v is not None}
    if not chosen:
        return None
    values = msgspec.structs.asdict(workload.load)
    if "users" in chosen or "rate" in chosen:
        values.update(users=None, rate=None)
    if "duration" in chosen or "iterations" in chosen:
        values.update(duration=None, iterations=None)
    values.update(chosen)
    return build(LoadSettings, values, source="test", key_path=TEST_KEY)


async def load_call(
    state: PerfSession,
    binding: Binding,
    spec: str | Mapping[str, Any] | HttpWorkload,
    *,
    name: str | None,
    budgets: Mapping[str, Any] | None,
    given: Mapping[str, Any],
    test_file: str | None = None,
) -> LoadRun:
    """Run an HTTP workload's load on ``binding``'s data, check its budgets (scales.yaml's at
    the scale, ``budgets`` on top), append the record; the run is kept for the summary."""
    called, workload = load_workload(binding.cfg, spec, name=name)
    extra = (
        build(LoadBudgets, dict(budgets), source="test", key_path=f"{TEST_KEY}.budgets")
        if budgets
        else None
    )
    run = await load_and_record(
        binding.run.on(binding.data.url),
        binding.data,
        called,
        workload,
        run_id=state.run_id,
        load=load_settings(workload, given),
        budgets=extra,
        lock=not binding.data.cloned,  # a clone is the test's own
        test_file=test_file,
    )
    state.runs.append(run)
    return run


def memory_options(
    memory: bool | Mapping[str, Any] | None, budgets: Mapping[str, Any] | None
) -> tuple[MemorySettings | None, MemoryBudgets | None]:
    """``perf_measure``'s ``memory`` (``True``, or ``{"runs": K, "warmup": W}``) and
    ``memory_budgets`` (``{"leak_ratio": 0.2, "retained_heap_mb": 10, ...}``) as models;
    budgets alone turn the memory figures on."""
    if not memory and not budgets:
        return None, None
    values = dict(memory) if isinstance(memory, Mapping) else {}
    settings = build(MemorySettings, values, source="test", key_path="memory")
    limits = (
        build(MemoryBudgets, dict(budgets), source="test", key_path="memory_budgets")
        if budgets
        else None
    )
    return settings, limits
