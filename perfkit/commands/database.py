"""``perfkit db-up``, ``db-down``, ``db-status``, ``db-url``: the dedicated PostgreSQL.

Each takes the run (its :attr:`~perfkit.run.Run.env`: ``--backend`` and ``--port`` are in its
config) and returns a report; nothing here imports SQLAlchemy, and asyncpg only when a running
server is asked for its facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from perfkit.views import pairs

if TYPE_CHECKING:
    from perfkit.env import ServerStatus
    from perfkit.run import Run


@dataclass(frozen=True)
class ServerReport:
    """What ``db-up`` and ``db-status`` say about the server (password masked)."""

    status: ServerStatus
    #: ``db-up``: it was brought up (``status.started`` says whether it had to start).
    brought_up: bool = False

    def lines(self) -> list[str]:
        s = self.status
        out = []
        if self.brought_up:
            verb = "started" if s.started else "already running"
            out.append(f"database {verb}: {s.backend}, {s.masked_url}")
        return out + pairs("dedicated database", s.rows())

    def to_json(self) -> dict[str, Any]:
        """``backend``, ``running``, ``started``, ``url`` (masked), ``version``,
        ``data_bytes`` and ``details`` (label: value)."""
        s = self.status
        return {
            "backend": s.backend,
            "running": s.running,
            "started": s.started,
            "url": s.masked_url,
            "version": s.version,
            "data_bytes": s.data_bytes,
            "details": dict(s.details),
        }


@dataclass(frozen=True)
class DownReport:
    """What ``db-down`` did."""

    backend: str
    said: str
    removed_data: bool

    def lines(self) -> list[str]:
        return [self.said]

    def to_json(self) -> dict[str, Any]:
        """``backend``, ``message``, ``removed_data``."""
        return {"backend": self.backend, "message": self.said, "removed_data": self.removed_data}


@dataclass(frozen=True)
class UrlReport:
    """The test database's URL, password included (the one command that prints it)."""

    url: str

    def lines(self) -> list[str]:
        return [self.url]

    def to_json(self) -> dict[str, Any]:
        """``url`` (with its password)."""
        return {"url": self.url}


async def server_up(run: Run) -> ServerStatus:
    """Bring the run's server up (idempotent: a running one is reused, an external one only
    checked), make sure the test database exists, and remember the backend so that later
    commands find the same server without probing."""
    from perfkit.env import remember_backend

    status = await run.env.up()
    remember_backend(run.cfg, run.env)
    return status


async def db_up(run: Run) -> ServerReport:
    """Start the dedicated PostgreSQL (idempotent) and create the test database."""
    return ServerReport(await server_up(run), brought_up=True)


async def db_down(run: Run, *, remove_data: bool = False) -> DownReport:
    """Stop the dedicated PostgreSQL; with ``remove_data``, delete perfkit's cluster (native)
    or volume (docker) too."""
    from perfkit.env import forget_backend

    said = await run.env.down(remove_data=remove_data)
    if remove_data:
        forget_backend(run.cfg)
    return DownReport(backend=run.env.backend, said=said, removed_data=remove_data)


async def db_status(run: Run) -> ServerReport:
    """The backend, version, port, size and state, changing nothing."""
    return ServerReport(await run.env.status())


async def db_url(run: Run) -> UrlReport:
    """The test database's URL, password included: for ``export TEST_DATABASE_URL=...``."""
    return UrlReport(run.env.url())
