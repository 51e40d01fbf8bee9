"""perfkit's pytest plugin: performance tests written with perfkit's fixtures.

Installed with perfkit (the ``pytest11`` entry point ``perfkit``), it is inert until a test asks
for one of its fixtures: a test suite that asks for none reads no scales.yaml, imports no
database driver through perfkit, and reaches, starts or connects to no database. Importing this
module imports only pytest; the work lives in :mod:`perfkit.pytest_support`, loaded by the first
fixture that needs it.

Fixtures (``pytest --fixtures -v`` shows these docstrings; docs/performance-tests.md has a worked
example):

``perf_scale``
    one test per scale of scales.yaml, staged by ``PERF_TEST_SCALE``;
``perf_data``
    the scale's dataset made ready (kept, template clone, file restore, or seed + snapshot),
    with its facts; shared and read-only, or a clone of the test's own with ``perf_clone``;
``perf_session``, ``perf_today``
    an ``AsyncSession`` on that data (the application's driver), and the data's day;
``perf_measure``
    times an async callable as ``nox -s perf-<scale>`` does, checks the budgets, appends the
    run record;
``perf_workload``
    the application's default workload (``app.default_workload``), for ``perf_measure``;
``perf_client``
    an httpx client on the application's ASGI app (``app.http``, its overrides) on the data;
``perf_load``
    runs an HTTP workload under load (users or a rate): percentiles, errors, statements per
    request, checked against its budgets, recorded;
``perf_variant``
    a clone of the scale's data with a variant applied (scales.yaml ``variants``).

Markers: ``perf_budget(seconds=..., statements=...)`` and ``perf_clone``. scales.yaml is
``$PERFKIT_CONFIG``, else the ini option ``perfkit_config``, else ``[tool.perfkit] config`` in
the nearest ``pyproject.toml``, else ``<rootdir>/scales.yaml``.

A test whose data cannot be made ready (no database, an unsafe one, a broken snapshot...) fails
with perfkit's one-line message and hint, before its body runs; other tests are not affected.

(Over 500 lines: every fixture's docstring is the user's manual, ``pytest --fixtures`` shows it;
their work is in :mod:`perfkit.pytest_support` and :mod:`perfkit.pytest_http`.)
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, cast

import pytest

if TYPE_CHECKING:  # the fixtures' types; the modules are imported when a fixture runs
    import datetime as dt

    import httpx
    from sqlalchemy.ext.asyncio import AsyncSession

    from perfkit.commands.perf import HandedRun
    from perfkit.config import Config
    from perfkit.httpconfig import HttpWorkload
    from perfkit.loadrun import LoadRun
    from perfkit.pipeline import PreparedData, ScaleRun, Timed
    from perfkit.pytest_http import VariantBinding
    from perfkit.pytest_support import Binding, PerfSession, Unavailable

F = TypeVar("F", bound=Callable[..., Any])

#: The ini option naming scales.yaml (relative to the ini file's folder).
CONFIG_INI = "perfkit_config"

_SESSION = pytest.StashKey["PerfSession"]()
#: Why a test's data is unavailable: the test fails with it before its body runs.
_FAILURE = pytest.StashKey[str]()

MARKERS = {
    "perf_budget": "perf_budget(seconds=None, statements=None): perfkit: this test's budgets for "
    "perf_measure: a number, or {scale: number}; unset ones come from scales.yaml "
    "(app.workloads.<name>.budgets, else scales.<scale>.budgets)",
    "perf_clone": "perf_clone: perfkit: the test writes: perf_data and perf_session are a "
    "fresh clone of the scale's data, its own, dropped after it; each run of perf_measure gets "
    "a fresh copy of that clone as it was when perf_measure was called",
    "performance": "performance: staged performance tests (perfkit marks every test that uses "
    "perf_scale)",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        CONFIG_INI,
        "perfkit: the scales.yaml the perf_* fixtures read ($PERFKIT_CONFIG wins; default: "
        "[tool.perfkit] config in pyproject.toml, else <rootdir>/scales.yaml)",
        default="",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Declare perfkit's markers (and ``performance``, unless the project does); nothing else."""
    declared = {str(line).split(":")[0].split("(")[0].strip() for line in config.getini("markers")}
    for name, line in MARKERS.items():
        if name not in declared:
            config.addinivalue_line("markers", line)


