"""Faults, end to end, the way a user meets them: each test asserts that nothing was lost.

Every command runs as a real ``invoke`` process against a private server of this module's own
(so stopping the server here disturbs no other test). Processes are killed with SIGKILL in the
middle of their work, which no ``finally`` block survives: what protects the data is the design
(staging schemas, spare databases, temporary snapshot folders renamed into place).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest
import yaml

from perfkit.apps.welfare import application
from perfkit.config import Config, load_config
from perfkit.database import Database, spare_name
from perfkit.datagen import read_dataset_info, table_checksums
from perfkit.db import connection
from perfkit.disks import DiskFullError
from perfkit.env.base import ensure_database
from perfkit.prepare import create_snapshot
from perfkit.run import Run
from perfkit.schema import quote_ident
from perfkit.snapshot import template
from perfkit.snapshot.listing import list_snapshots
from perfkit.snapshot.restore import restore_snapshot
from perfkit.testing import (
    PrivateServer,
    clean_env,
    drop_databases,
    lock_is_free,
    private_server,
    run_perfkit,
    scratch_database,
    start_perfkit,
)
from perfkit.urls import password_of, to_asyncpg, with_database

pytestmark = pytest.mark.integration

DB = "perfkit_faults_test"
#: Big enough that a load takes a moment (about 250,000 rows), small enough for a test suite.
FAULT_SCALE = {"offices": 600, "timeout": 600, "description": "fault tests' scale"}
#: A load of a few seconds: long enough that a second command surely starts while it runs.
LONG_SCALE = {"offices": 2000, "timeout": 600, "description": "fault tests' long load"}


@dataclass
class Cli:
    """Runs ``perfkit`` commands against the module's server (in process; :meth:`start`: a
    process of its own, for the ones a test kills); remembers everything they printed.

    ``env`` is the test's own variables; :func:`run_perfkit` puts them on a clean environment.
    """

    root: Path
    env: dict[str, str]
    outputs: list[str] = field(default_factory=list)

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = run_perfkit(*args, cwd=self.root, env=self.env)
        self.outputs += [done.stdout, done.stderr]
        return done

    def start(self, *args: str) -> subprocess.Popen[str]:
        return start_perfkit(*args, cwd=self.root, env=self.env)

    def ok(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = self.run(*args)
        assert done.returncode == 0, f"perfkit {' '.join(args)}: {done.stderr}"
        return done


def one_error_line(done: subprocess.CompletedProcess[str] | tuple[int, str]) -> str:
    stderr = done.stderr if isinstance(done, subprocess.CompletedProcess) else done[1]
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip().startswith("perfkit:")]
    assert len(lines) == 1, stderr
    print(f"user saw: {lines[0]}")  # shown by `pytest -rP`: the messages a user meets
    return lines[0]


@pytest.fixture(scope="module")
async def server(config_file: Path) -> AsyncIterator[PrivateServer]:
    async with private_server(config_file) as srv:
        yield srv


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="perfkit-faults-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def cli(server: PrivateServer, config_file: Path, project_root: Path, workdir: Path) -> Cli:
    raw = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    raw["scales"]["faults"] = FAULT_SCALE
    raw["scales"]["long"] = LONG_SCALE
    config = workdir / "scales.yaml"
    config.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    env = {
        "PERFORMANCE_TEST_DATABASE_URL": with_database(server.url, DB),
        "PERFKIT_CONFIG": str(config),
        "PERFKIT_STATE_DIR": str(workdir / "state"),
        "PERFKIT_SNAPSHOT_DIR": str(workdir / "state" / "snapshots"),
        "PERFKIT_RESULTS_DIR": str(workdir / "state" / "results"),
    }
    return Cli(root=project_root, env=env)


@pytest.fixture(scope="module")
async def baseline(server: PrivateServer, cli: Cli) -> dict[str, str]:
    """The test database holding the small dataset, snapshotted: what must never be lost."""
    await ensure_database(with_database(server.url, DB))
    cli.ok("seed", "--scale", "small", "--reset")
    cli.ok("snapshot", "--scale", "small")
    return await checksums(server)


async def checksums(server: PrivateServer, db: str = DB) -> dict[str, str]:
    async with connection(with_database(server.url, db)) as conn:
        info = await read_dataset_info(conn)
        sums = await table_checksums(conn, application().tables)
    return {"scale": info.scale if info else "-", **sums}


async def wait_for(predicate: Callable[[], object], *, what: str, deadline_s: float = 60) -> None:
    """Poll ``predicate`` (sync or async) until it is truthy; fail the test past the deadline."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.005)
    pytest.fail(f"timed out waiting for {what}")


