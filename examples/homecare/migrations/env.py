"""Alembic's environment for the home-care example: migrations run online against the
database ``APP_DATABASE_URL`` names (the variable the application itself reads)."""

from __future__ import annotations

import os

from alembic import context
from homecare.models import metadata
from sqlalchemy import create_engine, pool

target_metadata = metadata


def run_migrations_online() -> None:
    """Run every pending migration in one transaction."""
    engine = create_engine(os.environ["APP_DATABASE_URL"], poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
