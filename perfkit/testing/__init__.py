"""Test helpers: a private, throw-away PostgreSQL brought up by perfkit itself.

Tests never share the user's ``invoke db-up`` server: :func:`private_server` makes a cluster in
a temporary state folder on a free port of its own, and removes it on exit. ``tests/conftest.py``
only wires these into fixtures.

Also here: :func:`run_invoke` / :func:`start_invoke`, the one way tests run ``invoke`` in a
subprocess (with :func:`clean_env`, the one environment rule), and :func:`run_record`, the one
builder of in-memory run records.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import types
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from perfkit.config import (
    URL_ENV_VARS,
    Config,
    MeasureConfig,
    ResultsConfig,
    Scale,
    load_config,
)
from perfkit.database import Database
from perfkit.env.base import ensure_database
from perfkit.env.native import NativeEnvironment
from perfkit.locks import lock_key
from perfkit.results import RunRecord
from perfkit.schema import quote_ident
from perfkit.staging import PERF_TEST_SCALE_ENV
from perfkit.urls import SecretUrl, database_name

#: The database name tests use: it says "test", so destructive commands accept it.
TEST_DATABASE = "perfkit_test"


@asynccontextmanager
async def scratch_database(
    server_url: str, name: str, *, perfkit_made: bool = False
) -> AsyncIterator[SecretUrl]:
    """A new, empty database ``name`` on the server of ``server_url``; dropped on exit.

    Any database of that name is dropped first (a killed test's leftover). ``perfkit_made``
    creates it the way ``invoke db-up`` does, with perfkit's marker comment; otherwise it is a
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


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_test_config(
    config_file: Path,
    *,
    state_dir: Path,
    port: int,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """``config_file`` with a private state folder and port, ignoring the caller's environment.

    Spares (``snapshots.spare``) are off: a restore in a test starts no background build that
    could outlive it; the tests of spares turn them on."""
    return load_config(
        config_file,
        env={},
        overrides={
            "state_dir": str(state_dir),
            "database.port": port,
            "database.backend": "native",
            "database.name": TEST_DATABASE,
            "snapshots.directory": str(state_dir / "snapshots"),
            "snapshots.spare": False,
            **(overrides or {}),
        },
    )


@dataclass(frozen=True)
class PrivateServer:
    """A running private server: its config, environment and URL."""

    cfg: Config
    env: NativeEnvironment
    url: str

    def config_with(self, **changes: Any) -> Config:
        return msgspec.structs.replace(self.cfg, **changes)


@asynccontextmanager
async def private_server(
    config_file: Path, *, binaries: str = "auto", overrides: Mapping[str, Any] | None = None
) -> AsyncIterator[PrivateServer]:
    """Bring up a native cluster in a temporary folder; stop and delete it on exit."""
    state_dir = Path(tempfile.mkdtemp(prefix="perfkit-test-"))
    cfg = make_test_config(
        config_file,
        state_dir=state_dir,
        port=free_port(),
        overrides={"database.binaries": binaries, **(overrides or {})},
    )
    env = NativeEnvironment(cfg)
    try:
        await env.up()
        yield PrivateServer(cfg=cfg, env=env, url=env.url())
    finally:
        try:
            await env.down(remove_data=True)
        finally:
            shutil.rmtree(state_dir, ignore_errors=True)


# -- ``invoke`` in a subprocess ---------------------------------------------------------------

#: What a test's subprocess never inherits from the shell that started pytest: every
#: ``PERFKIT_*`` setting (a local ``PERFKIT_CONFIG`` or ``PERFKIT_PORT`` would point the command
#: at the user's own files or server), the database URLs and the staging switch.
NOT_INHERITED_PREFIX = "PERFKIT_"
NOT_INHERITED = (*URL_ENV_VARS, PERF_TEST_SCALE_ENV)


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """``os.environ`` without the variables above, then ``extra`` (the test's own) on top."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(NOT_INHERITED_PREFIX) and k not in NOT_INHERITED
    }
    env.update(extra or {})
    return env


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


def run_session_step(
    command: tuple[str, ...], *, root: Path, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """One step of a ``perf-<scale>`` session (``invoke ...`` or ``pytest ...``, as
    :func:`perfkit.staging.perf_session_commands` gives them), run with this interpreter as the
    session's venv would; output captured, a failure returned, not raised."""
    tool, *args = command
    if tool == "invoke":
        return run_invoke(*args, root=root, env=env, timeout=300)
    return subprocess.run(
        [sys.executable, "-m", tool, "-p", "no:cacheprovider", *args],
        cwd=root, env=clean_env(env), capture_output=True, text=True, timeout=300, check=False,
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
