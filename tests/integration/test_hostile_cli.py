"""Hostile input through the ``perfkit`` commands, as a user meets it: one line on stderr,
exit status 2 for any bad input, ``--help`` for every command, Ctrl-C as one line and 130,
SIGTERM as one line and 143. Commands run in process (:func:`perfkit.testing.run_perfkit`);
the signals are sent to a real ``perfkit`` process (:func:`perfkit.testing.start_perfkit`).

Most tests stop before a database is needed (their URL points at a closed port, so a command
that wrongly went ahead would fail differently); the ones marked ``pg`` use the session's
private server.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from perfkit.commands import BY_NAME
from perfkit.datagen.load import STAGING_PREFIX
from perfkit.db import connection
from perfkit.testing import (
    free_port,
    lock_is_free,
    run_perfkit,
    run_record,
    scratch_database,
    start_perfkit,
)
from perfkit.testing import (
    one_error_line as error_line,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    """:func:`perfkit.testing.one_error_line`, and short enough to read."""
    line = error_line(done)
    assert len(line) < 400, line
    return line


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A private state folder, snapshot folder and results folder, and a database URL that
    nothing answers: a command that should have stopped earlier fails with exit status 3."""
    return {
        "PERFKIT_STATE_DIR": str(tmp_path / "state"),
        "PERFKIT_SNAPSHOT_DIR": str(tmp_path / "snapshots"),
        "PERFKIT_RESULTS_DIR": str(tmp_path / "results"),
        "TEST_DATABASE_URL": f"postgresql://postgres:pw@127.0.0.1:{free_port()}/perfkit_test",
    }


def scales_with(tmp_path: Path, old: str, new: str, *, extra: str = "") -> Path:
    """The project's scales.yaml with ``old`` replaced by ``new`` (and ``extra`` appended)."""
    text = (ROOT / "scales.yaml").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "scales.yaml"
    path.write_text(text.replace(old, new, 1) + extra, encoding="utf-8")
    return path


# -- 13. per-command --help ------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BY_NAME), ids=sorted(BY_NAME))
def test_every_task_has_per_task_help(name: str) -> None:
    command = BY_NAME[name]
    for argv in ((name, "--help"), (name, "-h")):
        done = run_perfkit(*argv, cwd=ROOT)
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr and done.stderr.strip() == ""
        assert command.summary, f"command {name} has no help line"
        for line in command.description.splitlines():
            assert line.strip() in done.stdout
        for option in command.options:
            assert option.flag in done.stdout, option.name


@pytest.mark.parametrize("name", ["seed", "restore", "snapshot"])
def test_a_missing_required_flag_is_one_line_and_exit_2(name: str, env: dict[str, str]) -> None:
    done = run_perfkit(name, cwd=ROOT, env=env)
    assert done.returncode == 2
    line = one_error_line(done)
    assert "--scale" in line and f"perfkit {name} --help" in line


# -- 12. tracebacks --------------------------------------------------------------------------


@pytest.mark.parametrize("scale", ["[/x]", "[bold]huge", ":smile:", "x" * 5000])
def test_markup_in_arguments_is_printed_literally(scale: str, env: dict[str, str]) -> None:
    done = run_perfkit("seed", "--scale", scale, cwd=ROOT, env=env)
    assert done.returncode == 2
    line = one_error_line(done)
    assert f"unknown scale {scale[:40]!r}"[:-1] in line  # literally, and cut short when long


def test_config_files_that_crashed_or_hung_the_loader(tmp_path: Path, env: dict[str, str]) -> None:
    laughs = "&a [" + ", ".join(['"lol"'] * 9) + "]"
    for prev, cur in zip("abcdefgh", "bcdefghi", strict=True):
        laughs = f"&{cur} [{laughs}, " + ", ".join([f"*{prev}"] * 8) + "]"
    bodies = {
        "nested": ("scales: " + "[" * 20000 + "]" * 20000 + "\n", "nested more than"),
        "laughs": (f"scales:\n  small: {{offices: {laughs}}}\n", "scales.small.offices"),
        "date": ("scales:\n  small: {offices: 2026-13-45}\n", "line 2"),
        "duplicate": ("scales:\n  small: {offices: 1}\n  small: {offices: 2}\n", "twice"),
        "nan": ("scales:\n  small: {offices: 1, budgets: {batch: .nan}}\n", "finite"),
    }
    for name, (body, shown) in bodies.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(body, encoding="utf-8")
        started = time.monotonic()
        done = run_perfkit("db-status", "--config", str(path), cwd=ROOT, env=env)
        assert done.returncode == 2, (name, done.stderr[-500:])
        assert shown in one_error_line(done), name
        assert time.monotonic() - started < 30


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
async def test_seed_anchor_at_the_ends_of_the_calendar(
    day: str, pg_url: str, tmp_path: Path
) -> None:
    async with scratch_database(pg_url, "hostile_anchor_test", perfkit_made=True) as url:
        env = {"TEST_DATABASE_URL": url, "PERFKIT_STATE_DIR": str(tmp_path)}
        done = run_perfkit("seed", "--scale", "small", "--anchor", day, cwd=ROOT, env=env)
        assert done.returncode == 2
        assert "--anchor" in one_error_line(done)
        async with connection(url) as conn:  # nothing was started
            assert await conn.fetchval("SELECT to_regclass('public.offices')") is None


