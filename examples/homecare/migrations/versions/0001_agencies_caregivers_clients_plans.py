"""Agencies, caregivers, clients and their care plans.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """The first tables; ``agencies.created_by`` waits for ``caregivers`` (a cycle)."""
    op.create_table(
        "agencies",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_agencies"),
    )
    op.create_index("ix_agencies_created_by", "agencies", ["created_by"])
    op.create_table(
        "caregivers",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("home_agency_id", sa.UUID(), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column(
            "role", sa.Enum("owner", "coordinator", "aide", name="caregiver_role"), nullable=False
        ),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("reminders_enabled", sa.Boolean(), nullable=False),
        sa.Column("reminder_lead_days", sa.Integer(), nullable=False),
        sa.Column("last_reminded_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "reminder_lead_days BETWEEN 1 AND 180", name=op.f("ck_caregivers_lead_days_range")
        ),
        sa.ForeignKeyConstraint(
            ["home_agency_id"],
            ["agencies.id"],
            name="fk_caregivers_home_agency_id_agencies",
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_caregivers"),
        sa.UniqueConstraint("email", name="uq_caregivers_email"),
    )
    op.create_index("ix_caregivers_home_agency_id", "caregivers", ["home_agency_id"])
    op.create_foreign_key(
        "fk_agencies_created_by_caregivers",
        "agencies",
        "caregivers",
        ["created_by"],
        ["id"],
        ondelete="RESTRICT",
        deferrable=True,
        initially="DEFERRED",
    )
    op.create_table(
        "clients",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("agency_id", sa.UUID(), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name="fk_clients_agency_id_agencies", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_clients"),
    )
    op.create_index("ix_clients_agency_id", "clients", ["agency_id"])
    op.create_table(
        "agency_caregivers",
        sa.Column("agency_id", sa.UUID(), nullable=False),
        sa.Column("caregiver_id", sa.UUID(), nullable=False),
        sa.Column("is_primary", sa.Boolean(), nullable=False),
        sa.Column("joined_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name="fk_agency_caregivers_agency_id_agencies",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["caregiver_id"],
            ["caregivers.id"],
            name="fk_agency_caregivers_caregiver_id_caregivers",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("agency_id", "caregiver_id", name="pk_agency_caregivers"),
    )
    op.create_index("ix_agency_caregivers_caregiver_id", "agency_caregivers", ["caregiver_id"])
    op.create_table(
        "care_plans",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("agency_id", sa.UUID(), nullable=False),
        sa.Column("client_id", sa.UUID(), nullable=False),
        sa.Column("caregiver_id", sa.UUID(), nullable=False),
        sa.Column("is_archived", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name="fk_care_plans_agency_id_agencies",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["caregiver_id"],
            ["caregivers.id"],
            name="fk_care_plans_caregiver_id_caregivers",
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name="fk_care_plans_client_id_clients",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_care_plans"),
        sa.UniqueConstraint("client_id", name="uq_care_plans_client_id"),
    )
    op.create_index("ix_care_plans_agency_id", "care_plans", ["agency_id"])
    op.create_index("ix_care_plans_caregiver_id", "care_plans", ["caregiver_id"])


def downgrade() -> None:
    """Drop them, children first."""
    for table in ("care_plans", "agency_caregivers", "clients"):
        op.drop_table(table)
    op.drop_constraint("fk_agencies_created_by_caregivers", "agencies", type_="foreignkey")
    op.drop_table("caregivers")
    op.drop_table("agencies")
    sa.Enum(name="caregiver_role").drop(op.get_bind())
