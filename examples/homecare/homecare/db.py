"""The application's database engine and sessions, made at import from its settings.

A module-level engine is what many applications have; creating it connects to nothing, and
perfkit makes sure ``APP_DATABASE_URL`` names its test database before this is imported.
perfkit times the workloads on engines of its own (scales.yaml's ``pool``), on the same
driver (psycopg 3).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from homecare.settings import settings

engine = create_async_engine(settings.database_url, pool_pre_ping=True)
SessionLocal: async_sessionmaker[AsyncSession] = async_sessionmaker(engine, expire_on_commit=False)