def config_path(config: pytest.Config) -> Path:
    """The scales.yaml to read: ``$PERFKIT_CONFIG``, else the ``perfkit_config`` ini option
    (relative to the ini file), else perfkit's own discovery from the rootdir: ``[tool.perfkit]
    config`` in the nearest ``pyproject.toml``, then ``<rootdir>/scales.yaml``
    (:func:`perfkit.config.find_config`). A file named but missing is a ``ConfigError``."""
    from perfkit.config import CONFIG_ENV, find_config

    ini = str(config.getini(CONFIG_INI) or "")
    if ini and not os.environ.get(CONFIG_ENV):
        base = config.inipath.parent if config.inipath else config.rootpath
        return find_config(base / ini, env={}, origin=f"ini option {CONFIG_INI}")
    return find_config(env=os.environ, cwd=config.rootpath)


def perf_session_state(config: pytest.Config) -> PerfSession:
    """This pytest session's perfkit state (made on first use): on the run ``perfkit perf``
    handed over (:class:`perfkit.commands.perf.HandedRun`), else on scales.yaml as
    :func:`config_path` finds it."""
    if _SESSION not in config.stash:
        from perfkit.pytest_support import PerfSession

        handed = _handed_run(config)
        if handed is not None:
            config.stash[_SESSION] = PerfSession.on_run(
                handed.run, database_ready=handed.database_ready
            )
        else:
            config.stash[_SESSION] = PerfSession(config_path(config))
    return config.stash[_SESSION]


def _handed_run(config: pytest.Config) -> HandedRun | None:
    """The run ``perfkit perf`` handed over, if this session is one it runs."""
    from perfkit.commands.perf import HandedRun

    for plugin in config.pluginmanager.get_plugins():
        if isinstance(plugin, HandedRun):
            return plugin
    return None


def perf_config(config: pytest.Config) -> Config:
    """scales.yaml as the fixtures read it; a mistake in it stops the session with perfkit's
    one line (a usage error), before any test runs."""
    from perfkit.errors import PerfkitError
    from perfkit.urls import mask_url

    try:
        return perf_session_state(config).cfg
    except PerfkitError as exc:
        raise pytest.UsageError(f"perfkit: {mask_url(exc.one_line())}") from None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One test per scale of scales.yaml, in its order, for every test that uses ``perf_scale``
    (directly or through ``perf_data``...): scales past ``PERF_TEST_SCALE`` skip with the
    staging rule's reason; each running scale gets its ``timeout`` (pytest-timeout)."""
    if "perf_scale" not in metafunc.fixturenames:
        return
    if any(
        "perf_scale" in str(m.args[:1]) for m in metafunc.definition.iter_markers("parametrize")
    ):
        return  # the test chose its scales itself
    from perfkit.errors import PerfkitError
    from perfkit.staging import scale_gates, target_scale
    from perfkit.urls import mask_url

    try:
        gates = scale_gates(perf_config(metafunc.config), target_scale(os.environ))
    except PerfkitError as exc:  # an unknown PERF_TEST_SCALE
        raise pytest.UsageError(f"perfkit: {mask_url(exc.one_line())}") from None
    timeouts = metafunc.config.pluginmanager.hasplugin("timeout")
    params = []
    for gate in gates:
        marks: list[pytest.MarkDecorator] = [pytest.mark.performance]
        if not gate.runs:
            marks.append(pytest.mark.skip(reason=gate.reason))
        elif timeouts:  # scales.yaml: scales.<name>.timeout, setup (data ready) included
            marks.append(pytest.mark.timeout(gate.scale.timeout))
        params.append(pytest.param(gate.scale.name, id=gate.scale.name, marks=marks))
    metafunc.parametrize("perf_scale", params, indirect=True, scope="session")


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    """Note each test that ran, once perfkit's fixtures are in use (a measurement that finds the
    shared data changed names the tests run since its last check); nothing otherwise."""
    state = item.config.stash.get(_SESSION, None)
    if state is not None:
        state.ran(item.nodeid)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> None:
    """A test whose data is unavailable fails here, with perfkit's one line, before its body."""
    failure = pyfuncitem.stash.get(_FAILURE, None)
    if failure is not None:
        pytest.fail(failure, pytrace=False)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The ``performance`` section: every measurement of the session, as ``nox`` shows it."""
    state = terminalreporter.config.stash.get(_SESSION, None)
    if state is None or not state.runs:
        return
    terminalreporter.section("performance")
    for run in state.runs:
        for line in run.summary_lines():
            terminalreporter.write_line(line)


def _async_fixture(fn: F) -> F:
    """pytest-asyncio's fixture (any of its modes); without pytest-asyncio, a fixture that
    fails the test asking for it with what to install."""
    try:
        import pytest_asyncio
    except ImportError:  # pragma: no cover - perfkit[test] installs it

        def needs_asyncio() -> None:
            pytest.fail("perfkit: its fixtures need pytest-asyncio: pip install pytest-asyncio")

        needs_asyncio.__name__, needs_asyncio.__doc__ = fn.__name__, fn.__doc__
        return pytest.fixture(needs_asyncio)  # type: ignore[return-value]
    return cast(F, pytest_asyncio.fixture(fn))


def _defer(request: pytest.FixtureRequest, unavailable: Unavailable) -> Unavailable:
    """Make the requesting test fail with ``unavailable``'s line when its body would run."""
    request.node.stash[_FAILURE] = unavailable.message
    return unavailable


