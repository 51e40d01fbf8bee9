"""Workloads: the application code the performance tests measure, and how they find it.

A workload is an async function taking a :class:`WorkloadContext` and returning an outcome
with a ``metrics()`` method. The :func:`workload` decorator marks it, without touching any
global state: it only attaches a :class:`Workload` description to the function. A
:class:`WorkloadRegistry` is built explicitly from the modules that hold workloads: an
application (:mod:`perfkit.app`) builds its own, and so can a test.

The function's docstring is its label in reports (its first line). Whatever needs no timing
(engine, connection pool, the dataset's anchor date) is set up by the caller and handed in
through the context, so only the work itself falls in the timed region.
"""

from __future__ import annotations

import datetime as dt
import inspect
import types
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from perfkit.errors import PerfkitError

if TYPE_CHECKING:  # types only: an application's workload module loads no SQLAlchemy through us
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

_MARK = "__perfkit_workload__"


class UnknownWorkloadError(PerfkitError):
    """A workload name no registered module defines."""

    exit_code = 2

    def __init__(self, name: str, valid: tuple[str, ...]) -> None:
        super().__init__(
            f"unknown workload {name!r}; known workloads: {', '.join(valid) or 'none'}",
            hint="decorate it with @workload and add its module to the registry",
        )
        self.name = name
        self.valid = valid


class Outcome(Protocol):
    """What a workload returns: anything that can state its numbers for the run record."""

    def metrics(self) -> Mapping[str, int | float]: ...


@dataclass(frozen=True)
class WorkloadContext:
    """What a workload gets from its caller: sessions on the database under test, and the day
    the run pretends it is (the dataset's anchor date, so a snapshot measures the same work
    whenever it is restored)."""

    session_factory: async_sessionmaker[AsyncSession]
    today: dt.date


OutcomeT = TypeVar("OutcomeT", bound=Outcome)
WorkloadFn = Callable[[WorkloadContext], Awaitable[Outcome]]
F = TypeVar("F", bound=Callable[[WorkloadContext], Awaitable[Any]])


@dataclass(frozen=True)
class Workload:
    """A registered workload: its name, its label (docstring's first line) and its function."""

    name: str
    label: str
    fn: WorkloadFn

    async def run(self, ctx: WorkloadContext) -> Outcome:
        """Run the workload once."""
        return await self.fn(ctx)


def workload(name: str | None = None) -> Callable[[F], F]:
    """Mark an async function as a workload called ``name`` (default: the function's name).

    The function must have a docstring: its first line is the workload's label in reports.
    """

    def mark(fn: F) -> F:
        is_async = inspect.iscoroutinefunction(fn)
        if not is_async:
            raise TypeError(f"workload {fn.__qualname__} must be an async function")
        doc = inspect.getdoc(fn)
        if not doc:
            raise TypeError(f"workload {fn.__qualname__} needs a docstring: it is its label")
        label = doc.strip().splitlines()[0].strip()
        setattr(fn, _MARK, Workload(name=name or fn.__name__, label=label, fn=fn))
        return fn

    return mark


def workload_of(fn: object) -> Workload | None:
    """The :class:`Workload` the :func:`workload` decorator attached to ``fn``, if any."""
    spec = getattr(fn, _MARK, None)
    return spec if isinstance(spec, Workload) else None


@dataclass(frozen=True)
class Metrics:
    """A workload's numbers, from whatever it returned (see :func:`as_outcome`)."""

    values: Mapping[str, int | float]

    def metrics(self) -> Mapping[str, int | float]:
        return self.values


def as_outcome(result: object) -> Outcome:
    """What a workload returned, as an :class:`Outcome`: an object with ``metrics()`` as is,
    a number as ``{"result": n}``, a mapping as its numeric entries (``True``/``False`` count
    as 1/0). Anything else is a :class:`TypeError` naming what came back."""
    if hasattr(result, "metrics") and callable(result.metrics):
        return result
    if isinstance(result, bool | int | float):
        return Metrics({"result": result})
    if isinstance(result, Mapping):
        numbers = {str(k): v for k, v in result.items() if isinstance(v, bool | int | float)}
        return Metrics(numbers)
    raise TypeError(
        f"a workload must return a number, a dict of numbers or an object with metrics(); "
        f"got {type(result).__name__}"
    )


def plan_call(fn: Callable[..., Awaitable[object]], kwargs: Mapping[str, Any]) -> WorkloadFn:
    """A workload for a function called the plan's way, ``fn(session, **kwargs)``: each run
    gets a fresh ``AsyncSession`` on the application's driver, rolled back afterwards (a dry
    run must leave nothing behind)."""

    async def run(ctx: WorkloadContext) -> Outcome:
        async with ctx.session_factory() as session:
            try:
                return as_outcome(await fn(session, **kwargs))
            finally:
                await session.rollback()

    return run


class WorkloadRegistry:
    """Workloads by name, collected from the modules given (no import-time side effects).

    ``loaders`` name workloads whose code is imported only when first asked for: a command
    that seeds or restores never imports the application's workload modules (which can take
    a second for a real application)."""

    def __init__(
        self,
        workloads: Mapping[str, Workload] | None = None,
        *,
        loaders: Mapping[str, Callable[[], Workload]] | None = None,
    ) -> None:
        self._workloads: dict[str, Workload] = dict(workloads or {})
        self._loaders: dict[str, Callable[[], Workload]] = dict(loaders or {})

    @classmethod
    def from_modules(cls, *modules: types.ModuleType) -> WorkloadRegistry:
        """Every function marked with :func:`workload` in ``modules``; names must be unique."""
        found: dict[str, Workload] = {}
        for module in modules:
            for value in vars(module).values():
                spec = getattr(value, _MARK, None)
                if not isinstance(spec, Workload):
                    continue
                if spec.name in found and found[spec.name].fn is not spec.fn:
                    raise ValueError(f"two workloads are called {spec.name!r}")
                found[spec.name] = spec
        return cls(found)

    def get(self, name: str) -> Workload:
        """The workload called ``name``; an unknown name lists the known ones. A loader that
        fails keeps its place: asked again, it fails again with its own error."""
        if name not in self._workloads and name in self._loaders:
            self._workloads[name] = self._loaders[name]()
            del self._loaders[name]
        try:
            return self._workloads[name]
        except KeyError:
            raise UnknownWorkloadError(name, self.names) from None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted({*self._workloads, *self._loaders}))

    def __iter__(self) -> Iterator[Workload]:
        return iter(self.get(n) for n in self.names)

    def __len__(self) -> int:
        return len(self.names)
