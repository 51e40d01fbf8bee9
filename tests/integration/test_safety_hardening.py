"""The safety rule against a real server: restore never replaces a user's database on the
strength of a word hidden inside its name, nor of a test-like name alone, and perfkit's mark
goes only on databases perfkit itself makes.

The rule on names alone: tests/unit/test_safety_rule.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from perfkit.config import Config, Scale
from perfkit.datagen import seed_database
from perfkit.db import connection
from perfkit.env.base import ensure_database
from perfkit.errors import UnsafeTargetError
from perfkit.prepare import create_snapshot
from perfkit.run import Run
from perfkit.safety import created_by_perfkit
from perfkit.schema import quote_ident
from perfkit.snapshot.restore import restore_snapshot
from perfkit.testing import PrivateServer, run_perfkit
from perfkit.urls import with_database

pytestmark = pytest.mark.integration

SOURCE = "perfkit_safety_src_test"


async def drop(server_url: str, *names: str) -> None:
    async with connection(with_database(server_url, "postgres")) as admin:
        for name in names:
            await admin.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")
            await admin.execute(
                f"DROP DATABASE IF EXISTS {quote_ident(name + '__pkspare')} WITH (FORCE)"
            )


async def users_database(server_url: str, name: str) -> str:
    """A database the user made (no perfkit mark) holding a table of theirs, with one row."""
    await drop(server_url, name)
    async with connection(with_database(server_url, "postgres")) as admin:
        await admin.execute(f"CREATE DATABASE {quote_ident(name)}")
    url = with_database(server_url, name)
    async with connection(url) as conn:
        await conn.execute("CREATE TABLE invoices (id int PRIMARY KEY, total numeric)")
        await conn.execute("INSERT INTO invoices VALUES (1, 99.5)")
    return url


async def invoices(url: str) -> int | None:
    """Rows in the user's table; None when the table (or the database) is gone."""
    try:
        async with connection(url) as conn:
            if await conn.fetchval("SELECT to_regclass('invoices')") is None:
                return None
            return int(await conn.fetchval("SELECT count(*) FROM invoices"))
    except Exception:
        return None


async def is_perfkits(server_url: str, name: str) -> bool | None:
    async with connection(with_database(server_url, "postgres")) as admin:
        return await created_by_perfkit(admin, name)


@pytest.fixture(scope="module")
def small(pg_config: Config) -> Scale:
    return pg_config.scale("small")


@pytest.fixture(scope="module")
def snap_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("safety-snapshots")


@pytest.fixture(scope="module")
def cfg(pg_config: Config, snap_dir: Path) -> Config:
    return msgspec.structs.replace(
        pg_config, snapshots=msgspec.structs.replace(pg_config.snapshots, directory=snap_dir)
    )


@pytest.fixture(scope="module")
async def snapshot(pg: PrivateServer, cfg: Config, small: Scale) -> AsyncIterator[str]:
    """A snapshot of scale small in the module's snapshot folder; yields its id."""
    await drop(pg.url, SOURCE)
    url = with_database(pg.url, SOURCE)
    await ensure_database(url)
    report = await create_snapshot(Run(cfg, db=url), small)
    yield report.snapshot.id
    await drop(pg.url, SOURCE)


def cli_env(pg: PrivateServer, snap_dir: Path, name: str) -> dict[str, str]:
    """The CLI pointed at the session's private server and database ``name``."""
    return {
        "PERFKIT_STATE_DIR": str(pg.cfg.state_dir),
        "PERFKIT_PORT": str(pg.cfg.database.port),
        "PERFKIT_BACKEND": "native",
        "PERFKIT_DATABASE": name,
        "PERFKIT_SNAPSHOT_DIR": str(snap_dir),
    }


async def test_invoke_restore_refuses_a_name_with_test_inside_a_word(
    project_root: Path, pg: PrivateServer, snap_dir: Path, snapshot: str
) -> None:
    """The issue's case: ``app_latest`` ("la-test") holds a user's table. Restore stops with
    exit 4 and leaves the table; repeating the name is the way through."""
    name = "app_latest"
    url = await users_database(pg.url, name)
    try:
        env = cli_env(pg, snap_dir, name)
        refused = run_perfkit("restore", "--scale", "small", cwd=project_root, env=env)
        assert refused.returncode == 4, refused.stderr
        assert f"--confirm-database {name}" in refused.stderr
        assert await invoices(url) == 1
        assert await is_perfkits(pg.url, name) is False

        confirmed = run_perfkit(
            "restore", "--scale", "small", "--confirm-database", name, cwd=project_root, env=env
        )
        assert confirmed.returncode == 0, confirmed.stderr
        assert await invoices(url) is None  # replaced, as the user asked
    finally:
        await drop(pg.url, name)


async def test_restore_never_replaces_a_users_database_on_its_name_alone(
    pg: PrivateServer, cfg: Config, small: Scale, snapshot: str
) -> None:
    """A test-like name is enough to write tables into a database, never to replace one that
    perfkit did not create."""
    name = "perf_test_orders"
    url = await users_database(pg.url, name)
    try:
        with pytest.raises(UnsafeTargetError) as info:
            await restore_snapshot(Run(cfg, db=url), small)
        assert info.value.rule == "not_created" and info.value.database == name
        assert await invoices(url) == 1

        await restore_snapshot(Run(cfg, db=url), small, confirm=name)
        assert await invoices(url) is None
        # What replaced it, perfkit made: later restores need no confirmation.
        assert await is_perfkits(pg.url, name) is True
        await restore_snapshot(Run(cfg, db=url), small)
    finally:
        await drop(pg.url, name)


async def test_restore_into_a_new_database_needs_only_a_test_name(
    pg: PrivateServer, cfg: Config, small: Scale, snapshot: str
) -> None:
    name = "perf_fresh_test"
    await drop(pg.url, name)
    try:
        await restore_snapshot(Run(cfg, db=with_database(pg.url, name)), small)
        assert await is_perfkits(pg.url, name) is True
        await drop(pg.url, "app_latest")
        with pytest.raises(UnsafeTargetError) as info:  # nothing there, but no test name
            await restore_snapshot(Run(cfg, db=with_database(pg.url, "app_latest")), small)
        assert info.value.rule == "name"
        assert await is_perfkits(pg.url, "app_latest") is None
    finally:
        await drop(pg.url, name)


@pytest.mark.parametrize(
    ("name", "rule"), [("production_perf_copy", "production"), ("app_latest", "name")]
)
async def test_seeding_refuses_production_names_and_words_inside_words(
    pg: PrivateServer, cfg: Config, name: str, rule: str
) -> None:
    url = await users_database(pg.url, name)
    try:
        with pytest.raises(UnsafeTargetError) as info:
            await seed_database(Run(cfg, db=url), cfg.scale("small"), reset=True)
        assert info.value.rule == rule
        assert await invoices(url) == 1
    finally:
        await drop(pg.url, name)


async def test_perfkits_mark_goes_only_on_databases_it_creates(pg: PrivateServer) -> None:
    name = "perf_mark_test"
    url = await users_database(pg.url, name)
    try:
        assert not await ensure_database(url)  # it exists: perfkit neither makes nor marks it
        assert await is_perfkits(pg.url, name) is False
        await drop(pg.url, name)
        assert await ensure_database(url)
        assert await is_perfkits(pg.url, name) is True
    finally:
        await drop(pg.url, name)
