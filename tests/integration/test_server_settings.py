"""``database.settings`` meet the server: unknown names and bad values stop ``db-up`` with the
key that is wrong, changes are applied (reloaded, or restarted when PostgreSQL needs it), the
settings perfkit owns cannot be overridden, and a server perfkit does not manage is only
reported on, never changed."""

from __future__ import annotations

import types
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from perfkit.config import Config, load_config
from perfkit.db import connection
from perfkit.env.external import ExternalEnvironment
from perfkit.env.native import NativeEnvironment
from perfkit.env.settings import Running, library_list, merged_preload, same_value
from perfkit.errors import ConfigError
from perfkit.testing import PrivateServer, private_server
from perfkit.urls import with_database

pytestmark = pytest.mark.integration


def with_settings(cfg: Config, **changes: str) -> Config:
    """``cfg`` with ``database.settings`` changed (built directly, as a caller might)."""
    settings = {**cfg.database.settings, **changes}
    database = msgspec.structs.replace(cfg.database, settings=types.MappingProxyType(settings))
    return msgspec.structs.replace(cfg, database=database)


async def show(url: str, name: str) -> str:
    async with connection(with_database(url, "postgres")) as conn:
        return str(await conn.fetchval(f"SHOW {name}"))


def conf_file(server: PrivateServer) -> Path:
    return Path(server.env._recorded()["base"]) / "data" / "perfkit.conf"


@pytest.fixture(scope="module")
async def server(config_file: Path) -> AsyncIterator[PrivateServer]:
    """A private server of this module's own: these tests reload and restart it."""
    async with private_server(config_file) as found:
        yield found


@pytest.fixture
async def settled(server: PrivateServer) -> AsyncIterator[PrivateServer]:
    """The module's server, put back to scales.yaml's settings after the test."""
    yield server
    await NativeEnvironment(server.cfg).up()


# --------------------------------------------------------------------------------------------
# refused when the config is read


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("listen_addresses", "*"),
        ("Listen_Addresses", "localhost"),  # names are case-insensitive
        ("port", "5432"),
        ("unix_socket_directories", "/tmp"),
        ("hba_file", "/tmp/pg_hba.conf"),
        ("ssl_cert_file", "server.crt"),
        ("password_encryption", "md5"),
        ("include_dir", "/etc"),
    ],
)
def test_settings_perfkit_owns_are_refused_at_load(
    config_file: Path, name: str, value: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(config_file, env={}, overrides={f"database.settings.{name}": value})
    assert info.value.key_path == f"database.settings.{name}"
    assert info.value.exit_code == 2


@pytest.mark.parametrize("other", ["Work_Mem", "WORK_MEM"])
def test_a_setting_given_twice_in_another_case_is_refused_at_load(
    config_file: Path, other: str
) -> None:
    """PostgreSQL would keep only the later of the two lines, silently."""
    with pytest.raises(ConfigError) as info:
        load_config(config_file, env={}, overrides={f"database.settings.{other}": "4MB"})
    assert info.value.key_path == f"database.settings.{other}"
    assert info.value.exit_code == 2


def test_a_value_cannot_add_lines_to_the_server_config(config_file: Path, tmp_path: Path) -> None:
    text = config_file.read_text().replace("work_mem: 50MB", 'work_mem: "4MB\\nport = 1"')
    assert "port = 1" in text
    (tmp_path / "scales.yaml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "scales.yaml", env={})
    assert info.value.key_path == "database.settings.work_mem"


# --------------------------------------------------------------------------------------------
# checked against the server on db-up


async def test_an_unknown_name_stops_db_up_with_a_suggestion(settled: PrivateServer) -> None:
    before = conf_file(settled).read_text()
    with pytest.raises(ConfigError) as info:
        await NativeEnvironment(with_settings(settled.cfg, max_conections="50")).up()
    assert info.value.key_path == "database.settings.max_conections"
    assert info.value.suggestion == "max_connections" and info.value.exit_code == 2
    assert conf_file(settled).read_text() == before  # nothing PostgreSQL would reject
    assert await show(settled.url, "max_connections") == "200"


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("work_mem", "abc", "invalid value"),
        ("shared_buffers", "2XB", "Valid units"),
        ("wal_level", "bogus", "Available values"),
        ("work_mem", "1", "outside the valid range"),
        ("server_version", "99", "cannot be changed"),
    ],
)
async def test_a_bad_value_stops_db_up_in_postgresqls_words(
    settled: PrivateServer, name: str, value: str, said: str
) -> None:
    before = conf_file(settled).read_text()
    with pytest.raises(ConfigError) as info:
        await NativeEnvironment(with_settings(settled.cfg, **{name: value})).up()
    assert info.value.key_path == f"database.settings.{name}"
    assert said in info.value.message
    assert conf_file(settled).read_text() == before


