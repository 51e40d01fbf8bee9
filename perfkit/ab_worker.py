"""One side of an A/B job (:mod:`perfkit.ab`): a warm process that runs a workload on request.

``perfkit ab`` starts two of these, one per side, always from the **candidate's** copy of this
file, run by path with ``python -P``::

    python -P <candidate>/perfkit/ab_worker.py <side's tree>

Before anything else it puts ``<side's tree>`` first on ``sys.path``, so that perfkit (when
the tree holds it, as perfkit's own repository does) and the application both come from that
side; the side's ``scales.yaml`` (``app.import_root`` and the rest) does the same for the
application's own folders. Then it answers JSON lines on stdin, one JSON line each on stdout:

``{"op": "setup", "config": PATH, "url": URL, "workload": NAME, "day": "YYYY-MM-DD", "warmup": N}``
    load the side's config and application, open an engine on the shared data (read-only
    transactions), pin the clock to ``day`` (noon UTC, ticking), run the workload ``warmup``
    times untimed. Answers ``{"ok": true, "perfkit": PATH, "label": TEXT}``.
``{"op": "run"}``
    run it once, timed with ``time.perf_counter`` here (the same code times both sides),
    statements counted on the engine. Answers ``{"ok": true, "seconds": S, "statements": N}``.
``{"op": "exit"}``
    close the engine and exit.

A failure answers ``{"ok": false, "kind": K, "error": LINE}``: ``contract`` when the side's
perfkit lacks the API below, ``writes`` when the workload tried to write, ``error`` for any
other exception. The URL reaches it on stdin, never in argv; the application's own prints go
to stderr, so stdout carries only the answers.

**The contract**: the only perfkit API this worker uses from the side's tree, all of it older
than ``perfkit ab`` itself, so a base from before it can still be measured:
``perfkit.config.load_config(path, env=...)`` (``.pool``), the application
(``.driver``, ``.workload(name)`` with ``.label`` and ``async .run(ctx)``) from
``perfkit.run.Run(cfg).app`` (or, in a perfkit from before the run context,
``perfkit.app.load_application(cfg)``),
``perfkit.db.create_engine(url, pool, driver=...)``, ``perfkit.db.create_session_factory(engine,
pool)`` and ``perfkit.workload.WorkloadContext(session_factory=..., today=...)``. Everything
else (timing, statement counting, the clock) is done here, with SQLAlchemy and time-machine.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

#: The SQLSTATE PostgreSQL answers a write in a read-only transaction with.
READ_ONLY_SQL_TRANSACTION = "25006"


class ContractError(Exception):
    """The side's perfkit lacks a piece of the worker's contract."""


def contract(module: str, *names: str) -> list[Any]:
    """``names`` from the side's ``module``, or a :class:`ContractError` naming what lacks."""
    import importlib

    try:
        found = importlib.import_module(module)
    except ImportError as exc:
        raise ContractError(f"cannot import {module}: {exc}") from None
    missing = [n for n in names if not hasattr(found, n)]
    if missing:
        where = getattr(found, "__file__", module)
        raise ContractError(f"{module} ({where}) has no {', '.join(missing)}")
    return [getattr(found, n) for n in names]


def application_loader() -> Callable[[Any], Any]:
    """``cfg -> application`` in the side's perfkit: its run context's ``app``, or the
    ``load_application(cfg)`` of a perfkit from before it."""
    try:
        (run,) = contract("perfkit.run", "Run")
    except ContractError:
        (load_application,) = contract("perfkit.app", "load_application")
        return load_application  # type: ignore[no-any-return]
    return lambda cfg: run(cfg).app


class Side:
    """The workload of one side, on an engine of its own, ready to run."""

    def __init__(self) -> None:
        self.engine: Any = None
        self.spec: Any = None
        self.ctx: Any = None
        self.count = 0
        self.stack = ExitStack()

    async def setup(self, msg: dict[str, Any]) -> dict[str, Any]:
        import time_machine
        from sqlalchemy import event

        (load_config,) = contract("perfkit.config", "load_config")
        load_application = application_loader()
        create_engine, create_session_factory = contract(
            "perfkit.db", "create_engine", "create_session_factory"
        )
        (context,) = contract("perfkit.workload", "WorkloadContext")
        env = {**os.environ, "PERFORMANCE_TEST_DATABASE_URL": msg["url"]}
        cfg = load_config(msg["config"], env=env)
        app = load_application(cfg)
        self.spec = app.workload(msg["workload"])
        engine = create_engine(msg["url"], cfg.pool, driver=app.driver)
        self.engine = engine
        readonly = engine.execution_options(postgresql_readonly=True)
        event.listen(engine.sync_engine, "before_cursor_execute", self._count)
        self.ctx = context(
            session_factory=create_session_factory(readonly, cfg.pool),
            today=dt.date.fromisoformat(msg["day"]),
        )
        noon = dt.datetime.combine(self.ctx.today, dt.time(12), tzinfo=dt.UTC)
        self.stack.enter_context(time_machine.travel(noon, tick=True))
        for _ in range(int(msg.get("warmup", 1))):
            await self.spec.run(self.ctx)
        import perfkit

        return {"ok": True, "perfkit": perfkit.__file__, "label": str(self.spec.label)}

    def _count(self, *_args: Any) -> None:
        self.count += 1

    async def run(self) -> dict[str, Any]:
        self.count = 0
        started = time.perf_counter()
        await self.spec.run(self.ctx)
        seconds = time.perf_counter() - started
        return {"ok": True, "seconds": seconds, "statements": self.count}

    async def close(self) -> None:
        self.stack.close()
        if self.engine is not None:
            await self.engine.dispose()


def failure(exc: BaseException) -> dict[str, Any]:
    """The answer for a failed request (one line of error)."""
    if isinstance(exc, ContractError):
        return {"ok": False, "kind": "contract", "error": str(exc)}
    codes = {getattr(e, "sqlstate", None) for e in (exc, getattr(exc, "orig", None), exc.__cause__)}
    kind = "writes" if READ_ONLY_SQL_TRANSACTION in codes else "error"
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return {"ok": False, "kind": kind, "error": f"{type(exc).__name__}: {first}"}


async def serve(requests: IO[str], answer: Callable[[dict[str, Any]], None]) -> None:
    """Answer ``requests`` (JSON lines) until ``exit`` or the end of input."""
    side = Side()
    try:
        for line in requests:
            msg = json.loads(line)
            op = msg.get("op")
            if op == "exit":
                break
            try:
                if op == "setup":
                    answer(await side.setup(msg))
                elif op == "run":
                    answer(await side.run())
                else:
                    answer({"ok": False, "kind": "error", "error": f"unknown op {op!r}"})
            except Exception as exc:
                answer(failure(exc))
    finally:
        await side.close()


def main(argv: list[str]) -> None:
    """``ab_worker.py <side's tree>``: see the module docstring."""
    sys.path.insert(0, str(Path(argv[1]).resolve()))
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # the application's prints: stderr

    def answer(message: dict[str, Any]) -> None:
        out.write(json.dumps(message) + "\n")
        out.flush()

    asyncio.run(serve(sys.stdin, answer))


if __name__ == "__main__":
    main(sys.argv)
