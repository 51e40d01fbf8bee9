"""``python -m perfkit.http.serve``: the uvicorn process :mod:`perfkit.http.server` starts.

It reads its :class:`~perfkit.http.server.ServeSpec` from ``$PERFKIT_SERVE_SPEC`` and its
listening socket's descriptor from ``$PERFKIT_SERVE_FD`` (both set by the parent; the
application's settings are in the environment it inherited), imports the app, makes an engine
on the data (read-only unless the data is a clone), reads the current-user rows, installs the
overrides and serves with uvicorn on that socket until SIGTERM. Not meant to be run by hand.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys

import uvicorn

from perfkit.db import create_session_factory, open_engine
from perfkit.errors import PerfkitError
from perfkit.http.overrides import load_users, overridden
from perfkit.http.server import FD_ENV, SPEC_ENV, ServeSpec
from perfkit.loading import import_object
from perfkit.urls import mask_url


async def serve(spec: ServeSpec, fd: int) -> None:
    """Serve ``spec``'s app on the listening socket ``fd`` until uvicorn is told to stop."""
    app = import_object(spec.app, key="app.http.app", source=spec.source)
    engine = await open_engine(spec.url, spec.pool, driver=spec.driver)
    try:
        bound = engine if spec.writable else engine.execution_options(postgresql_readonly=True)
        factory = create_session_factory(bound, spec.pool)
        pick = spec.overrides.current_user
        users = await load_users(pick, factory, source=spec.source) if pick else None
        with overridden(app, spec.overrides, session_factory=factory, users=users,
                        source=spec.source):  # fmt: skip
            config = uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False)
            await uvicorn.Server(config).serve(sockets=[socket.socket(fileno=fd)])
    finally:
        await engine.dispose()


def main() -> None:
    """Serve until SIGTERM; perfkit's own errors are one line on stderr (exit status 2 or
    its own), which the parent shows."""
    spec = ServeSpec.from_json(os.environ.pop(SPEC_ENV))
    fd = int(os.environ.pop(FD_ENV))
    sys.path[:0] = [p for p in spec.sys_path if p not in sys.path]
    try:
        asyncio.run(serve(spec, fd))
    except PerfkitError as exc:
        print(f"perfkit: {mask_url(exc.one_line())}", file=sys.stderr)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
