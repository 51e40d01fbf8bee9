"""scales.yaml's load and memory sections: how a workload is loaded and how often its memory is
traced, and the budgets on what that measures.

:class:`LoadSettings` and :class:`LoadBudgets` are an HTTP workload's ``load`` and ``budgets``
(:mod:`perfkit.httpconfig`) and ``perf_load``'s arguments; :class:`MemorySettings` and
:class:`MemoryBudgets` its ``memory`` and ``memory_budgets``, and ``perf_measure``'s. They are
msgspec structs of :class:`perfkit.config.Config`, checked when scales.yaml is loaded; the code
that runs the load (:mod:`perfkit.loadgen`) and traces the memory (:mod:`perfkit.memory`)
imports them from here. msgspec and perfkit's config helpers only (nothing of the ``http``
extra): the configuration imports this module.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from msgspec import Meta

from perfkit.typedconfig import Count, PositiveFloat, PositiveInt, Section

#: The closed model (``users``) or the open one (``rate``).
Model = Literal["closed", "open"]


class LoadSettings(Section, frozen=True):
    """How to load a workload: ``users`` (closed model) or ``rate`` (open model, iterations
    per second), for ``duration`` seconds and/or ``iterations`` (whichever ends first), after
    ``warmup`` untimed iterations. ``timeout``: seconds an iteration may take before it counts
    as an error; ``max_in_flight``: the open model's cap on outstanding iterations."""

    #: Virtual users, each sending its next iteration when its last one returned (closed model).
    users: Annotated[int, Meta(ge=1, le=10_000)] | None = None
    #: Iterations per second, due whatever happened before (open model).
    rate: Annotated[float, Meta(gt=0, le=100_000)] | None = None
    #: Seconds the measured phase runs.
    duration: Annotated[float, Meta(gt=0, le=24 * 3600)] | None = None
    #: Iterations the measured phase runs.
    iterations: PositiveInt | None = None
    #: Untimed iterations first.
    warmup: Count = 10
    #: Seconds an iteration may take before it counts as an error.
    timeout: PositiveFloat = 30.0
    #: The open model's cap on iterations outstanding at once.
    max_in_flight: PositiveInt = 1000

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.users is None) == (self.rate is None):
            raise ValueError("give users (closed model) or rate (open model), not both or none")
        if self.duration is None and self.iterations is None:
            raise ValueError("give duration (seconds) or iterations, or both")

    @property
    def model(self) -> Model:
        return "closed" if self.users is not None else "open"

    def describe(self) -> str:
        """``10 users`` or ``50/s``, then ``for 5 s`` and/or ``x 200``."""
        who = f"{self.users} user(s)" if self.users is not None else f"{self.rate:g}/s"
        span = [f"for {self.duration:g} s"] if self.duration is not None else []
        span += [f"{self.iterations} iterations"] if self.iterations is not None else []
        return f"{who}, {' or '.join(span)}"


_PERCENTILE_KEY = re.compile(r"p(\d{1,2}(?:\.\d+)?|100)")
#: A load budget's keys besides the percentiles, and what each must be.
_FIXED_BUDGETS = {
    "max": "a positive number of seconds",
    "errors": "a non-negative integer",
    "error_rate": "a fraction between 0 and 1",
    "statements_per_request": "a positive number",
}


def percentile_name(q: float) -> str:
    """``50.0`` -> ``p50``, ``99.9`` -> ``p99.9``."""
    return f"p{q:g}"


