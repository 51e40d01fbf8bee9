"""HTTP workloads on the prepared data: the app behind a client, and a load run of a script.

:func:`http_target` gives an :class:`HttpTarget`: an httpx client on the application's app
with ``app.http.overrides`` in place, on a session factory on the data at ``url`` (read-only
unless ``writable``, i.e. a clone). In process (the default) the app runs in this event loop
(:mod:`perfkit.http.client`) and the statements it sends are counted on the engine; with
``mode: server`` it runs under uvicorn in a child process (:mod:`perfkit.http.server`).

:func:`run_script_load` binds a workload's script to its rows and runs it under its load
(:func:`perfkit.loadgen.run_load`): one iteration sends the script's requests in order; a
response whose status the request does not accept (:meth:`~perfkit.httpconfig.RequestSpec.
accepts`) is an error line ``METHOD path -> status``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from perfkit.config import Config
from perfkit.db import create_session_factory, open_engine
from perfkit.http.client import in_process_client
from perfkit.http.overrides import USER_HEADER, load_users, overridden
from perfkit.http.script import BoundScript, bind_script, load_rows
from perfkit.http.server import ServeSpec, uvicorn_server
from perfkit.httpconfig import HttpApp, HttpWorkload, Mode
from perfkit.loadconfig import LoadSettings
from perfkit.loadgen import Exchange, LoadResult, Operation, run_load
from perfkit.loading import import_object, prepare_import, test_database_url
from perfkit.measure import StatementCounter
from perfkit.text import join_key

#: The server client's own timeout, seconds: a load run times each iteration out itself
#: (``load.timeout``), this only ends a request nothing else would.
CLIENT_TIMEOUT = 600.0


@dataclass(frozen=True)
class HttpTarget:
    """The app behind ``client``, on the data that ``session_factory`` reaches."""

    client: httpx.AsyncClient
    #: Sessions on the data (read-only unless writable): the script's rows are read with it.
    session_factory: async_sessionmaker[AsyncSession]
    #: The engine the app's sessions use, statements counted on it; ``None`` under a server.
    engine: AsyncEngine | None
    mode: Mode


@asynccontextmanager
async def http_target(
    cfg: Config,
    http: HttpApp,
    *,
    url: str,
    writable: bool = False,
    mode: Mode = "in-process",
    engine: AsyncEngine | None = None,
) -> AsyncIterator[HttpTarget]:
    """The application's app on the data at ``url`` (module docstring). ``engine`` (on
    ``url``, the application's driver) is used when given, else one is made and disposed of."""
    own = engine is None
    engine = engine or await open_engine(url, cfg.pool, driver=cfg.app.driver)
    bound = engine if writable else engine.execution_options(postgresql_readonly=True)
    factory = create_session_factory(bound, cfg.pool)
    source = str(cfg.source)
    try:
        # its settings, here and in a server's process
        prepare_import(cfg, database_url=test_database_url(cfg))
        if mode == "in-process":
            app = import_object(http.app, key="app.http.app", source=source)
            pick = http.overrides.current_user
            users = await load_users(pick, factory, source=source) if pick else None
            with overridden(
                app, http.overrides, session_factory=factory, users=users, source=source
            ):
                async with in_process_client(app, base_url=http.base_url) as client:
                    yield HttpTarget(client=client, session_factory=factory, engine=engine,
                                     mode=mode)  # fmt: skip
        else:
            spec = ServeSpec(
                app=http.app,
                url=url,
                driver=cfg.app.driver,
                pool=cfg.pool,
                overrides=http.overrides,
                writable=writable,
                source=source,
            )
            limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
            async with (
                uvicorn_server(
                    spec,
                    ready_path=http.server.ready_path,
                    startup_timeout=http.server.startup_timeout,
                ) as base_url,
                httpx.AsyncClient(
                    base_url=base_url, timeout=CLIENT_TIMEOUT, limits=limits
                ) as client,
            ):
                yield HttpTarget(client=client, session_factory=factory, engine=None, mode=mode)
    finally:
        if own:
            await engine.dispose()


def script_operation(client: httpx.AsyncClient, script: BoundScript) -> Operation:
    """Iteration ``i`` of ``script`` sent through ``client``, as a load operation."""

    async def op(i: int) -> Exchange:
        calls = script.calls(i)
        errors = []
        for call in calls:
            headers = dict(call.headers)
            if call.user is not None:
                headers[USER_HEADER] = call.user
            response = await client.request(
                call.spec.method,
                call.path,
                params=call.params or None,
                json=call.json,
                headers=headers,
            )
            if not call.spec.accepts(response.status_code):
                errors.append(f"{call.spec.label} -> {response.status_code}")
        return Exchange(requests=len(calls), errors=tuple(errors))

    return op


async def bound_script(
    target: HttpTarget, workload: HttpWorkload, *, source: str, key_path: str
) -> BoundScript:
    """``workload``'s requests bound to its rows, read once from the target's data."""
    rows = (
        await load_rows(
            workload.rows,
            target.session_factory,
            source=source,
            key_path=join_key(key_path, "rows"),
        )
        if workload.rows is not None
        else ()
    )
    return bind_script(workload.requests, rows, source=source, key_path=key_path)


async def run_script_load(
    target: HttpTarget,
    workload: HttpWorkload,
    *,
    source: str,
    key_path: str,
    load: LoadSettings | None = None,
) -> LoadResult:
    """``workload``'s script under ``load`` (default: the workload's own), on ``target``;
    statements per request counted in process."""
    script = await bound_script(target, workload, source=source, key_path=key_path)
    op = script_operation(target.client, script)
    settings = load or workload.load
    if target.engine is None:
        return await run_load(op, settings)
    with StatementCounter(target.engine) as counter:
        return await run_load(op, settings, counter=counter)
