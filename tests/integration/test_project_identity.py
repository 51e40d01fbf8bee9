"""A project's state and its native cluster prove they belong together before anything acts.

Real clusters only: a project brought up in one folder, then copied (as ``cp -a`` would) or
moved, or its ``.perfkit`` folder deleted under a running server, or never set up at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import stat
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest

from perfkit.commands import database
from perfkit.config import Config
from perfkit.db import wait_until_ready
from perfkit.env import ServerStatus, native
from perfkit.env.native import NativeEnvironment
from perfkit.errors import (
    ClusterOwnershipError,
    DatabaseEnvError,
    NotSetUpError,
    PerfkitError,
    PerfkitServerOnPortError,
    PortInUseError,
    ProjectCopiedError,
)
from perfkit.run import Run
from perfkit.testing import free_port, make_test_config
from perfkit.urls import to_asyncpg

pytestmark = pytest.mark.integration


async def db_up(cfg: Config) -> ServerStatus:
    """``perfkit db-up``'s command, as the command layer runs it."""
    return (await database.db_up(Run(cfg))).status


async def db_down(cfg: Config, *, remove_data: bool = False) -> str:
    """``perfkit db-down``'s command: what it said."""
    return (await database.db_down(Run(cfg), remove_data=remove_data)).said


async def db_status(cfg: Config) -> ServerStatus:
    """``perfkit db-status``'s command."""
    return (await database.db_status(Run(cfg))).status


def db_url(cfg: Config) -> str:
    """``perfkit db-url``'s URL, password included."""
    return Run(cfg).env.url()


#: Where the cluster lives: in the project's own state folder (the server account can reach
#: it) or under perfkit's shared root (it cannot: a 0700 folder, as root's home would be).
LAYOUTS = ["in-state", "shared-root"]


@dataclass
class Workspace:
    """A temporary folder holding projects; every cluster they make is removed at the end."""

    root: Path
    config_file: Path
    configs: list[Config] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)

    def project(self, name: str, *, port: int | None = None) -> Config:
        """The config of project ``name`` (its state folder is ``<root>/<name>/.perfkit``)."""
        cfg = make_test_config(
            self.config_file, state_dir=self.root / name / ".perfkit", port=port or free_port()
        )
        self.configs.append(cfg)
        return cfg

    def copy(self, src: str, dst: str) -> None:
        """Copy project ``src`` to ``dst`` the way ``cp -a`` does: links, modes and owners."""
        source, target = self.root / src, self.root / dst
        shutil.copytree(source, target, symlinks=True, copy_function=_copy_like_cp_a)
        for path in [source, *source.rglob("*")]:
            copied = target / path.relative_to(source)
            with contextlib.suppress(FileNotFoundError):
                st = path.lstat()
                os.chown(copied, st.st_uid, st.st_gid, follow_symlinks=False)


def _copy_like_cp_a(src: str, dst: str) -> str:
    """copy2, but like ``cp -a`` on a live cluster: sockets skipped, vanished files ignored."""
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(os.lstat(src).st_mode):
            return dst
        shutil.copy2(src, dst)
    return dst