def copy_running(server: PrivateServer, db_prefix: str) -> Callable[[], object]:
    async def check() -> bool:
        async with connection(with_database(server.url, "postgres")) as conn:
            return bool(
                await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                    "AND query ILIKE 'COPY%' AND datname LIKE $1",
                    db_prefix + "%",
                )
            )

    return check


def kill(proc: subprocess.Popen[str]) -> None:
    assert proc.poll() is None, "the command finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)  # reap it and close its pipes


async def test_sigkill_during_seed_keeps_the_previous_dataset(
    server: PrivateServer, cli: Cli, baseline: dict[str, str]
) -> None:
    proc = cli.start("seed", "--scale", "faults", "--reset")
    await wait_for(copy_running(server, DB), what="the seed's COPY")
    kill(proc)
    assert await checksums(server) == baseline
    # the next command needs no manual cleanup
    cli.ok("seed", "--scale", "faults", "--reset")
    assert (await checksums(server))["scale"] == "faults"
    cli.ok("seed", "--scale", "small", "--reset")
    assert await checksums(server) == baseline


async def test_sigkill_during_snapshot_leaves_no_valid_looking_snapshot(
    server: PrivateServer, cli: Cli, baseline: dict[str, str], workdir: Path
) -> None:
    cli.ok("seed", "--scale", "faults", "--reset")
    before = [(s.entry.scale, s.entry.id) for s in list_snapshots(Run(_cfg(cli)))]
    scale_dir = workdir / "state" / "snapshots" / "faults"
    proc = cli.start("snapshot", "--scale", "faults")
    await wait_for(
        lambda: scale_dir.is_dir() and any(p.name.startswith(".tmp-") for p in scale_dir.iterdir()),
        what="the snapshot's temporary folder",
    )
    kill(proc)
    after = [(s.entry.scale, s.entry.id) for s in list_snapshots(Run(_cfg(cli)))]
    assert after == before  # nothing half-written is listed; the earlier ones are all there
    assert cli.run("verify").returncode == 0
    # the next snapshot works, and prune clears the crash's leftovers
    cli.ok("snapshot", "--scale", "faults")
    cli.ok("prune")
    assert not any(p.name.startswith(".tmp-") for p in scale_dir.iterdir())
    assert cli.run("verify").returncode == 0
    cli.ok("seed", "--scale", "small", "--reset")
    assert await checksums(server) == baseline


async def test_sigkill_during_restore_keeps_the_previous_database(
    server: PrivateServer, cli: Cli, baseline: dict[str, str]
) -> None:
    cli.ok("seed", "--scale", "faults", "--reset")
    cli.ok("snapshot", "--scale", "faults")
    faults = await checksums(server)
    cli.ok("seed", "--scale", "small", "--reset")
    assert await checksums(server) == baseline

    proc = cli.start("restore", "--scale", "faults", "--method", "file")
    await wait_for(copy_running(server, DB), what="the restore's COPY")
    kill(proc)
    assert await checksums(server) == baseline
    cli.ok("restore", "--scale", "faults", "--method", "file")
    assert await checksums(server) == faults
    cli.ok("seed", "--scale", "small", "--reset")


#: Where SIGKILL hits a template's date refresh: (the lock this test holds on the template's
#: perfkit_dataset table, the refresh's statement that waits for it). SHARE blocks the
#: refresh's UPDATE (the last one of its transaction: nothing of the shift commits); ACCESS
#: SHARE lets the shift commit and blocks the compaction after it (VACUUM FULL).
REFRESH_KILL_POINTS = {
    "in-the-shift": ("SHARE", "UPDATE"),
    "after-the-shift": ("ACCESS SHARE", "VACUUM"),
}