# --------------------------------------------------------------------------------------------
# the fixtures


@pytest.fixture(scope="session")
def perf_scale(request: pytest.FixtureRequest) -> str:
    """The scale this test runs at (its name): one test per scale of scales.yaml, in the file's
    order, as perfkit's own performance test. ``PERF_TEST_SCALE=<name>`` runs ``<name>`` and the
    scales listed before it (the staging rule); the others skip, saying why; unset, every scale
    skips. Each running scale gets scales.yaml's ``timeout``. Tests using it are marked
    ``performance``."""
    param = getattr(request, "param", None)
    if not isinstance(param, str):
        pytest.fail(
            "perfkit: perf_scale comes from scales.yaml; do not parametrize it", pytrace=False
        )
    return param


@pytest.fixture(scope="session")
def _perfkit_dataset(perf_scale: str, request: pytest.FixtureRequest) -> PreparedData | Unavailable:
    """The scale's shared data, made ready once per session and scale (or why it is not)."""
    return perf_session_state(request.config).dataset(perf_scale)


@_async_fixture
async def perf_data(
    _perfkit_dataset: PreparedData | Unavailable, request: pytest.FixtureRequest
) -> AsyncIterator[PreparedData | Unavailable]:
    """The scale's dataset, made ready by the fastest valid route: kept as it is, cloned from the
    scale's template, restored from a snapshot file, or seeded and snapshotted (the database is
    brought up first, as `perfkit db-up`). Its facts: ``.scale`` (scales.yaml's), ``.anchor_date``
    (its day), ``.rows`` (per table), ``.mode``, ``.info``, ``.how`` (the route), ``.url``.

    Read-only: every test of the scale shares it (``perf_session`` refuses writes). A test that
    writes marks itself ``@pytest.mark.perf_clone`` and gets a fresh clone of its own, dropped
    after it. When the data cannot be made ready (database down, unsafe database...), the test
    fails with perfkit's one-line message and hint."""
    from perfkit.pytest_support import ENVIRONMENT_ERRORS, Unavailable, clone_of, failure_line

    shared = _perfkit_dataset
    if isinstance(shared, Unavailable):
        yield _defer(request, shared)
        return
    if request.node.get_closest_marker("perf_clone") is None:
        yield shared
        return
    clone = clone_of(perf_session_state(request.config).run, shared)
    try:
        data = await clone.__aenter__()
    except ENVIRONMENT_ERRORS as exc:
        yield _defer(request, Unavailable(failure_line(exc)))
        return
    try:
        yield data
    finally:
        await clone.__aexit__(None, None, None)


