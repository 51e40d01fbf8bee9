"""The application's ASGI app in this process, behind an httpx client.

What a team's own ``AsyncClient`` tests do: asgi-lifespan's ``LifespanManager`` runs the app's
lifespan (its startup before the first request, its shutdown at the end), and httpx's
``ASGITransport`` hands each request to the app in this process and event loop: no socket, no
server, the app's own routing, validation, dependencies and serialization. An exception the
app does not handle reaches the caller (``raise_app_exceptions``), so a load run names it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from asgi_lifespan import LifespanManager

#: Seconds the app's lifespan startup and shutdown may take.
LIFESPAN_TIMEOUT = 30.0


@asynccontextmanager
async def in_process_client(
    app: Any, *, base_url: str = "http://perfkit.test"
) -> AsyncIterator[httpx.AsyncClient]:
    """An ``httpx.AsyncClient`` on ``app`` (ASGI) in this process, its lifespan running for
    as long as the client lives."""
    async with LifespanManager(
        app, startup_timeout=LIFESPAN_TIMEOUT, shutdown_timeout=LIFESPAN_TIMEOUT
    ) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client