async def test_sigkill_during_a_template_date_refresh_is_repaired(
    server: PrivateServer, cli: Cli, baseline: dict[str, str]
) -> None:
    """A restore that moves the template's dates is killed (SIGKILL) half-way through the
    refresh: once with the shift rolled back, once with it committed and the compaction cut.
    The next restore sees the template marked as refreshing, repairs it from the anchor in
    the data, and the database it makes holds exactly what a restore from the files makes:
    dates and row counts right. (The restores around the killed one run in process.)"""
    cfg, small = _cfg(cli), _cfg(cli).scale("small")
    url, reference = with_database(server.url, DB), with_database(server.url, f"{DB}_ref")
    anchor = dt.date(2026, 1, 15)
    await restore_snapshot(Run(cfg, db=url), small, as_of=anchor, keep_template=True)
    tpl = await scale_template(server, "small")
    assert tpl.anchor_date == anchor and not tpl.refreshing
    try:
        for weeks, (lock, waiting) in enumerate(REFRESH_KILL_POINTS.values(), start=1):
            target = anchor + dt.timedelta(weeks=weeks)
            async with Database(server.url).admin() as admin:  # the lock the refresh will meet
                allow = f"ALTER DATABASE {quote_ident(tpl.name)} ALLOW_CONNECTIONS"
                await admin.conn.execute(f"{allow} true")
                holder = await asyncpg.connect(to_asyncpg(with_database(server.url, tpl.name)))
                await admin.conn.execute(f"{allow} false")
            try:
                await holder.execute(f"BEGIN; LOCK TABLE perfkit_dataset IN {lock} MODE")
                proc = cli.start(
                    "restore", "--scale", "small", "--as-of", str(target), "--method", "template"
                )
                await wait_for(refresh_waiting(server, tpl.name, waiting), what=f"the {waiting}")
                kill(proc)
            finally:
                await holder.close()  # the killed statement gets its lock, then finds no client
            await wait_for(lambda: no_sessions(server, tpl.name), what="the killed session's end")
            assert (await scale_template(server, "small")).refreshing  # not trustworthy

            report = await restore_snapshot(
                Run(cfg, db=url), small, as_of=target, method="template"
            )
            assert report.method == "template"
            repaired = await scale_template(server, "small")
            assert repaired.anchor_date == target and not repaired.refreshing
            async with Database(server.url).admin() as admin:
                assert not await admin.conn.fetchval(
                    "SELECT datallowconn FROM pg_database WHERE datname = $1", tpl.name
                )
            await restore_snapshot(Run(cfg, db=reference), small, as_of=target, method="file")
            restored = await checksums(server)
            assert restored == await checksums(server, f"{DB}_ref")  # rows and dates
            async with connection(url) as conn:
                info = await read_dataset_info(conn)
            assert info is not None and info.anchor_date == target
    finally:
        await drop_databases(server.url, f"{DB}_ref", spare_name(f"{DB}_ref"))
    await restore_snapshot(Run(cfg, db=url), small, method="file")  # as seeded: today
    assert await checksums(server) == baseline


async def scale_template(server: PrivateServer, scale: str) -> template.TemplateInfo:
    """The server's template of ``scale`` (one name per dataset: there is one)."""
    async with Database(server.url).admin() as admin:
        found = [i for i in await template.list_templates(admin) if i.scale == scale]
    assert len(found) == 1, found
    return found[0]


def refresh_waiting(server: PrivateServer, db: str, statement: str) -> Callable[[], object]:
    """Whether a session on ``db`` runs ``statement`` and waits for a lock."""

    async def check() -> bool:
        async with connection(with_database(server.url, "postgres")) as conn:
            return bool(
                await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 "
                    "AND wait_event_type = 'Lock' AND starts_with(ltrim(query), $2)",
                    db,
                    statement,
                )
            )

    return check