@_async_fixture
async def _perfkit_binding(
    perf_data: PreparedData | Unavailable, request: pytest.FixtureRequest
) -> AsyncIterator[Binding | Unavailable]:
    """This test's data and an engine on it (the application's driver, scales.yaml's pool)."""
    from perfkit.pytest_support import Unavailable, bind

    if isinstance(perf_data, Unavailable):
        yield perf_data
        return
    state = perf_session_state(request.config)
    async with bind(state.run, perf_data, reader=state.reader) as binding:
        yield binding


@_async_fixture
async def perf_session(
    _perfkit_binding: Binding | Unavailable,
) -> AsyncIterator[AsyncSession | Unavailable]:
    """An ``AsyncSession`` on this test's ``perf_data``, on the application's driver
    (scales.yaml ``app.driver``) with scales.yaml's ``pool`` settings: read-only on the shared
    data, writable on a ``perf_clone``. Rolled back and closed after the test. Statements sent
    through it are counted by ``perf_measure``.

    On the shared data it connects as perfkit's reader role, which may only SELECT: no
    statement makes it write, ``SET TRANSACTION READ WRITE`` included (where the server's user
    may not create roles, its transactions are READ ONLY instead). On a ``perf_clone`` it is
    closed between the runs of ``perf_measure`` (each run gets a fresh copy of the clone)."""
    from perfkit.pytest_support import Unavailable

    if isinstance(_perfkit_binding, Unavailable):
        yield _perfkit_binding
        return
    session = _perfkit_binding.session()
    try:
        yield session
    finally:
        await session.rollback()
        await session.close()


@pytest.fixture
def perf_today(perf_data: PreparedData | Unavailable) -> dt.date | Unavailable:
    """The dataset's day (``perf_data.anchor_date``), for workloads that take ``today``: the
    data's dates are relative to it, and ``perf_measure`` pins the clock to it, so a run on any
    day measures the same work."""
    from perfkit.pytest_support import Unavailable

    return perf_data if isinstance(perf_data, Unavailable) else perf_data.anchor_date


@pytest.fixture
def perf_workload(_perfkit_binding: Binding | Unavailable) -> Timed | Unavailable:
    """The application's default workload (scales.yaml ``app.default_workload``) on this test's
    data, as ``nox -s perf-<scale>`` runs it: ``await perf_measure(perf_workload)``. It keeps
    its own name and label, and its budgets from ``app.workloads.<name>.budgets``."""
    from perfkit.pytest_support import Unavailable

    if isinstance(_perfkit_binding, Unavailable):
        return _perfkit_binding
    return _perfkit_binding.workload()


