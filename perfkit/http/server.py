"""The application under a real uvicorn process on 127.0.0.1, started and stopped by perfkit.

For the team that wants the network and serialization in the number. :func:`uvicorn_server`
binds a listening socket on 127.0.0.1 to a free port (the kernel picks it: no race with
another process for the port) and hands it to ``python -m perfkit.http.serve``, a child
process that imports the app, installs the overrides on a session factory of its own on the
data (:mod:`perfkit.http.serve`) and serves on that socket. Ready means a real request to
``ready_path`` answered (any status), retried until ``startup_timeout``; a child that exits
first, or a deadline passed, is a :class:`ServerError` with the child's last lines. On exit
the child gets SIGTERM (uvicorn's graceful shutdown: the app's lifespan shutdown runs), and is
killed if it has not exited 10 seconds later.

The child's settings (the database URL among them) travel in an environment variable, never in
its arguments. Statements are not counted in this mode: they happen in the child.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import IO, Any

import httpx
import msgspec

from perfkit.config import PoolConfig
from perfkit.errors import DatabaseEnvError
from perfkit.httpconfig import Overrides
from perfkit.typedconfig import to_plain
from perfkit.urls import mask_url

#: The environment variables the child reads its settings and its socket from.
SPEC_ENV = "PERFKIT_SERVE_SPEC"
FD_ENV = "PERFKIT_SERVE_FD"
#: Seconds the child has to exit after SIGTERM before it is killed.
STOP_TIMEOUT = 10.0
#: Lines of the child's output a :class:`ServerError` shows.
TAIL_LINES = 8


class ServerError(DatabaseEnvError):
    """The uvicorn process did not become ready, or exited early (``stage``: ``exited`` or
    ``timeout``); ``output`` holds its last lines."""

    def __init__(self, message: str, *, stage: str, output: str) -> None:
        tail = " | ".join(line for line in output.strip().splitlines()[-TAIL_LINES:])
        super().__init__(
            mask_url(f"{message}" + (f"; its last output: {tail}" if tail else "")),
            hint="run the app by hand with uvicorn to see why, or use mode: in-process",
        )
        self.stage = stage
        self.output = output


@dataclass(frozen=True)
class ServeSpec:
    """What the child needs: the app's import path, ``sys.path`` entries, the data's URL and
    driver, the pool settings, the overrides, whether the data is writable, and the source
    (scales.yaml's name) its errors name."""

    app: str
    url: str
    driver: str
    pool: PoolConfig
    overrides: Overrides
    writable: bool
    source: str
    sys_path: tuple[str, ...] = field(default_factory=lambda: tuple(sys.path))

    def to_json(self) -> str:
        return json.dumps(
            {
                "app": self.app,
                "url": self.url,
                "driver": self.driver,
                "pool": msgspec.structs.asdict(self.pool),
                "overrides": to_plain(self.overrides),
                "writable": self.writable,
                "source": self.source,
                "sys_path": list(self.sys_path),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> ServeSpec:
        raw: Mapping[str, Any] = json.loads(text)
        return cls(
            app=raw["app"],
            url=raw["url"],
            driver=raw["driver"],
            pool=PoolConfig(**raw["pool"]),
            overrides=msgspec.convert(raw["overrides"], Overrides),
            writable=bool(raw["writable"]),
            source=raw["source"],
            sys_path=tuple(raw["sys_path"]),
        )


def listening_socket() -> socket.socket:
    """A TCP socket listening on 127.0.0.1, on a port the kernel chose, inheritable."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


@asynccontextmanager
async def uvicorn_server(
    spec: ServeSpec, *, ready_path: str = "/", startup_timeout: float = 30.0
) -> AsyncIterator[str]:
    """The app of ``spec`` served by uvicorn in a child process; yields its base URL
    (``http://127.0.0.1:<port>``) once it answered ``ready_path``. See the module docstring."""
    with tempfile.TemporaryFile() as output, listening_socket() as sock:
        port = sock.getsockname()[1]
        env = {**os.environ, SPEC_ENV: spec.to_json(), FD_ENV: str(sock.fileno())}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "perfkit.http.serve",
            stdin=asyncio.subprocess.DEVNULL, stdout=output, stderr=output,
            env=env, pass_fds=(sock.fileno(),),
        )  # fmt: skip
        sock.close()  # the child serves on it now
        base_url = f"http://127.0.0.1:{port}"
        try:
            await _wait_ready(proc, base_url + ready_path, startup_timeout, output)
            yield base_url
        finally:
            await _stop(proc)


async def _wait_ready(
    proc: asyncio.subprocess.Process, url: str, timeout: float, output: IO[bytes]
) -> None:
    """Until ``url`` answers (any status): a real request, retried until the deadline."""
    deadline = time.monotonic() + timeout
    exited = asyncio.ensure_future(proc.wait())
    delay = 0.02
    try:
        async with httpx.AsyncClient() as probe:
            while True:
                if exited.done():
                    raise ServerError(
                        f"the uvicorn process exited with status {proc.returncode} before it "
                        "was ready",
                        stage="exited",
                        output=_read(output),
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ServerError(
                        f"the uvicorn process did not answer {url} within {timeout:g} s",
                        stage="timeout",
                        output=_read(output),
                    )
                try:
                    await probe.get(url, timeout=min(1.0, left))
                    return
                except httpx.TransportError:
                    pass
                await asyncio.wait({exited}, timeout=min(delay, max(0.0, left)))
                delay = min(delay * 2, 0.25)
    finally:
        if not exited.done():
            exited.cancel()


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM to the child, then SIGKILL if it has not exited after :data:`STOP_TIMEOUT`."""
    if proc.returncode is not None:
        return
    proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()


def _read(output: IO[bytes]) -> str:
    output.flush()
    output.seek(0)
    return output.read().decode("utf-8", errors="replace")
