"""The database lifecycle as front ends call it: up, down, status, url.

One function per command, each taking a :class:`~perfkit.config.Config`; ``tasks.py`` and
``noxfile.py`` both call these, so they cannot drift apart.
"""

from __future__ import annotations

from perfkit.config import Config
from perfkit.env import ServerStatus, forget_backend, remember_backend, select_environment


async def db_up(cfg: Config) -> ServerStatus:
    """Bring the dedicated database up (idempotent) and make sure the test database exists."""
    env = select_environment(cfg)
    status = await env.up()
    remember_backend(cfg, env)
    return status


async def db_down(cfg: Config, *, remove_data: bool = False) -> str:
    """Stop the dedicated database; with ``remove_data``, delete perfkit's cluster too."""
    env = select_environment(cfg)
    said = await env.down(remove_data=remove_data)
    if remove_data:
        forget_backend(cfg)
    return said


async def db_status(cfg: Config) -> ServerStatus:
    """Report the backend, version, port, size and state, changing nothing."""
    return await select_environment(cfg).status()


def db_url(cfg: Config) -> str:
    """The test database's URL, password included: for ``export TEST_DATABASE_URL=...``."""
    return select_environment(cfg).url()
