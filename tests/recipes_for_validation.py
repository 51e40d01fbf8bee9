"""A small made-up application for the recipe-validation tests: two tables, a good recipe, and
recipes each with one mistake. scales.yaml's ``app`` section reaches them by import path
(``recipes_for_validation:...``, with ``app.import_root`` set to this folder)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Enum,
    ForeignKey,
    Identity,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    text,
)
from sqlalchemy import Computed as Generated
from sqlalchemy.dialects.postgresql import JSONB

from perfkit.datagen.recipe import Computed, Const, Recipe, Source, TableRecipe

metadata = MetaData()

Table(
    "teams",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", String(20), nullable=False),
    Column("status", Enum("open", "closed", name="team_status"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("note", Text, nullable=True),
    Column("score", Integer, nullable=False, server_default=text("0")),
)
Table(
    "members",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("team_id", Uuid, ForeignKey("teams.id"), nullable=False),
    Column("email", String(255), nullable=False),
    Column("is_active", Boolean, nullable=False),
    Column("preferences", JSONB, nullable=False),
    Column("number", Integer, Identity(), nullable=False),
    Column("email_domain", String(255), Generated("split_part(email, '@', 2)", persisted=True)),
)


def _team_names(block: Mapping[str, Sequence[Any]]) -> list[str]:
    return [f"team {n}" for n in block["number"]]


TEAMS: dict[str, Source] = {
    "id": "id",
    "name": Computed(_team_names),
    "status": Const("open"),
    "created_at": "created_at",
}
MEMBERS: dict[str, Source] = {
    "id": "id",
    "team_id": "office_id",
    "email": "email",
    "is_active": Const(True),
    "preferences": "notification_preferences",
}


def recipe(
    *, teams: Mapping[str, Source] = TEAMS, members: Mapping[str, Source] = MEMBERS
) -> Recipe:
    """The good recipe, or one with other columns."""
    return Recipe(
        version=1,
        tables=(TableRecipe("teams", "office", teams), TableRecipe("members", "staff", members)),
        dated_columns={},
    )


def without(columns: Mapping[str, Source], name: str) -> dict[str, Source]:
    return {k: v for k, v in columns.items() if k != name}


RECIPE = recipe()
#: members.is_active is NOT NULL without a default, and this recipe leaves it out.
MISSING_IS_ACTIVE = recipe(members=without(MEMBERS, "is_active"))


async def noop(session: Any) -> int:
    """Does nothing (the application needs a workload)."""
    return 0