@pytest.fixture(params=LAYOUTS)
def layout(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def workspace(layout: str, config_file: Path) -> AsyncIterator[Workspace]:
    """Projects in a temporary folder laid out as ``layout`` says; all cleaned up after."""
    root = Path(tempfile.mkdtemp(prefix="perfkit-ident-"))
    root.chmod(0o755 if layout == "in-state" else 0o700)
    ws = Workspace(root=root, config_file=config_file)
    try:
        yield ws
    finally:
        for pid in ws.pids:  # a server left running from a deleted folder of this workspace
            with contextlib.suppress(OSError):
                if str(Path(f"/proc/{pid}/cwd").readlink()).startswith(str(root)):
                    os.kill(pid, signal.SIGINT)
        for cfg in reversed(ws.configs):
            with contextlib.suppress(PerfkitError, OSError):
                await NativeEnvironment(cfg).down(remove_data=True)
        shutil.rmtree(root, ignore_errors=True)


async def _pid(cfg: Config) -> int:
    status = await db_status(cfg)
    assert status.running
    return int(dict(status.details)["pid"])


def _data_dir(status_details: tuple[tuple[str, str], ...]) -> Path:
    return Path(dict(status_details)["data directory"])


async def _wait_gone(pid: int, *, deadline_s: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while Path(f"/proc/{pid}").exists():
        if loop.time() > end:
            raise AssertionError(f"pid {pid} still alive after {deadline_s} s")
        await asyncio.sleep(0.05)


def _state_files(state_dir: Path) -> Iterator[Path]:
    return (p for p in state_dir.rglob("*")) if state_dir.exists() else iter(())


# -- a copied project ---------------------------------------------------------------------------


async def test_a_copy_cannot_stop_or_delete_the_originals_server(workspace: Workspace) -> None:
    a = workspace.project("a")
    up = await db_up(a)
    a_pid = int(dict(up.details)["pid"])
    a_data = _data_dir(up.details)
    workspace.copy("a", "b")
    b = workspace.project("b", port=a.database.port)  # same scales.yaml, same port

    for remove_data in (False, True):
        with pytest.raises(ProjectCopiedError) as info:
            await db_down(b, remove_data=remove_data)
        assert info.value.exit_code == 3
        assert not info.value.moved
        assert info.value.original_state_dir == str(a.state_dir.resolve())
        assert info.value.state_dir == str(b.state_dir.resolve())
        assert Path(info.value.cluster) == a_data.parent

    # start, status and the URL refuse too: the copy's URL would reach the original's server
    with pytest.raises(ProjectCopiedError):
        await db_up(b)
    with pytest.raises(ProjectCopiedError):
        await db_status(b)
    with pytest.raises(ProjectCopiedError):
        db_url(b)

    # the original's server still runs, on its data, and answers
    assert await _pid(a) == a_pid
    assert (a_data / "PG_VERSION").is_file()
    await wait_until_ready(db_url(a), deadline_s=10)

    # and the original itself still stops normally
    assert "stopped" in await db_down(a)
    await _wait_gone(a_pid)
    assert not (await db_status(a)).running


async def test_the_copy_follows_the_hint_and_gets_its_own_cluster(workspace: Workspace) -> None:
    a = workspace.project("a")
    a_pid = int(dict((await db_up(a)).details)["pid"])
    workspace.copy("a", "b")
    (workspace.root / "b" / ".perfkit" / "native.json").unlink()  # what the hint says
    b = workspace.project("b")  # another port: the original still holds its own

    b_up = await db_up(b)
    assert b_up.running and b_up.started
    assert int(dict(b_up.details)["pid"]) != a_pid
    a_rec = json.loads((a.state_dir / "native.json").read_text())
    b_rec = json.loads((b.state_dir / "native.json").read_text())
    assert a_rec["cluster_id"] != b_rec["cluster_id"]
    assert a_rec["base"] != b_rec["base"]

    await db_down(b, remove_data=True)
    assert await _pid(a) == a_pid
    assert Path(a_rec["base"], "data", "PG_VERSION").is_file()


async def test_a_copy_on_the_same_port_is_told_whose_server_holds_it(
    workspace: Workspace,
) -> None:
    a = workspace.project("a")
    a_pid = int(dict((await db_up(a)).details)["pid"])
    workspace.copy("a", "b")
    (workspace.root / "b" / ".perfkit" / "native.json").unlink()
    b = workspace.project("b", port=a.database.port)

    with pytest.raises(PerfkitServerOnPortError) as info:
        await db_up(b)
    assert isinstance(info.value, PortInUseError)
    assert info.value.pid == a_pid
    assert not info.value.orphan
    assert info.value.owner_state_dir == str(a.state_dir.resolve())
    assert await _pid(a) == a_pid


# -- a moved project ----------------------------------------------------------------------------


async def test_a_moved_project_is_told_and_can_take_its_cluster_along(
    workspace: Workspace, layout: str
) -> None:
    a = workspace.project("a")
    up = await db_up(a)
    old_base = _data_dir(up.details).parent
    conn = await asyncpg.connect(to_asyncpg(db_url(a)))
    try:
        await conn.execute("CREATE TABLE moved_along (x int)")
    finally:
        await conn.close()
    await db_down(a)
    (workspace.root / "a").rename(workspace.root / "b")
    b = workspace.project("b", port=a.database.port)

    for remove_data in (False, True):
        with pytest.raises(ProjectCopiedError) as info:
            await db_down(b, remove_data=remove_data)
        assert info.value.moved
        assert info.value.original_state_dir == str(a.state_dir.resolve())
    with pytest.raises(ProjectCopiedError):
        await db_up(b)
    if layout == "shared-root":
        assert (old_base / "data" / "PG_VERSION").is_file()  # left alone

    (b.state_dir / "native.json").unlink()  # what the hint says
    status = await db_up(b)
    assert status.running
    if layout == "in-state":  # the cluster moved along with the folder: taken over, data kept
        assert _data_dir(status.details) == b.state_dir.resolve() / "native" / "data"
        conn = await asyncpg.connect(to_asyncpg(db_url(b)))
        try:
            assert await conn.fetchval("SELECT to_regclass('moved_along') IS NOT NULL")
        finally:
            await conn.close()
    else:  # a new cluster here; remove the old one, which no project points at any more
        assert _data_dir(status.details).parent != old_base
        shutil.rmtree(old_base)


# -- clusters made before the identity existed ---------------------------------------------------


def _make_legacy(cfg: Config) -> Path:
    """Turn a project's state and cluster into what perfkit wrote before identities."""
    record_file = cfg.state_dir / "native.json"
    record = json.loads(record_file.read_text())
    base = Path(record["base"])
    legacy = {k: v for k, v in record.items() if k not in ("cluster_id", "state_dir")}
    record_file.write_text(json.dumps(legacy, indent=2) + "\n")
    (base / native.CLUSTER_MARK).unlink()
    return base


async def test_a_legacy_cluster_is_adopted_in_place_and_refused_in_a_copy(
    workspace: Workspace,
) -> None:
    a = workspace.project("a")
    a_pid = int(dict((await db_up(a)).details)["pid"])
    base = _make_legacy(a)
    workspace.copy("a", "b")
    b = workspace.project("b", port=a.database.port)

    for remove_data in (False, True):
        with pytest.raises((ProjectCopiedError, ClusterOwnershipError)) as info:
            await db_down(b, remove_data=remove_data)
        assert isinstance(info.value, DatabaseEnvError) and info.value.exit_code == 3
    assert await _pid(a) == a_pid

    # in its own place the old cluster is adopted: state and cluster get the same id
    again = await db_up(a)
    assert again.running and not again.started
    record = json.loads((a.state_dir / "native.json").read_text())
    mark = json.loads((base / native.CLUSTER_MARK).read_text())
    assert record["cluster_id"] == mark["cluster_id"]
    assert record["state_dir"] == mark["state_dir"] == str(a.state_dir.resolve())
    assert "stopped" in await db_down(a)


@pytest.mark.parametrize("layout", ["shared-root"])
async def test_a_cluster_whose_id_differs_is_left_alone(workspace: Workspace) -> None:
    a = workspace.project("a")
    a_pid = int(dict((await db_up(a)).details)["pid"])
    b = workspace.project("b", port=a.database.port)
    # b's state points at a's cluster with an id of its own (say, an edited or stale file)
    record = json.loads((a.state_dir / "native.json").read_text())
    b.state_dir.mkdir(parents=True)
    forged = {**record, "cluster_id": "not-the-same", "state_dir": str(b.state_dir.resolve())}
    (b.state_dir / "native.json").write_text(json.dumps(forged))
    shutil.copy2(a.state_dir / "password", b.state_dir / "password")

    with pytest.raises(ClusterOwnershipError) as info:
        await db_down(b, remove_data=True)
    assert info.value.owner == str(a.state_dir.resolve())
    assert Path(info.value.cluster) == Path(record["base"])
    assert await _pid(a) == a_pid
    assert Path(record["base"], "data", "PG_VERSION").is_file()


# -- a server whose state was deleted -------------------------------------------------------------


async def test_an_orphaned_server_is_recognised_and_the_hint_stops_it(
    workspace: Workspace, layout: str
) -> None:
    a = workspace.project("a")
    up = await db_up(a)
    pid = int(dict(up.details)["pid"])
    workspace.pids.append(pid)
    shutil.rmtree(a.state_dir, ignore_errors=True)  # .perfkit deleted while the server runs
    shutil.rmtree(a.state_dir, ignore_errors=True)

    if layout == "in-state":
        # its data went with .perfkit: db-up names the orphan, and `kill -INT <pid>` stops it
        with pytest.raises(PerfkitServerOnPortError) as info:
            await db_up(a)
        assert info.value.pid == pid and info.value.orphan and info.value.data_deleted
        assert info.value.port == a.database.port
        # and no new cluster was made where that server, stopping, would write its control file
        assert not (a.state_dir / "native" / "data" / "PG_VERSION").exists()
        os.kill(pid, signal.SIGINT)  # what the hint says: `kill -INT <pid>`
        await _wait_gone(pid)
    else:
        # the cluster survived under the shared root, but its password went with .perfkit
        with pytest.raises(NotSetUpError) as missing:
            await db_up(a)
        assert missing.value.missing == str(a.state_dir / "password")
        said = await db_down(a, remove_data=True)  # what the hint says
        assert "stopped" in said
        await _wait_gone(pid)
    again = await db_up(a)
    assert again.running and again.started


# -- a fresh checkout ------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["shared-root"])
@pytest.mark.parametrize("state_exists", [False, True])
async def test_status_and_url_create_nothing_on_a_fresh_checkout(
    workspace: Workspace, state_exists: bool
) -> None:
    cfg = workspace.project("fresh")
    if state_exists:
        cfg.state_dir.mkdir(parents=True)

    status = await db_status(cfg)
    assert cfg.state_dir.exists() == state_exists
    assert list(_state_files(cfg.state_dir)) == []
    assert not status.running
    assert status.backend == "native"
    assert "password" in dict(status.details)  # reported missing, not made

    with pytest.raises(NotSetUpError) as info:
        db_url(cfg)
    assert info.value.exit_code == 3
    assert info.value.missing == str(cfg.state_dir / "password")
    assert cfg.state_dir.exists() == state_exists
    assert list(_state_files(cfg.state_dir)) == []