@pytest.fixture
def perf_measure(
    _perfkit_binding: Binding | Unavailable, request: pytest.FixtureRequest
) -> Callable[..., Awaitable[ScaleRun]] | Unavailable:
    """``run = await perf_measure(fn, *, name=None, label=None)``: time the async callable ``fn``
    (no arguments) the way ``nox -s perf-<scale>`` does: ``measure.warmup`` untimed runs, then
    ``measure.repeat`` timed ones (median and every sample), SQL statements per run (on this
    test's engine), peak Python memory; the clock pinned to the data's day. Then it checks the
    budgets and appends a run record to results.jsonl, which ``perfkit report`` and
    ``perfkit compare`` show beside perfkit's own runs.

    ``name`` is the record's workload (default: the test's name without ``test_``); ``label``
    the summary's title (default: the test's docstring). Budgets: ``@pytest.mark.perf_budget
    (seconds=..., statements=...)``, else scales.yaml ``app.workloads.<name>.budgets.<scale>``,
    else ``scales.<scale>.budgets`` (``batch``, ``statements``; ``prepare`` and ``restore`` for
    the data's preparation). Over budget, the test fails (after the record is written).
    ``run.result`` is what ``fn`` returned; ``run.measurement``, ``run.record`` the rest.
    ``on=variant`` (from ``perf_variant``) measures on that variant's clone instead.
    ``memory=True`` (or ``{"runs": 5, "warmup": 2}``) adds the memory figures after the timed
    runs (retained heap, growth per run, leak ratio, peak RSS: :mod:`perfkit.memory`) to the
    summary and the record; ``memory_budgets={"leak_ratio": 0.2, "retained_heap_mb": 10}``
    checks them.

    On the shared data it first checks that the data is still what was prepared (catalogue,
    settings, no committed change since it was loaded): changed, the data is restored and the
    test fails, naming the tests that ran since the last check; a write committed while it
    measures fails it too. On a ``perf_clone`` test's clone, each run (warm-up, timed, memory,
    profiled) gets a fresh copy of the clone as it was when ``perf_measure`` was called."""
    from perfkit.pytest_support import Unavailable

    if isinstance(_perfkit_binding, Unavailable):
        return _perfkit_binding
    state = perf_session_state(request.config)
    node = request.node
    test_fn = request.function

    async def measure(
        fn: Callable[[], Awaitable[object]] | Timed,
        *,
        name: str | None = None,
        label: str | None = None,
        on: Binding | None = None,
        memory: bool | Mapping[str, Any] | None = None,
        memory_budgets: Mapping[str, Any] | None = None,
    ) -> ScaleRun:
        from perfkit.errors import PerfkitError
        from perfkit.pytest_support import marker_budgets, measure_call, timed_for

        binding = on or _perfkit_binding
        scale = binding.data.scale
        error: PerfkitError | None = None
        try:
            mark = node.get_closest_marker("perf_budget")
            budgets = marker_budgets(mark.args, mark.kwargs, scale=scale) if mark else None
            timed = timed_for(
                binding.cfg,
                scale,
                fn,
                name=name,
                label=label,
                test_name=getattr(node, "originalname", node.name),
                test=test_fn,
                marker=budgets,
                test_file=node.path.name,
            )
            if memory or memory_budgets:
                from perfkit.budget import argument_source
                from perfkit.pytest_http import memory_options

                settings, limits = memory_options(memory, memory_budgets)
                given = argument_source("perf_measure(memory_budgets=...)", node.path.name)
                sources = {k: given for k in (memory_budgets or {})}
                timed = dataclasses.replace(
                    timed, memory=settings, memory_budgets=limits,
                    budget_sources={**timed.budget_sources, **sources},
                )  # fmt: skip
            run = await measure_call(state, binding, timed)
        except PerfkitError as exc:
            error = exc
        if error is not None:  # failed outside the except block: no chained traceback
            from perfkit.pytest_support import failure_line

            pytest.fail(failure_line(error), pytrace=False)
        if not run.passed:
            pytest.fail(
                f"perfkit: {scale.name}: {run.workload}: " + "; ".join(run.failures),
                pytrace=False,
            )
        return run

    return measure


def _fail_with(error: BaseException) -> NoReturn:
    from perfkit.pytest_support import failure_line

    pytest.fail(failure_line(error), pytrace=False)


@_async_fixture
async def perf_client(
    _perfkit_binding: Binding | Unavailable,
) -> AsyncIterator[httpx.AsyncClient | Unavailable]:
    """An ``httpx.AsyncClient`` on the application's ASGI app (scales.yaml ``app.http.app``),
    in process, its lifespan running, with ``app.http.overrides`` in place on this test's
    ``perf_data``: its session dependency on perfkit's data (read-only on the shared data,
    writable with ``perf_clone``), its current user picked from the data (a request's
    ``x-perfkit-user`` header picks one by key), rate limiters off. The clock is pinned to the
    data's day while the client lives. ``await perf_client.get("/api/...")``."""
    from perfkit.errors import PerfkitError
    from perfkit.pytest_http import client_on
    from perfkit.pytest_support import Unavailable

    if isinstance(_perfkit_binding, Unavailable):
        yield _perfkit_binding
        return
    error: PerfkitError | None = None
    try:
        async with client_on(_perfkit_binding) as client:
            yield client
    except PerfkitError as exc:
        error = exc
    if error is not None:
        _fail_with(error)


