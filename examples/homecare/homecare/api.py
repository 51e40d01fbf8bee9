"""The agency's HTTP API (FastAPI): what the caregivers' phone app calls.

Endpoints:

``GET /health``
    liveness; touches no database;
``GET /api/dashboard?due_within_days=N``
    what a caregiver sees first, for their home agency: ``clients`` (active clients),
    ``open_reviews`` (the latest cycle of each care plan not archived, still open),
    ``due_reviews`` (those of them due within N days of today, overdue included; N defaults to
    30: the filtered count) and ``caregivers`` (the agency's members). One ``SELECT``;
``PATCH /api/caregivers/me/name``
    ``{"full_name": "..."}``: renames the signed-in caregiver and commits.

Dependencies, the kinds a real application has (perfkit overrides them by import path):

- :func:`get_db`: a session of the application's own engine (:mod:`homecare.db`) per request;
- :func:`current_caregiver`: the caregiver of the bearer token (``<caregiver id>.<signature>``,
  see :func:`token_for`), loaded in the request's session; 401 for anything else;
- :func:`rate_limit`: at most :data:`RATE_LIMIT` requests per caregiver per second (429 past
  it), unless ``limiter.enabled`` is false.

The lifespan disposes of the engine's connections at shutdown.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Header, HTTPException, Query
from pydantic import BaseModel, Field
from sqlalchemy import func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from homecare.db import SessionLocal, engine
from homecare.models import AgencyCaregiver, Caregiver, CarePlan, Client, ReviewCycle
from homecare.settings import settings

#: Requests a caregiver may send per second.
RATE_LIMIT = 5


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    """Nothing to start; at shutdown, the engine's connections are closed."""
    yield
    await engine.dispose()


app = FastAPI(title="Home care", lifespan=lifespan)


async def get_db() -> AsyncIterator[AsyncSession]:
    """A session on the application's database for one request."""
    async with SessionLocal() as session:
        yield session


Db = Annotated[AsyncSession, Depends(get_db)]


def token_for(caregiver_id: uuid.UUID) -> str:
    """The bearer token of a caregiver: their id and its HMAC with the application's secret."""
    signature = hmac.new(settings.secret.encode(), str(caregiver_id).encode(), hashlib.sha256)
    return f"{caregiver_id}.{signature.hexdigest()[:32]}"


async def current_caregiver(db: Db, authorization: Annotated[str, Header()] = "") -> Caregiver:
    """The active caregiver whose token the request carries; 401 otherwise."""
    scheme, _, token = authorization.partition(" ")
    raw_id, _, _signature = token.partition(".")
    try:
        caregiver_id = uuid.UUID(raw_id)
    except ValueError:
        caregiver_id = None
    if (
        scheme.lower() != "bearer"
        or caregiver_id is None
        or not hmac.compare_digest(token, token_for(caregiver_id))
    ):
        raise HTTPException(status_code=401, detail="not signed in")
    caregiver = await db.get(Caregiver, caregiver_id)
    if caregiver is None or not caregiver.is_active:
        raise HTTPException(status_code=401, detail="not signed in")
    return caregiver


CurrentCaregiver = Annotated[Caregiver, Depends(current_caregiver)]


class RateLimiter:
    """At most ``limit`` requests per key in each one-second window (this process only)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.enabled = True
        self._windows: dict[str, tuple[int, int]] = {}

    def allow(self, key: str) -> bool:
        if not self.enabled:
            return True
        second = int(time.monotonic())
        window, count = self._windows.get(key, (second, 0))
        count = count + 1 if window == second else 1
        self._windows[key] = (second, count)
        return count <= self.limit


limiter = RateLimiter(RATE_LIMIT)


async def rate_limit(caregiver: CurrentCaregiver) -> None:
    """429 past :data:`RATE_LIMIT` requests per second from one caregiver."""
    if not limiter.allow(str(caregiver.id)):
        raise HTTPException(status_code=429, detail="too many requests")


RateLimited = Depends(rate_limit)


class Dashboard(BaseModel):
    """The counts of the caregiver's home agency."""

    agency_id: uuid.UUID
    clients: int
    open_reviews: int
    due_reviews: int
    caregivers: int


class NameChange(BaseModel):
    """A new name."""

    full_name: str = Field(min_length=1, max_length=200)


class CaregiverName(BaseModel):
    id: uuid.UUID
    full_name: str


def utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


@app.get("/health")
async def health() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@app.get("/api/dashboard", dependencies=[RateLimited])
async def dashboard(
    caregiver: CurrentCaregiver,
    db: Db,
    due_within_days: Annotated[int, Query(ge=0, le=365)] = 30,
) -> Dashboard:
    """The home agency's counts (module docstring), in one statement."""
    agency = caregiver.home_agency_id
    open_reviews = (
        select(func.count())
        .select_from(ReviewCycle)
        .join(CarePlan, CarePlan.id == ReviewCycle.care_plan_id)
        .where(
            CarePlan.agency_id == agency,
            CarePlan.is_archived.is_(False),
            ReviewCycle.is_latest,
            ReviewCycle.status == literal_column("'open'"),
        )
    )
    due_by = utc_today() + dt.timedelta(days=due_within_days)
    row = (
        await db.execute(
            select(
                select(func.count())
                .select_from(Client)
                .where(Client.agency_id == agency, Client.is_active)
                .scalar_subquery(),
                open_reviews.scalar_subquery(),
                open_reviews.where(ReviewCycle.due_on <= due_by).scalar_subquery(),
                select(func.count())
                .select_from(AgencyCaregiver)
                .where(AgencyCaregiver.agency_id == agency)
                .scalar_subquery(),
            )
        )
    ).one()
    clients, open_count, due_count, caregivers = row
    return Dashboard(
        agency_id=agency,
        clients=clients,
        open_reviews=open_count,
        due_reviews=due_count,
        caregivers=caregivers,
    )


@app.patch("/api/caregivers/me/name", dependencies=[RateLimited])
async def rename(change: NameChange, caregiver: CurrentCaregiver, db: Db) -> CaregiverName:
    """Rename the signed-in caregiver."""
    caregiver.full_name = change.full_name.strip()
    await db.commit()
    return CaregiverName(id=caregiver.id, full_name=caregiver.full_name)