async def test_a_bad_value_is_refused_before_a_first_start(config_file: Path) -> None:
    with pytest.raises(ConfigError) as info:
        async with private_server(config_file, overrides={"database.settings.work_mem": "abc"}):
            pass
    assert info.value.key_path == "database.settings.work_mem"


async def test_a_reloadable_change_is_applied(settled: PrivateServer) -> None:
    status = await NativeEnvironment(with_settings(settled.cfg, work_mem="7MB")).up()
    assert not status.started
    assert await show(settled.url, "work_mem") == "7MB"
    assert ("settings", "reloaded from scales.yaml") in status.details


async def test_a_change_that_needs_a_restart_restarts_perfkits_server(
    settled: PrivateServer,
) -> None:
    before = dict((await settled.env.status()).details)["pid"]
    status = await NativeEnvironment(with_settings(settled.cfg, shared_buffers="64MB")).up()
    assert status.started and dict(status.details)["pid"] != before
    assert await show(settled.url, "shared_buffers") == "64MB"
    assert any("restarted" in value and "shared_buffers" in value for _, value in status.details)


async def test_no_restart_while_others_are_connected(settled: PrivateServer) -> None:
    before = dict((await settled.env.status()).details)["pid"]
    changed = NativeEnvironment(with_settings(settled.cfg, shared_buffers="96MB"))
    async with connection(settled.url):
        status = await changed.up()
        assert not status.started and dict(status.details)["pid"] == before
        warnings = [value for key, value in status.details if key == "warning"]
        assert any("shared_buffers" in w and "restart" in w for w in warnings)
        assert await show(settled.url, "shared_buffers") == "2GB"
    status = await changed.up()  # alone now: the pending restart is done
    assert status.started and await show(settled.url, "shared_buffers") == "96MB"


async def test_listen_addresses_cannot_be_slipped_in(settled: PrivateServer) -> None:
    with pytest.raises(ConfigError) as info:
        await NativeEnvironment(with_settings(settled.cfg, listen_addresses="*")).up()
    assert info.value.key_path == "database.settings.listen_addresses"
    assert "listen_addresses = '127.0.0.1'" in conf_file(settled).read_text()
    assert await show(settled.url, "listen_addresses") == "127.0.0.1"


async def test_a_setting_overridden_by_alter_system_is_reported(settled: PrivateServer) -> None:
    async with connection(with_database(settled.url, "postgres")) as conn:
        await conn.execute("ALTER SYSTEM SET work_mem = '3MB'")
    try:
        status = await NativeEnvironment(settled.cfg).up()
        warnings = [value for key, value in status.details if key == "warning"]
        assert any("database.settings.work_mem" in w and "auto.conf" in w for w in warnings)
    finally:
        async with connection(with_database(settled.url, "postgres")) as conn:
            await conn.execute("ALTER SYSTEM RESET work_mem")
            await conn.execute("SELECT pg_reload_conf()")


async def preloaded(url: str) -> list[str]:
    listed = library_list(await show(url, "shared_preload_libraries"))
    assert listed is not None
    return listed