@pytest.fixture
def perf_load(
    _perfkit_binding: Binding | Unavailable, request: pytest.FixtureRequest
) -> Callable[..., Awaitable[LoadRun]] | Unavailable:
    """``run = await perf_load(workload, *, users=N | rate=R, duration=S | iterations=N,
    warmup=None, budgets=None, name=None, on=None)``: an HTTP workload under load, as a run of
    ``nox -s perf-<scale>`` would load it. ``workload`` is the name of an
    ``app.workloads.<name>`` with ``kind: http``, or a mapping of its keys (``requests``,
    ``rows``...). ``users`` (closed model) or ``rate`` (open model, latency from the intended
    send time) and ``duration``/``iterations`` replace the workload's ``load``.

    ``run.percentiles()`` gives ``p50``, ``p90``, ``p95``, ``p99`` and ``max`` (seconds, from
    an HDR histogram); ``run.result`` the rest (``throughput``, ``errors``, ``error_rate``,
    ``statements_per_request``, ``percentile(q)``). Budgets: the workload's at this scale,
    ``budgets={"p95": 0.5, "errors": 0, "statements_per_request": 12}`` on top; any error
    fails without an error budget. Over budget, the test fails after the record is written.
    ``on=variant`` (from ``perf_variant``) loads that variant's clone instead."""
    from perfkit.pytest_support import Unavailable

    if isinstance(_perfkit_binding, Unavailable):
        return _perfkit_binding
    state = perf_session_state(request.config)

    async def load(
        workload: str | Mapping[str, Any] | HttpWorkload,
        *,
        users: int | None = None,
        rate: float | None = None,
        duration: float | None = None,
        iterations: int | None = None,
        warmup: int | None = None,
        budgets: Mapping[str, Any] | None = None,
        name: str | None = None,
        on: Binding | None = None,
    ) -> LoadRun:
        from perfkit.errors import PerfkitError
        from perfkit.pytest_http import load_call

        binding = on or _perfkit_binding
        given = {"users": users, "rate": rate, "duration": duration, "iterations": iterations,
                 "warmup": warmup}  # fmt: skip
        error: PerfkitError | None = None
        try:
            run = await load_call(
                state, binding, workload, name=name, budgets=budgets, given=given,
                test_file=request.node.path.name,
            )  # fmt: skip
        except PerfkitError as exc:
            error = exc
        if error is not None:  # failed outside the except block: no chained traceback
            _fail_with(error)
        if not run.passed:
            pytest.fail(
                f"perfkit: {binding.data.scale.name}: {run.workload}: " + "; ".join(run.failures),
                pytrace=False,
            )
        return run

    return load


@_async_fixture
async def perf_variant(
    _perfkit_dataset: PreparedData | Unavailable, request: pytest.FixtureRequest
) -> AsyncIterator[Callable[[str], Awaitable[VariantBinding]] | Unavailable]:
    """``variant = await perf_variant(name)``: a fresh clone of the scale's data with the
    variant ``name`` (scales.yaml ``variants.<name>``: SQL or a callable) applied, dropped after
    the test; never the shared data. ``variant.session()`` is a writable session on it,
    ``variant.report`` says what the variant changed, ``variant.data.variant`` names it.
    Measure on it with ``perf_measure(fn, on=variant)`` or ``perf_load(w, on=variant)``: the
    record's ``dataset.variant`` names it. Compare with the shared data in the same test to
    assert how the result changed."""
    from perfkit.errors import PerfkitError
    from perfkit.pytest_http import VariantClones
    from perfkit.pytest_support import Unavailable

    if isinstance(_perfkit_dataset, Unavailable):
        yield _defer(request, _perfkit_dataset)
        return
    variants = VariantClones(perf_session_state(request.config).run, _perfkit_dataset)

    async def make(name: str) -> VariantBinding:
        error: PerfkitError | None = None
        try:
            return await variants.open(name)
        except PerfkitError as exc:
            error = exc
        _fail_with(error)

    try:
        yield make
    finally:
        await variants.close()
