"""Test helpers: a private, throw-away PostgreSQL brought up by perfkit itself.

Tests never share the user's ``perfkit db-up`` server: :func:`private_server` makes a cluster in
a temporary state folder on a free port of its own, and removes it on exit. ``tests/conftest.py``
only wires these into fixtures.

Also here: :func:`run_perfkit`, the one way tests run a ``perfkit`` command in process (as a
user would from a folder, with :func:`clean_env`, the one environment rule);
:func:`run_perfkit_process` / :func:`start_perfkit` for the few tests where the process itself
is the point (exit statuses, signals, stdout and stderr apart); :func:`run_invoke` for perfkit's
own invoke tasks; and :func:`run_record`, the one builder of in-memory run records.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import datetime as dt
import io
import os
import signal
import subprocess
import sys
import types
import warnings
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec

from perfkit.config import (
    URL_ENV_VARS,
    Config,
    MeasureConfig,
    ResultsConfig,
    Scale,
)
from perfkit.database import Database
from perfkit.env.base import ensure_database
from perfkit.env.private import TEST_DATABASE as TEST_DATABASE
from perfkit.env.private import PrivateServer as PrivateServer
from perfkit.env.private import free_port as free_port
from perfkit.env.private import make_test_config as make_test_config
from perfkit.env.private import private_server as private_server
from perfkit.locks import lock_key
from perfkit.results import RunRecord
from perfkit.sqlnames import quote_ident
from perfkit.staging import PERF_TEST_SCALE_ENV
from perfkit.urls import SecretUrl, database_name


@asynccontextmanager
async def scratch_database(
    server_url: str, name: str, *, perfkit_made: bool = False
) -> AsyncIterator[SecretUrl]:
    """A new, empty database ``name`` on the server of ``server_url``; dropped on exit.

    Any database of that name is dropped first (a killed test's leftover). ``perfkit_made``
    creates it the way ``perfkit db-up`` does, with perfkit's marker comment; otherwise it is a
    plain ``CREATE DATABASE``, as a user's own database would be.
    """
    db = Database(server_url).other(name)
    async with db.admin() as admin:
        await admin.drop(name)
        if not perfkit_made:
            await admin.conn.execute(f"CREATE DATABASE {quote_ident(name)}")
    if perfkit_made:
        await ensure_database(db.url)
    try:
        yield db.url
    finally:
        async with db.admin() as admin:
            await admin.drop(name)


async def databases_named(server_url: str, prefix: str) -> list[str]:
    """The databases on the server of ``server_url`` whose names start with ``prefix``."""
    async with Database(server_url).admin() as admin:
        rows = await admin.conn.fetch(
            "SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY 1", prefix
        )
    return [str(r["datname"]) for r in rows]


async def drop_databases(server_url: str, *names: str) -> None:
    """Drop ``names`` on the server of ``server_url`` (templates too), if they exist."""
    async with Database(server_url).admin() as admin:
        for name in names:
            await admin.drop(name)


async def lock_is_free(url: str) -> bool:
    """Whether another session takes perfkit's lock on ``url``'s database at once (it is
    released again): no command holds it, nor a session a killed or failed one left."""
    key = lock_key(database_name(url))
    async with Database(url).admin() as admin:
        got = bool(await admin.conn.fetchval("SELECT pg_try_advisory_lock($1)", key))
        if got:
            await admin.conn.execute("SELECT pg_advisory_unlock($1)", key)
    return got


# -- ``invoke`` in a subprocess ---------------------------------------------------------------

#: What a test's subprocess never inherits from the shell that started pytest: every
#: ``PERFKIT_*`` setting (a local ``PERFKIT_CONFIG`` or ``PERFKIT_PORT`` would point the command
#: at the user's own files or server), the database URLs and the staging switch.
NOT_INHERITED_PREFIX = "PERFKIT_"
NOT_INHERITED = (*URL_ENV_VARS, PERF_TEST_SCALE_ENV)
#: ... except where parsed files are cached (:mod:`perfkit.parsecache`): the tests' own.
INHERITED = ("PERFKIT_CACHE_DIR",)


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """``os.environ`` without the variables above, then ``extra`` (the test's own) on top."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k in INHERITED or not (k.startswith(NOT_INHERITED_PREFIX) or k in NOT_INHERITED)
    }
    env.update(extra or {})
    return env


#: Where perfkit's own code lives: modules imported from here stay imported between commands.
_CHECKOUT = Path(__file__).resolve().parents[2]


def run_perfkit(
    *args: str, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``perfkit <args>`` run in this process (:func:`perfkit.console.main`), as a user would
    from ``cwd`` (default: perfkit's checkout): its stdout and stderr captured as text, its
    exit status returned, not raised.

    For the call, the environment is :func:`clean_env` with ``env`` on top, the warning
    filters are a fresh interpreter's (a warning prints on stderr, as it would), and the
    command runs in a thread of its own (so a test's running event loop is no obstacle).
    Afterwards everything is as it was: the environment, the folder, ``sys.path``, and the
    modules the command imported from outside perfkit's checkout and the installed packages
    (an application a test wrote in a temporary folder is imported afresh next time)."""
    with (
        _command_process(cwd=cwd, env=env) as (out, err),
        concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="perfkit") as pool,
    ):
        status = pool.submit(_main, list(args)).result()
    return subprocess.CompletedProcess(
        ["perfkit", *args], status, stdout=out.getvalue(), stderr=err.getvalue()
    )


async def perfkit_async(
    *args: str, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """:func:`run_perfkit` awaited: the test's event loop keeps running meanwhile (for a
    server the test holds in it, such as :func:`smtp_sink`)."""
    with _command_process(cwd=cwd, env=env) as (out, err):
        status = await asyncio.to_thread(_main, list(args))
    return subprocess.CompletedProcess(
        ["perfkit", *args], status, stdout=out.getvalue(), stderr=err.getvalue()
    )


def _main(args: list[str]) -> int:
    from perfkit.console import main

    return main(args)


@contextlib.contextmanager
def _command_process(
    *, cwd: Path | None, env: Mapping[str, str] | None
) -> Iterator[tuple[io.StringIO, io.StringIO]]:
    """What a command's own process would give it (see :func:`run_perfkit`), undone after."""
    environment = clean_env(env)
    saved_env = dict(os.environ)
    saved_cwd = Path.cwd()
    saved_path = list(sys.path)
    saved_modules = set(sys.modules)
    out, err = io.StringIO(), io.StringIO()
    os.environ.clear()
    os.environ.update(environment)
    os.chdir(cwd or _CHECKOUT)
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            warnings.resetwarnings()
            for action, category in _FRESH_WARNING_FILTERS:
                warnings.simplefilter(action, category)
            yield out, err
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        sys.path[:] = saved_path
        for name in set(sys.modules) - saved_modules:
            if _imported_from_elsewhere(sys.modules.get(name)):
                del sys.modules[name]


#: A fresh interpreter's warning filters (no ``-W``), the last one applied first.
_FRESH_WARNING_FILTERS: tuple[tuple[warnings._ActionKind, type[Warning]], ...] = (
    ("default", Warning),
    ("ignore", DeprecationWarning),
    ("ignore", PendingDeprecationWarning),
    ("ignore", ImportWarning),
    ("ignore", ResourceWarning),
)


def _imported_from_elsewhere(module: types.ModuleType | None) -> bool:
    """Whether ``module`` comes from neither perfkit's checkout nor the installed packages
    (an application a test wrote in a temporary folder)."""
    file = getattr(module, "__file__", None)
    if not file:
        return False
    path = Path(file).resolve()
    homes = (_CHECKOUT, Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve())
    return not any(path.is_relative_to(home) for home in homes)


def perfkit_argv(*args: str) -> list[str]:
    """``perfkit <args>`` run by this interpreter (``python -m perfkit``)."""
    return [sys.executable, "-m", "perfkit", *args]


def run_perfkit_process(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``perfkit <args>`` in a process of its own, from ``cwd``, and wait: for tests where the
    process is the point (exit statuses, stdout and stderr apart). The command sees
    :func:`clean_env` with ``env`` on top; a non-zero exit status is returned, not raised."""
    return subprocess.run(
        perfkit_argv(*args),
        capture_output=True, text=True, env=clean_env(env), cwd=cwd, timeout=timeout,
        check=False,
    )  # fmt: skip


def start_perfkit(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[str]:
    """:func:`run_perfkit_process` without waiting: the running process (output piped, as
    text), answering Ctrl-C as a command typed at a terminal does (see :func:`start_invoke`)."""
    return subprocess.Popen(
        perfkit_argv(*args),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(env), cwd=cwd,
        preexec_fn=_answer_sigint,
    )  # fmt: skip


def invoke_argv(root: Path, *args: str) -> list[str]:
    """``invoke <args>`` run by this interpreter, with ``root``'s ``tasks.py``."""
    return [sys.executable, "-m", "invoke", "--search-root", str(root), *args]


def run_invoke(
    *args: str, root: Path, env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``invoke <args>`` from the project folder ``root`` as a user would, and wait.

    The command sees :func:`clean_env` with ``env`` on top; its output is captured as text and a
    non-zero exit status is returned, not raised.
    """
    return subprocess.run(
        invoke_argv(root, *args),
        capture_output=True, text=True, env=clean_env(env), cwd=root, timeout=timeout,
        check=False,
    )  # fmt: skip


def start_invoke(
    *args: str, root: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[str]:
    """:func:`run_invoke` without waiting: the running process (output piped, as text).

    The process answers Ctrl-C (SIGINT) as a command typed at a terminal does, even when the
    test run itself was started in the background, where the shell makes SIGINT ignored and
    every child would inherit that."""
    return subprocess.Popen(
        invoke_argv(root, *args),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(env), cwd=root,
        preexec_fn=_answer_sigint,
    )  # fmt: skip


def one_error_line(done: subprocess.CompletedProcess[str] | str) -> str:
    """The one line a failed command printed on stderr (``done`` or its stderr), after checking
    what every perfkit error promises: no traceback, nothing else, ``perfkit: `` first."""
    stderr = done if isinstance(done, str) else done.stderr
    stdout = "" if isinstance(done, str) else done.stdout
    assert "Traceback" not in stderr + stdout
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("perfkit: "), lines[0]
    return lines[0]


def tiny_scale_config(cfg: Config, root: Path, *, offices: int) -> tuple[Config, Scale, Path]:
    """``cfg`` with one scale, ``tiny`` (``offices`` offices, otherwise ``small``), snapshots
    and results under ``root``, and 3 timed repeats after 1 warm-up; its scale, and a
    scales.yaml under ``root`` that says the same, for commands run as a user would."""
    tiny = msgspec.structs.replace(cfg.scale("small"), name="tiny", offices=offices, repeat=None)
    tiny_cfg = msgspec.structs.replace(
        cfg,
        scales=types.MappingProxyType({"tiny": tiny}),
        snapshots=msgspec.structs.replace(cfg.snapshots, directory=root / "snapshots"),
        results=ResultsConfig(directory=root / "results"),
        measure=MeasureConfig(repeat=3, warmup=1),
    )
    config_file = root / "scales.yaml"
    config_file.write_text(
        f"scales:\n  tiny: {{offices: {offices}}}\nresults:\n  directory: {root / 'results'}\n",
        encoding="utf-8",
    )
    return tiny_cfg, tiny, config_file


def _answer_sigint() -> None:
    """In the child, before exec: SIGINT back to its default, so Python raises
    KeyboardInterrupt on it (an ignored SIGINT would stay ignored across exec)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


# -- run records --------------------------------------------------------------------------------

#: When run 0 of :func:`run_record` happened.
RUN_T0 = dt.datetime(2026, 2, 9, 3, 0, tzinfo=dt.UTC)


def run_record(
    n: int = 0,
    *,
    scale: str = "small",
    batch: float = 0.05,
    run_id: str | None = None,
    when: str | None = None,
    step: dt.timedelta = dt.timedelta(hours=1),
    metrics: Mapping[str, float] | None = None,
    **changes: Any,
) -> RunRecord:
    """Run ``n`` of ``scale``: a record like the deadline-alert batch's, built in memory.

    It ran at ``RUN_T0 + n * step`` (``when``, ISO text, replaces that time in the record,
    even with text that is not a time), at commit ``f"{n:02x}" * 20``, with the
    id :func:`perfkit.results.new_run_id` would have given it unless ``run_id`` is given. Its
    batch median is ``batch`` seconds (three samples around it); ``metrics`` are added to or
    replace the default metrics; any other :class:`RunRecord` field is a keyword (``changes``).
    """
    moment = RUN_T0 + n * step
    base = RunRecord(
        run_id=run_id if run_id is not None else f"{moment:%Y%m%dT%H%M%SZ}-{n:08x}",
        scale=scale,
        when=when if when is not None else moment.isoformat(),
        commit=f"{n:02x}" * 20,
        machine={"hostname": "ci", "cpus": 2, "python": "3.11.9", "platform": "Linux"},
        backend="native",
        server_version="15.10",
        dataset={"mode": "realistic", "seed": 42, "generator_version": "1",
                 "anchor_date": "2026-02-09", "rows": {"offices": 10}},
        metrics={"batch_seconds": batch, "statements": 1, "peak_memory_mb": 40.0, "emails": 85,
                 "offices": 10, "seconds_per_office": batch / 10, "prepare_seconds": 1.0,
                 **(metrics or {})},
        samples={"batch_seconds": [batch * 0.9, batch, batch * 1.1]},
        budgets={"batch": 2.0, "prepare": 30.0, "restore": 5.0},
        passed=True,
        workload="deadline_alerts",
    )  # fmt: skip
    return dataclasses.replace(base, **changes)