def write_records(results: Path) -> int:
    """results.jsonl: good runs of small and medium, then wrongly typed ones; their number."""
    good = [run_record(n, scale=s).to_dict() for n in range(3) for s in ("small", "medium")]
    bad_fields: list[tuple[str, object]] = [
        ("run_id", 5), ("scale", ["small"]), ("commit", 12345678),
        ("metrics", {"batch_seconds": "fast"}), ("metrics", {"batch_seconds": 10**400}),
        ("samples", {"batch_seconds": "abc"}), ("budgets", {"batch": "two seconds"}),
        ("machine", {"cpus": [2]}), ("failures", [1, 2]),
        ("when", "9999-12-31T23:00:00-05:00"),
    ]  # fmt: skip
    bad = [{**run_record(n).to_dict(), k: v} for n, (k, v) in enumerate(bad_fields, start=3)]
    results.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r) for r in (*good, *bad)]
    (results / "results.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(bad)


@pytest.mark.parametrize(
    "args",
    [("report",), ("report", "--format", "html", "--output", "OUT"), ("compare",),
     ("compare", "--scale", "medium")],
    ids=["report-md", "report-html", "compare", "compare-medium"],
)  # fmt: skip
def test_wrongly_typed_run_records_are_skipped(
    args: tuple[str, ...], tmp_path: Path, env: dict[str, str]
) -> None:
    skipped = write_records(Path(env["PERFKIT_RESULTS_DIR"]))
    argv = [str(tmp_path / "out") if a == "OUT" else a for a in args]
    done = run_perfkit(*argv, cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == skipped, done.stderr
    assert all("results.jsonl" in w for w in warnings)


# -- 14. commands that succeed at nothing ------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "what"),
    [
        (("snapshots", "--scale", "nope"), "unknown scale 'nope'"),
        (("verify", "--scale", "nope"), "unknown scale 'nope'"),
        (("verify", "--snapshot", "20990101T000000Z-deadbeef"), "no snapshot"),
        (("verify", "--scale", "small", "--snapshot", "20990101T000000Z-deadbeef"), "no snapshot"),
    ],
)
def test_unknown_snapshot_or_scale_is_exit_2(
    args: tuple[str, ...], what: str, env: dict[str, str]
) -> None:
    done = run_perfkit(*args, cwd=ROOT, env=env)
    assert done.returncode == 2
    assert what in one_error_line(done)
    assert "┏" not in done.stderr  # no empty table


@pytest.mark.parametrize("args", [("snapshots",), ("snapshots", "--scale", "small"), ("verify",)])
def test_nothing_there_yet_is_said_plainly(args: tuple[str, ...], env: dict[str, str]) -> None:
    done = run_perfkit(*args, cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr
    assert "no snapshots" in done.stdout and "┏" not in done.stdout + done.stderr


def test_a_scale_past_the_row_limit_is_refused_with_its_estimate(
    tmp_path: Path, env: dict[str, str]
) -> None:
    config = str(scales_with(tmp_path, "offices: 500", "offices: 1000000000"))
    done = run_perfkit("seed", "--config", config, "--scale", "large", cwd=ROOT, env=env)
    assert done.returncode == 2
    line = one_error_line(done)
    assert "limits.max_rows" in line and "--force" in line and " rows" in line
    assert "on disk" in line
    # --force goes ahead (to the database, which is not there: exit status 3)
    forced = run_perfkit(
        "seed", "--config", config, "--scale", "large", "--force", cwd=ROOT, env=env
    )
    assert forced.returncode == 3 and "cannot connect" in one_error_line(forced)
    # so does a raised limit
    raised = scales_with(tmp_path, "offices: 500", "offices: 1000000000")
    raised.write_text(
        raised.read_text().replace("max_rows: 50000000", "max_rows: 10000000000000", 1)
    )
    again = run_perfkit("seed", "--config", str(raised), "--scale", "large", cwd=ROOT, env=env)
    assert again.returncode == 3


async def copy_running(url: str) -> bool:
    """Whether a perfkit seed is loading rows into ``url``'s database right now."""
    async with connection(url) as conn:
        n = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'perfkit seed' "
            "AND state = 'active' AND query ILIKE 'COPY%'"
        )
    return bool(n)


@pytest.fixture
async def interrupt_db(pg_url: str) -> AsyncIterator[str]:
    async with scratch_database(pg_url, "hostile_interrupt_test", perfkit_made=True) as url:
        yield url


async def test_ctrl_c_during_seed_is_one_line_and_130(interrupt_db: str, tmp_path: Path) -> None:
    config = scales_with(tmp_path, "offices: 500", "offices: 5000")  # about 15 s of loading
    env = {"TEST_DATABASE_URL": interrupt_db, "PERFKIT_STATE_DIR": str(tmp_path / "state")}
    proc = start_perfkit("seed", "--config", str(config), "--scale", "large", cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 60
        while not await copy_running(interrupt_db):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the seed never started loading"
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # well into the load: every loader has rows in flight
        for _ in range(20):  # Ctrl-C, pressed again while the command has not stopped
            proc.send_signal(signal.SIGINT)
            try:
                out, err = await asyncio.to_thread(proc.communicate, timeout=3)
                break
            except subprocess.TimeoutExpired:
                continue
        else:
            out, err = await asyncio.to_thread(proc.communicate, timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, f"stdout: {out[-2000:]!r} stderr: {err[-2000:]!r}"
    assert [line for line in err.splitlines() if line.strip()] == ["perfkit: interrupted"]
    async with connection(interrupt_db) as conn:  # all or nothing: nothing
        assert await conn.fetchval("SELECT to_regclass('public.offices')") is None


async def staging_schemas(url: str) -> list[str]:
    """The seed's staging schemas (``perfkit_seed_*``) in ``url``'s database."""
    async with connection(url) as conn:
        rows = await conn.fetch(
            "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)", STAGING_PREFIX
        )
    return [str(r["nspname"]) for r in rows]


async def test_sigterm_during_seed_cleans_up_and_exits_143(
    interrupt_db: str, tmp_path: Path
) -> None:
    """A CI cancel: SIGTERM while the seed loads into its staging schema. One line, the
    staging schema dropped, the lock released, exit status 143 (it used to die silently
    and leave the schema for the next seed to find)."""
    config = scales_with(tmp_path, "offices: 500", "offices: 5000")
    env = {"TEST_DATABASE_URL": interrupt_db, "PERFKIT_STATE_DIR": str(tmp_path / "state")}
    proc = start_perfkit("seed", "--config", str(config), "--scale", "large", cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 60
        while not (await staging_schemas(interrupt_db) and await copy_running(interrupt_db)):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the seed never started loading"
            await asyncio.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.to_thread(proc.communicate, timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 143, f"stdout: {out[-2000:]!r} stderr: {err[-2000:]!r}"
    assert [line for line in err.splitlines() if line.strip()] == ["perfkit: terminated (SIGTERM)"]
    assert "Traceback" not in out + err
    assert await staging_schemas(interrupt_db) == []
    assert await lock_is_free(interrupt_db)
    async with connection(interrupt_db) as conn:  # all or nothing: nothing
        assert await conn.fetchval("SELECT to_regclass('public.offices')") is None


# -- 15. one exit status for bad flags -------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("report", "--format", "xml"),
        ("report", "--last", "abc"),
        ("report", "--last", "0"),
        ("report", "--format", "both", "--output", "report.md"),
        ("restore", "--scale", "small", "--method", "bogus"),
        ("prune", "--keep", "-1"),
        ("prune", "--keep", "0"),
        ("prune", "--keep", "many"),
        ("bench-seed", "--repeats", "x"),
        ("bench-restore", "--repeat", "0"),
        ("compare", "--threshold", "-1"),
        ("compare", "--baseline", "median:0"),
        ("seed", "--scale", "small", "--port", "abc"),
        ("seed", "--scale", "small", "--seed", "-1"),
        ("seed", "--scale", "small", "--mode", "[/x]"),
    ],
    ids=lambda a: " ".join(a),
)
def test_every_bad_flag_value_is_exit_2(args: tuple[str, ...], env: dict[str, str]) -> None:
    done = run_perfkit(*args, cwd=ROOT, env=env)
    assert done.returncode == 2, done.stderr
    one_error_line(done)
