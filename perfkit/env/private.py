"""A private, throw-away PostgreSQL brought up by perfkit itself: a native cluster in a
temporary state folder, on a free port of its own, removed on exit. Tests
(:mod:`perfkit.testing`, which re-exports it) and perfkit's benchmarks run on one; never on
the user's ``perfkit db-up`` server."""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from perfkit.config import Config, load_config
from perfkit.env.native import NativeEnvironment

#: The database name tests use: it says "test", so destructive commands accept it.
TEST_DATABASE = "perfkit_test"


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
