"""``perfkit bench-restore``: restore methods timed side by side, in one run, on one server.

For each scale (default medium and large), on the configured server:

* the plan's method: a plain-SQL ``pg_dump`` replayed by ``psql`` into a fresh database;
* ``pg_dump -Fc`` + ``pg_restore -j 2`` into a fresh database;
* perfkit's restore from file (verify, load, indexes, ``ANALYZE``, swap), also with a 30-day
  date shift, perfkit's restore from the template (verify, clone, swap), and from the
  template's ready spare (verify, check, rename: ``spare rename``), in process;
* the spare's build (what runs in the background after a restore), raw template clones with
  ``STRATEGY WAL_LOG`` and ``FILE_COPY``;
* ``perfkit restore --scale NAME`` as a whole command, process start included, without a ready
  spare and with one (when ``snapshots.spare`` is on: the background build after the first is
  waited for, untimed);
* snapshot creation time and size next to ``pg_dump``'s.

Methods run round-robin ``repeat`` times so that the noise of a shared machine hits them all
alike; the table shows medians and the ratio to ``pg_restore -j 2``. Client binaries must match
the server's major version (the native backend's recorded bindir, else ``pg_config --bindir``);
when they do not, the pg_dump rows are skipped and the table says why. The password reaches
them through a temporary 0600 ``PGPASSFILE``, never argv.

The source dataset lives in ``perfkit_bench_test_<scale>`` (kept for the next run), and so do
the scale's template and its spare; every other database the benchmark makes is dropped. The
rows other than ``spare rename`` and the ``perfkit restore`` ones run with spares off, so that
they time what they name.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

import msgspec

from perfkit.config import Config, Scale
from perfkit.database import Database, ready_spare_name
from perfkit.errors import DatabaseEnvError
from perfkit.prepare import prepare as ensure_dataset
from perfkit.snapshot import spare_build, spares, template
from perfkit.snapshot.create import write_snapshot
from perfkit.snapshot.dataset import expected_key
from perfkit.snapshot.restore import restore_snapshot
from perfkit.snapshot.store import SnapshotStore
from perfkit.text import human_bytes
from perfkit.urls import password_of, to_asyncpg, with_database
from perfkit.views import table

if TYPE_CHECKING:
    from perfkit.run import Run

BASELINE = "pg_restore -j 2"


@dataclass
class Row:
    """One timed method: samples in seconds and, for dumps, a size in bytes."""

    group: str
    method: str
    scale: str = ""
    samples: list[float] = field(default_factory=list)
    size: int | None = None
    note: str = ""

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None


@dataclass(frozen=True)
class Clients:
    """``pg_dump``, ``pg_restore`` and ``psql`` of the server's major version."""

    bindir: Path
    env: dict[str, str]
    args: tuple[str, ...]

    def run(self, tool: str, *args: str) -> None:
        done = subprocess.run(
            [str(self.bindir / tool), *self.args, *args],
            env=self.env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            tail = " | ".join(done.stderr.strip().splitlines()[-2:])
            raise DatabaseEnvError(f"{tool} failed ({done.returncode}): {tail}")


def find_bindir(cfg: Config) -> Path | None:
    """The client binaries matching perfkit's server: the native backend's recorded bindir,
    else ``pg_config --bindir``."""
    try:
        recorded = json.loads((cfg.state_dir / "native.json").read_text(encoding="utf-8"))
        if recorded.get("bindir"):
            return Path(recorded["bindir"])
    except (OSError, ValueError):
        pass
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0 and out.stdout.strip():
            return Path(out.stdout.strip())
    return None


@contextlib.contextmanager
def client_env(url: str, bindir: Path, workdir: Path) -> Iterator[Clients]:
    """Arguments and a PGPASSFILE for the client tools (the password never goes in argv)."""
    parts = urlsplit(to_asyncpg(url))
    passfile = workdir / "pgpass"
    fd = os.open(passfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        password = (password_of(url) or "").replace("\\", "\\\\").replace(":", "\\:")
        fh.write(f"*:*:*:*:{password}\n")
    env = {**os.environ, "PGPASSFILE": str(passfile), "PGCONNECT_TIMEOUT": "10"}
    env.pop("PGPASSWORD", None)
    args = (
        "-h", parts.hostname or "127.0.0.1",
        "-p", str(parts.port or 5432),
        "-U", unquote(parts.username or "postgres"),
    )  # fmt: skip
    try:
        yield Clients(bindir=bindir, env=env, args=args)
    finally:
        passfile.unlink(missing_ok=True)


async def run_benchmark(run: Run, scales: list[Scale], *, repeat: int = 3) -> list[Row]:
    """Run the benchmark (see the module docstring) on the run's server; return its rows
    (:func:`render` makes the table)."""
    rows: list[Row] = []
    for scale in scales:
        rows += await _bench_scale(run, scale, repeat=max(1, repeat))
    return rows


async def _bench_scale(run: Run, scale: Scale, *, repeat: int) -> list[Row]:
    url = str(run.db.url)
    say = run.note
    spare_on = run.cfg.snapshots.spare  # what the `perfkit restore` rows get, from scales.yaml
    run_on = run.with_config(_with_spares(run.cfg, on=True))
    run = run.with_config(_with_spares(run.cfg, on=False))
    cfg = run.cfg
    source = f"perfkit_bench_test_{scale.name}"
    source_url = with_database(url, source)
    on_source = run.on(source_url)
    target = f"perfkit_bench_test_{scale.name}_target"
    target_url = with_database(url, target)
    on_target = run.on(target_url)
    admin_url = with_database(url, "postgres")
    run.say(f"{scale.name}: preparing the source dataset ...")
    prepared = await ensure_dataset(on_source, scale)
    say(f"{scale.name}: source {source!r} {prepared.how} ({prepared.info.describe()})")
    store = SnapshotStore.for_run(run)
    snap = store.latest(scale.name)
    if snap is None or snap.manifest.dataset_key != expected_key(run, scale):
        snap = await write_snapshot(on_source, scale, store=store)
    # The template must hold this very snapshot for `--method template`.
    await restore_snapshot(on_target, scale, snapshot_id=snap.id, keep_template=True)
    async with Database(admin_url).admin() as admin:
        tpl = await template.find(admin, scale.name, snap.manifest.dataset_key)
    assert tpl is not None
    owner = template.owner_of(cfg.state_dir)
    spare = Spare(Database(admin_url), tpl.name, owner, run.app.tables, target)

    work = Path(tempfile.mkdtemp(prefix="perfkit-bench-"))
    bindir = find_bindir(cfg)
    rows = {
        name: Row(group, name)
        for group, name in (
            ("create", "perfkit snapshot"),
            ("create", "pg_dump -Fc"),
            ("create", "pg_dump plain (plan)"),
            ("restore", "psql < plain (plan)"),
            ("restore", BASELINE),
            ("restore", "perfkit file"),
            ("restore", "perfkit file, +30 days"),
            ("restore", "perfkit template"),
            ("restore", "spare rename"),
            ("restore", "perfkit restore (process)"),
            ("restore", "perfkit restore, spare (process)"),
            ("clone", "spare build"),
            ("clone", "clone WAL_LOG"),
            ("clone", "clone FILE_COPY"),
        )
    }
    for row in rows.values():
        row.scale = scale.name
    try:
        with contextlib.ExitStack() as stack:
            clients: Clients | None = None
            note = await _client_problem(url, bindir)
            if note is None and bindir is not None:
                clients = stack.enter_context(client_env(url, bindir, work))
            else:
                for name in ("pg_dump -Fc", "pg_dump plain (plan)",
                             "psql < plain (plan)", BASELINE):  # fmt: skip
                    rows[name].note = note or "no client binaries"
            tmp_store = SnapshotStore(work / "snapshots")
            for round_no in range(repeat):
                say(f"{scale.name}: round {round_no + 1} of {repeat}")
                t = time.perf_counter()
                made = await write_snapshot(on_source, scale, store=tmp_store, make_latest=False)
                _record(rows["perfkit snapshot"], t, made.manifest.size)
                shutil.rmtree(made.path)
                if clients is not None:
                    custom = work / "dump.custom"
                    plain = work / "dump.sql"
                    t = time.perf_counter()
                    clients.run("pg_dump", "-Fc", "-f", str(custom), source)
                    _record(rows["pg_dump -Fc"], t, custom.stat().st_size)
                    t = time.perf_counter()
                    clients.run("pg_dump", "-Fp", "-f", str(plain), source)
                    _record(rows["pg_dump plain (plan)"], t, plain.stat().st_size)

                    await _timed_into(
                        admin_url,
                        rows["psql < plain (plan)"],
                        f"perfkit_bench_test_{scale.name}_plain",
                        functools.partial(_psql_replay, clients, plain),
                    )
                    await _timed_into(
                        admin_url,
                        rows[BASELINE],
                        f"perfkit_bench_test_{scale.name}_custom",
                        functools.partial(_pg_restore, clients, custom),
                    )
                t = time.perf_counter()
                await restore_snapshot(on_target, scale, snapshot_id=snap.id, method="file")
                _record(rows["perfkit file"], t)
                t = time.perf_counter()
                await restore_snapshot(
                    on_target, scale, snapshot_id=snap.id, method="file",
                    as_of=dt.date.today() + dt.timedelta(days=30),
                )  # fmt: skip
                _record(rows["perfkit file, +30 days"], t)
                t = time.perf_counter()
                await restore_snapshot(on_target, scale, snapshot_id=snap.id, method="template")
                _record(rows["perfkit template"], t)
                await spare.drop()
                t = time.perf_counter()
                await spare.build()  # what the background does after a restore
                _record(rows["spare build"], t)
                t = time.perf_counter()
                renamed = await restore_snapshot(
                    run_on.on(target_url), scale, snapshot_id=snap.id, method="template",
                    build_spare=False,
                )  # fmt: skip
                _record(rows["spare rename"], t)
                if renamed.route != "spare":
                    rows["spare rename"].note = f"took the {renamed.route} route"
                await spare.tidy()  # the database it replaced: the background's chore
                for name in ("perfkit restore (process)", "perfkit restore, spare (process)"):
                    cli = rows[name]
                    seconds, failure = _cli_restore(cfg, scale, database=target)
                    cli.samples.append(seconds)
                    cli.note = failure or cli.note
                    if spare_on and await spare.wait() is None:  # its background build, untimed
                        cli.note = "the background build made no spare"
                if not spare_on:
                    rows["perfkit restore, spare (process)"].note = "snapshots.spare is off"
                for strategy in ("WAL_LOG", "FILE_COPY"):
                    clone_name = f"perfkit_bench_test_{scale.name}_clone"
                    async with Database(admin_url).admin() as admin:
                        t = time.perf_counter()
                        await template.clone(admin, tpl, name=clone_name, strategy=strategy)
                        _record(rows[f"clone {strategy}"], t)
                        await admin.drop(clone_name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        async with Database(admin_url).admin() as admin:
            await admin.drop(target)
    return list(rows.values())


def _with_spares(cfg: Config, *, on: bool) -> Config:
    return msgspec.structs.replace(cfg, snapshots=msgspec.structs.replace(cfg.snapshots, spare=on))


@dataclass(frozen=True)
class Spare:
    """The scale's spare, as the benchmark handles it between timed rows."""

    server: Database
    template: str
    owner: str
    tables: tuple[str, ...]
    target: str

    async def drop(self) -> None:
        async with self.server.admin() as admin:
            await admin.drop(ready_spare_name(self.template, self.owner))

    async def build(self) -> None:
        await spare_build.build(
            self.server, template_name=self.template, owner=self.owner, tables=self.tables
        )

    async def tidy(self) -> None:
        async with self.server.admin() as admin:
            for name in await admin.leftovers(self.target):
                await admin.drop(name)

    async def wait(self) -> spares.SpareInfo | None:
        return await spares.wait_until_ready(
            self.server, template_name=self.template, owner=self.owner
        )


def _psql_replay(clients: Clients, dump: Path, database: str) -> None:
    clients.run("psql", "-q", "-X", "-v", "ON_ERROR_STOP=1", "-f", str(dump), "-d", database)


def _pg_restore(clients: Clients, dump: Path, database: str) -> None:
    clients.run("pg_restore", "-j", "2", "-d", database, str(dump))


def _record(row: Row, started: float, size: int | None = None) -> None:
    row.samples.append(time.perf_counter() - started)
    if size is not None:
        row.size = size


async def _timed_into(admin_url: str, row: Row, name: str, restore: Callable[[str], None]) -> None:
    """Time creating database ``name`` and ``restore(name)`` into it; drop it before and after."""
    async with Database(admin_url).admin() as admin:
        await admin.drop(name)
    t = time.perf_counter()
    await _createdb(admin_url, name)
    restore(name)
    _record(row, t)
    async with Database(admin_url).admin() as admin:
        await admin.drop(name)


async def _createdb(admin_url: str, name: str) -> None:
    async with Database(admin_url).admin() as admin:
        await admin.create_empty(name)


async def _client_problem(url: str, bindir: Path | None) -> str | None:
    if bindir is None or not (bindir / "pg_restore").is_file():
        return "no PostgreSQL client binaries found (pg_config --bindir)"
    async with Database(url).admin() as admin:
        server_major = await admin.server_version_num() // 10000
    client_major = _client_major(bindir)
    if client_major is None:
        return f"cannot read the version of {bindir / 'pg_dump'}"
    if client_major != server_major:
        return f"client binaries are {client_major}, the server is {server_major}"
    return None


def _client_major(bindir: Path) -> int | None:
    out = subprocess.run(
        [str(bindir / "pg_dump"), "--version"], capture_output=True, text=True, check=False
    )
    try:
        return int(out.stdout.split()[-1].split(".")[0])
    except (IndexError, ValueError):
        return None


def _cli_restore(cfg: Config, scale: Scale, *, database: str) -> tuple[float, str | None]:
    """Seconds of ``perfkit restore --scale NAME`` as a whole process, and its error if any."""
    env = {**os.environ, "PERFKIT_DATABASE": database}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "perfkit", "restore", "--scale", scale.name,
         "--config", str(cfg.source)],
        env=env, cwd=cfg.root, capture_output=True, text=True, check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    return seconds, (done.stderr.strip()[-200:] or "failed") if done.returncode else None


def render(rows: list[Row], *, repeat: int) -> list[str]:
    """The benchmark table: medians, ratio to pg_restore -j 2 of the same scale, sizes; then
    the notes (rows that could not run, and why)."""
    out = []
    baselines = {r.scale: r.median for r in rows if r.method == BASELINE}
    notes = []
    for row in rows:
        base = baselines.get(row.scale)
        ratio = f"{row.median / base:.2f}x" if row.median and base else "-"
        if row.note:
            notes.append(f"{row.scale} {row.method}: {row.note}")
        out.append(
            [
                row.scale,
                row.group,
                row.method,
                f"{row.median:.3f}" if row.median is not None else "-",
                f"{min(row.samples):.3f}" if row.samples else "-",
                ratio if row.group == "restore" else "",
                human_bytes(row.size) if row.size is not None else "",
            ]
        )
    header = ("scale", "step", "method", "median s", "min s", "vs pg_restore", "size")
    return [
        f"restore benchmark, median of {repeat}",
        *table(header, out, right=range(3, 7)),
        *(f"note: {n}" for n in notes),
    ]