async def no_sessions(server: PrivateServer, db: str) -> bool:
    async with connection(with_database(server.url, "postgres")) as conn:
        n = int(await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = $1", db))
    return n == 0


async def test_server_stopped_mid_seed_fails_fast_and_db_up_recovers(
    server: PrivateServer, cli: Cli, baseline: dict[str, str]
) -> None:
    proc = cli.start("seed", "--scale", "long", "--reset")
    await wait_for(copy_running(server, DB), what="the seed's COPY")
    started = time.monotonic()
    await server.env.down()  # fast shutdown: the server terminates every session
    try:
        _out, err = proc.communicate(timeout=60)
        elapsed = time.monotonic() - started
        assert proc.returncode not in (0, None)
        assert "seeding failed" in one_error_line((proc.returncode, err))
        assert err.strip().count("\n") == 0, err  # that line alone (no asyncio warnings)
        assert elapsed < server.cfg.pool.connect_timeout + 20, "the command hung"
        assert str(password_of(server.url)) not in err
        # a command while the server is down: one line, quickly
        down = cli.run("seed", "--scale", "small")
        assert down.returncode != 0 and "cannot connect" in one_error_line(down)
    finally:
        status = await server.env.up()
    assert status.running
    assert await checksums(server) == baseline


@pytest.fixture
async def tiny_disk(workdir: Path) -> AsyncIterator[Callable[[str], Path]]:
    """``mount(size)``: a tmpfs of ``size`` (``2m``) at a folder of this test, remounted at
    each call (emptied); unmounted at the end. Skips when mounting is not permitted."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root")
    tiny = workdir / "tiny"
    tiny.mkdir(exist_ok=True)
    mounted = False

    def mount(size: str) -> Path:
        nonlocal mounted
        if mounted:
            subprocess.run(["umount", str(tiny)], check=True)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(tiny)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            pytest.skip(f"mount -t tmpfs is not permitted here: {done.stderr.strip()}")
        mounted = True
        return tiny

    yield mount
    if mounted:
        await asyncio.to_thread(subprocess.run, ["umount", str(tiny)], check=False)


def nothing_written(tiny: Path) -> None:
    """The failed snapshot left nothing on the small disk: no file, no ``.tmp-*`` folder."""
    left = sorted(str(p.relative_to(tiny)) for p in tiny.rglob("*"))
    assert left == [], f"a failed snapshot left these behind: {left}"


async def sessions_on(server: PrivateServer, db: str) -> list[str]:
    """The states of the sessions connected to ``db`` (other than this one)."""
    async with connection(with_database(server.url, "postgres")) as conn:
        rows = await conn.fetch(
            "SELECT coalesce(state, '?') AS state FROM pg_stat_activity WHERE datname = $1 "
            "AND pid <> pg_backend_pid()",
            db,
        )
    return [str(r["state"]) for r in rows]


async def test_disk_full_while_writing_a_snapshot_is_one_line_and_nothing_kept(
    server: PrivateServer,
    cli: Cli,
    baseline: dict[str, str],
    tiny_disk: Callable[[str], Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The snapshot's files fill a real (small) disk.

    In process first, before the process exits: the structured error names the device and
    the file, the lock is free and no COPY session is left (a command once hung with one
    "idle in transaction" and the lock held), and asyncpg reported nothing. Then as a user
    meets it, with the disk full at other points (the first file; a later table): each time
    one line, exit 1, nothing left, and the next command takes the lock at once."""
    cli.ok("seed", "--scale", "long", "--reset")
    tiny = tiny_disk("2m")
    env = {**cli.env, "PERFKIT_SNAPSHOT_DIR": str(tiny)}
    cfg = load_config(cli.env["PERFKIT_CONFIG"], env=env)
    with caplog.at_level(logging.WARNING, logger="asyncio"), pytest.raises(DiskFullError) as info:
        await create_snapshot(
            Run(cfg, db=cli.env["PERFORMANCE_TEST_DATABASE_URL"]), cfg.scale("long")
        )
    assert info.value.device == f"tmpfs ({tiny})" and not info.value.kept
    assert info.value.path.startswith(f"{tiny}/long/.tmp-")
    assert info.value.path.endswith(".copy.zst")
    nothing_written(tiny)
    assert await lock_is_free(with_database(server.url, DB))
    assert await sessions_on(server, DB) == []
    assert "data_received" not in caplog.text and "Traceback" not in caplog.text

    for size in ("64k", "6m"):
        tiny = tiny_disk(size)
        full = Cli(root=cli.root, env=env, outputs=cli.outputs)
        done = full.run("snapshot", "--scale", "long")
        assert done.returncode == 1, f"{size}: {done.stderr}"
        line = one_error_line(done)  # no traceback, no asyncpg report before it
        assert f"no space left on tmpfs ({tiny})" in line, line
        assert f"while writing {tiny}/" in line and "; nothing was kept" in line, line
        nothing_written(tiny)
        # a second command takes the lock at once (it would say it is waiting)
        again = cli.ok("seed", "--scale", "long")
        assert "waiting" not in again.stderr, again.stderr
    cli.ok("seed", "--scale", "small", "--reset")
    assert await checksums(server) == baseline


async def test_two_seeds_at_once_do_not_interleave(
    server: PrivateServer, cli: Cli, baseline: dict[str, str]
) -> None:
    first = cli.start("seed", "--scale", "long", "--reset", "--seed", "1")
    await wait_for(copy_running(server, DB), what="the first seed's COPY")
    second = cli.start("seed", "--scale", "small", "--reset")
    out1, err1 = first.communicate(timeout=120)
    out2, err2 = second.communicate(timeout=120)
    cli.outputs += [out1, err1, out2, err2]
    assert first.returncode == 0, err1
    assert second.returncode == 0, err2
    assert "waiting" in err2  # the second said it waited for the first
    assert await checksums(server) == baseline  # the last one to run wins, whole


async def test_a_database_named_like_production_is_never_changed(
    server: PrivateServer, cli: Cli, baseline: dict[str, str]
) -> None:
    prod = "keikakun"
    async with scratch_database(server.url, prod) as prod_url:
        conn = await asyncpg.connect(to_asyncpg(prod_url))
        try:
            await conn.execute(
                "CREATE TABLE offices (id uuid PRIMARY KEY, name text);"
                "INSERT INTO offices SELECT gen_random_uuid(), 'office ' || g "
                "FROM generate_series(1, 50) g;"
                "CREATE TABLE audit (id int, note text); INSERT INTO audit VALUES (1, 'keep');"
            )
            before = await _whole_database(conn)
        finally:
            await conn.close()

        env = {**cli.env, "PERFORMANCE_TEST_DATABASE_URL": prod_url}
        user = Cli(root=cli.root, env=env, outputs=cli.outputs)
        for args in (
            ("seed", "--scale", "small"),
            ("seed", "--scale", "small", "--reset"),
            ("seed", "--scale", "small", "--reset", "--confirm-database", "keikakun_prod"),
            ("restore", "--scale", "small"),
            ("restore", "--scale", "small", "--method", "file"),
            ("prepare", "--scale", "small"),
            ("snapshot", "--scale", "small"),
        ):
            done = user.run(*args)
            assert done.returncode != 0, f"invoke {' '.join(args)} was allowed"
            assert prod in one_error_line(done)
        user.run("db-down", "--remove-data")  # external: perfkit must not touch it

        conn = await asyncpg.connect(to_asyncpg(prod_url))
        try:
            assert await _whole_database(conn) == before
        finally:
            await conn.close()


async def test_no_password_in_any_output_or_file(
    server: PrivateServer, cli: Cli, baseline: dict[str, str], workdir: Path, project_root: Path
) -> None:
    """Runs the remaining commands, then scans everything printed and written in this module."""
    for args in (
        ("db-status",),
        ("snapshots",),
        ("verify",),
        ("prune", "--dry-run"),
        ("prepare", "--scale", "small"),
        ("restore", "--scale", "small"),
    ):
        cli.ok(*args)
    perf = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "pytest", "-m", "performance", "tests/performance", "-q",
         "-p", "no:cacheprovider"],
        capture_output=True, text=True, cwd=project_root, timeout=300, check=False,
        env=clean_env({**cli.env, "PERF_TEST_SCALE": "small"}),
    )  # fmt: skip
    cli.outputs += [perf.stdout, perf.stderr]
    assert perf.returncode == 0, perf.stdout[-2000:]
    for args in (("report", "--format", "both"), ("compare",)):
        cli.ok(*args)
    wrong = {**cli.env, "PERFORMANCE_TEST_DATABASE_URL": server.url.replace("@", "x@", 1)}
    bad = Cli(root=cli.root, env=wrong, outputs=cli.outputs).run("seed", "--scale", "small")
    assert bad.returncode != 0

    password = password_of(server.url)
    assert password and len(password) >= 16
    for i, text in enumerate(cli.outputs):
        assert password not in text, f"output #{i} shows the password"
    written = [p for p in workdir.rglob("*") if p.is_file() and p.name != "password"]
    assert any(p.suffix == ".jsonl" for p in written)  # the run records are among them
    for path in written:
        assert password.encode() not in path.read_bytes(), f"{path} holds the password"


def _cfg(cli: Cli) -> Config:
    return load_config(cli.env["PERFKIT_CONFIG"], env=cli.env)


async def _whole_database(conn: asyncpg.Connection) -> dict[str, object]:
    """Every relation, schema, and the contents of every user table."""
    relations = await conn.fetch(
        "SELECT n.nspname, c.relname, c.relkind FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') "
        "ORDER BY 1, 2"
    )
    out: dict[str, object] = {"relations": [tuple(r) for r in relations]}
    for r in relations:
        if r["relkind"] == "r":
            table = f"{quote_ident(r['nspname'])}.{quote_ident(r['relname'])}"
            # identifiers from the catalog, quoted
            query = f"SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM {table} t"  # noqa: S608, E501
            out[table] = await conn.fetchval(query)
    return out
