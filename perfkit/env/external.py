"""The external backend: a database someone else runs, named by a URL in the environment.

``PERFORMANCE_TEST_DATABASE_URL`` wins over ``TEST_DATABASE_URL`` (the plan's order). perfkit
only checks that it answers; it never starts, stops, removes or reconfigures an external
server. ``database.settings`` it runs with other values are reported as warnings.
"""

from __future__ import annotations

from perfkit.config import Config
from perfkit.db import wait_until_ready
from perfkit.env.base import ServerStatus, server_facts
from perfkit.env.settings import report_running
from perfkit.errors import DatabaseEnvError, PerfkitError
from perfkit.urls import is_postgres_url, mask_url


class ExternalEnvironment:
    """A database at a URL from the environment; perfkit does not manage its lifecycle."""

    backend = "external"

    def __init__(self, cfg: Config) -> None:
        if not cfg.external_url:
            raise DatabaseEnvError(
                "the external backend needs a URL",
                hint="export PERFORMANCE_TEST_DATABASE_URL (or TEST_DATABASE_URL)",
            )
        if not is_postgres_url(cfg.external_url):
            raise DatabaseEnvError(
                f"not a PostgreSQL URL: {mask_url(cfg.external_url)}",
                hint="use postgresql://user:password@host:port/database",
            )
        self._url = cfg.external_url
        self._connect_timeout = cfg.pool.connect_timeout
        self._settings = cfg.database.settings
        self._source = cfg.source.name

    def url(self) -> str:
        return self._url

    async def up(self) -> ServerStatus:
        await wait_until_ready(self._url, deadline_s=self._connect_timeout)
        # Never changed here: what differs from scales.yaml is only reported.
        notes = await report_running(self._url, self._settings, source=self._source, strict=False)
        status = await self.status()
        return ServerStatus(**{**status.__dict__, "details": (*status.details, *notes)})

    async def down(self, *, remove_data: bool = False) -> str:
        return (
            f"external database {mask_url(self._url)} is not managed by perfkit: "
            "nothing stopped" + (" and nothing removed" if remove_data else "")
        )

    async def status(self) -> ServerStatus:
        try:
            version, size = await server_facts(self._url, timeout=self._connect_timeout)
        except PerfkitError as exc:
            return ServerStatus(
                backend=self.backend, running=False, url=self._url,
                details=(("error", exc.message),),
            )  # fmt: skip
        return ServerStatus(
            backend=self.backend, running=True, url=self._url, version=version, data_bytes=size
        )