class LoadBudgets:
    """Limits on a load run's figures (all optional):

    - ``p<q>``: the latency at any percentile ``q`` (``p50``, ``p95``, ``p99.9``), seconds;
    - ``max``: the slowest iteration, seconds;
    - ``errors``: failed requests; ``error_rate``: failed requests over requests (0 to 1).
      With neither, ``errors: 0`` applies: any error fails the run;
    - ``statements_per_request``: SQL statements per request (counted in process only).

    Its keys are open-ended (any percentile), which no struct can say: scales.yaml's value is
    read by :meth:`from_config`, and :meth:`json_schema` describes it to editors.
    """

    __slots__ = ("error_rate", "errors", "max", "percentiles", "statements_per_request")

    def __init__(
        self,
        *,
        max: float | None = None,
        errors: int | None = None,
        error_rate: float | None = None,
        statements_per_request: float | None = None,
        percentiles: Mapping[float, float] | None = None,
    ) -> None:
        self.max = max
        self.errors = errors
        self.error_rate = error_rate
        self.statements_per_request = statements_per_request
        #: Percentile (0-100] -> seconds; written ``p95: 0.5`` in the file.
        self.percentiles: Mapping[float, float] = dict(percentiles or {})

    @classmethod
    def from_config(cls, raw: Any) -> LoadBudgets:
        """The budgets of a plain mapping (``{"p95": 0.5, "errors": 0}``); ``ValueError`` in
        the user's words for anything else."""
        if not isinstance(raw, Mapping):
            raise ValueError("expected a mapping of budgets (p95: 0.5, errors: 0, ...)")
        fixed: dict[str, Any] = {}
        percentiles: dict[float, float] = {}
        for key, value in raw.items():
            match = _PERCENTILE_KEY.fullmatch(key) if isinstance(key, str) else None
            if match is None:
                if key not in _FIXED_BUDGETS:
                    raise ValueError(
                        f"unknown budget {key!r}; budgets are p<percentile> (p50, p95, "
                        "p99.9...), max, errors, error_rate and statements_per_request"
                    )
                fixed[key] = _budget(key, value)
                continue
            q = float(match.group(1))
            if not 0 < q <= 100:
                raise ValueError(f"{key}: a percentile is above 0 and at most 100")
            percentiles[q] = _budget(key, value)
        return cls(**fixed, percentiles=percentiles)

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """What :meth:`from_config` reads, as JSON Schema."""
        seconds = {"type": "number", "exclusiveMinimum": 0}
        return {
            "type": "object",
            "description": cls.__doc__.split("\n\n")[0].strip() if cls.__doc__ else "",
            "properties": {
                "max": seconds,
                "errors": {"type": "integer", "minimum": 0},
                "error_rate": {"type": "number", "minimum": 0, "maximum": 1},
                "statements_per_request": {"type": "number", "exclusiveMinimum": 0},
            },
            "patternProperties": {r"^p(\d{1,2}(\.\d+)?|100)$": seconds},
            "additionalProperties": False,
        }

    def given(self) -> dict[str, Any]:
        """The budgets set, by name (``p95`` for a percentile)."""
        out: dict[str, Any] = {
            name: getattr(self, name) for name in _FIXED_BUDGETS if getattr(self, name) is not None
        }
        out.update({percentile_name(q): s for q, s in self.percentiles.items()})
        return out

    def merged(self, over: LoadBudgets | None) -> LoadBudgets:
        """These budgets with ``over``'s set keys on top (a test's marker over scales.yaml)."""
        if over is None:
            return self
        values = {
            name: getattr(over, name) if getattr(over, name) is not None else getattr(self, name)
            for name in _FIXED_BUDGETS
        }
        return LoadBudgets(**values, percentiles={**self.percentiles, **over.percentiles})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LoadBudgets) and self.given() == other.given()

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.given().items())))

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.given().items())
        return f"LoadBudgets({shown})"


def _budget(key: str, value: Any) -> Any:
    """``value`` of budget ``key``, checked (a number of the right kind and range)."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if key == "errors":
        if type(value) is not int or value < 0:
            raise ValueError(f"{key} must be {_FIXED_BUDGETS[key]}, got {value!r}")
        return value
    if not number or not math.isfinite(value):
        expected = _FIXED_BUDGETS.get(key, "a positive number of seconds")
        raise ValueError(f"{key} must be {expected}, got {value!r}")
    if key == "error_rate":
        if not 0 <= value <= 1:
            raise ValueError(f"{key} must be {_FIXED_BUDGETS[key]}, got {value!r}")
        return float(value)
    if value <= 0:
        expected = _FIXED_BUDGETS.get(key, "a positive number of seconds")
        raise ValueError(f"{key} must be {expected}, got {value!r}")
    return float(value)


class MemorySettings(Section, frozen=True):
    """How many times :func:`perfkit.memory.memory_profile` runs a workload: ``warmup``
    untraced runs first, then ``runs`` traced ones (at least 3: a slope needs points)."""

    #: Traced runs (3 to 1000).
    runs: Annotated[int, Meta(ge=3, le=1000)] = 5
    #: Untraced runs first.
    warmup: Count = 2


class MemoryBudgets(Section, frozen=True):
    """Limits on a :class:`perfkit.memory.MemoryProfile` (all optional)."""

    #: The most Python heap one run allocated at once, MB.
    peak_heap_mb: PositiveFloat | None = None
    #: Heap still allocated after the last run, MB.
    retained_heap_mb: PositiveFloat | None = None
    #: What each run leaves behind, KB.
    heap_growth_per_run_kb: PositiveFloat | None = None
    #: Growth per run over a run's peak heap.
    leak_ratio: PositiveFloat | None = None
    #: The process's resident-memory high-water mark, MB.
    peak_rss_mb: PositiveFloat | None = None
    #: How much the untraced run raised it, MB.
    peak_rss_delta_mb: PositiveFloat | None = None

    def given(self) -> dict[str, float]:
        """The budgets set, by name."""
        return {
            name: getattr(self, name)
            for name in self.__struct_fields__
            if getattr(self, name) is not None
        }