async def statements_work(url: str) -> bool:
    """Whether pg_stat_statements answers (it must be preloaded to)."""
    async with connection(with_database(url, "postgres")) as conn:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        return int(await conn.fetchval("SELECT count(*) FROM pg_stat_statements")) >= 0


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("shared_preload_libraries", "auto_explain", ["auto_explain", "pg_stat_statements"]),
        # issue 18: another spelling of the name used to write two lines; the server kept
        # perfkit's, and the user's library was silently dropped
        ("Shared_Preload_Libraries", "auto_explain", ["auto_explain", "pg_stat_statements"]),
        # the user's order is kept, and a library is loaded once, however it is written
        (
            "shared_preload_libraries",
            '"pg_stat_statements" , auto_explain,auto_explain',
            ["pg_stat_statements", "auto_explain"],
        ),
    ],
)
async def test_the_users_preload_list_is_merged_with_perfkits(
    settled: PrivateServer, name: str, value: str, expected: list[str]
) -> None:
    status = await NativeEnvironment(with_settings(settled.cfg, **{name: value})).up()
    assert await preloaded(settled.url) == expected
    assert await statements_work(settled.url)
    assert await show(settled.url, "auto_explain.log_min_duration") == "-1"  # it is loaded
    shown = dict(status.details)["preloaded libraries"]
    assert library_list(shown) == expected


def test_a_preload_list_postgresql_cannot_read_is_refused() -> None:
    """PostgreSQL would preload nothing at all, and say so only in its log."""
    for bad in ("auto_explain,,x", 'auto_explain, "open', "auto_explain,"):
        with pytest.raises(ConfigError) as info:
            merged_preload(
                {"shared_preload_libraries": bad}, statements_library=True, source="scales.yaml"
            )
        assert info.value.key_path == "database.settings.shared_preload_libraries"


@pytest.mark.parametrize(
    ("settings", "library", "expected"),
    [
        ({}, True, "pg_stat_statements"),
        ({}, False, None),
        ({"shared_preload_libraries": ""}, True, "pg_stat_statements"),
        ({"shared_preload_libraries": "auto_explain"}, False, "auto_explain"),
        ({"shared_preload_libraries": "$libdir/pg_stat_statements"}, True,
         "$libdir/pg_stat_statements"),
        ({"shared_preload_libraries": '"odd, name", auto_explain'}, True,
         '"odd, name", auto_explain, pg_stat_statements'),
    ],
)  # fmt: skip
def test_merged_preload(settings: dict[str, str], library: bool, expected: str | None) -> None:
    merged = merged_preload(
        {"work_mem": "4MB", **settings}, statements_library=library, source="scales.yaml"
    )
    assert merged.get("shared_preload_libraries") == expected
    assert merged["work_mem"] == "4MB"


async def test_an_external_server_is_reported_on_never_changed(settled: PrivateServer) -> None:
    cfg = msgspec.structs.replace(
        with_settings(settled.cfg, work_mem="1MB", max_conections="10"), external_url=settled.url
    )
    status = await ExternalEnvironment(cfg).up()
    warnings = [value for key, value in status.details if key == "warning"]
    assert any(w.startswith("database.settings.work_mem") and "50MB" in w for w in warnings)
    assert any("max_conections" in w for w in warnings)
    assert not any("shared_buffers" in w for w in warnings)  # '2GB' is what it runs
    assert await show(settled.url, "work_mem") == "50MB"


# --------------------------------------------------------------------------------------------
# how a configured value is compared with what a server runs


def row(setting: str, unit: str | None, vartype: str) -> Running:
    return Running("x", setting, unit, vartype, "user", pending_restart=False)


@pytest.mark.parametrize(
    ("wanted", "running", "same"),
    [
        ("2GB", row("262144", "8kB", "integer"), True),
        ("2048MB", row("262144", "8kB", "integer"), True),
        ("1GB", row("262144", "8kB", "integer"), False),
        ("10min", row("600000", "ms", "integer"), True),
        ("600s", row("600000", "ms", "integer"), True),
        ("1h", row("3600", "s", "integer"), True),
        ("0.9", row("0.9", None, "real"), True),
        ("on", row("on", None, "bool"), True),
        ("false", row("off", None, "bool"), True),
        ("yes", row("off", None, "bool"), False),
        ("Replica", row("replica", None, "enum"), True),
        ("abc", row("4096", "kB", "integer"), False),
        (
            "a, b",
            Running(
                "shared_preload_libraries",
                "a,b",
                None,
                "string",
                "postmaster",
                pending_restart=False,
            ),
            True,
        ),
        (
            "b, a",
            Running(
                "shared_preload_libraries",
                "a,b",
                None,
                "string",
                "postmaster",
                pending_restart=False,
            ),
            False,
        ),
    ],
)
def test_values_are_compared_by_meaning(wanted: str, running: Running, same: bool) -> None:
    assert same_value(wanted, running) is same
