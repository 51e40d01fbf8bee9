"""Review cycles of care plans, and the documents each cycle collects.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Cycles (a ``SERIAL`` key) and their documents."""
    op.create_table(
        "review_cycles",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("care_plan_id", sa.UUID(), nullable=False),
        sa.Column("cycle_number", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("status", sa.Enum("open", "closed", name="review_status"), nullable=False),
        sa.Column("is_latest", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("due_on >= starts_on", name=op.f("ck_review_cycles_dates_ordered")),
        sa.ForeignKeyConstraint(
            ["care_plan_id"],
            ["care_plans.id"],
            name="fk_review_cycles_care_plan_id_care_plans",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_review_cycles"),
        sa.UniqueConstraint(
            "care_plan_id", "cycle_number", name="uq_review_cycles_care_plan_id_cycle_number"
        ),
    )
    op.create_index("ix_review_cycles_care_plan_id", "review_cycles", ["care_plan_id"])
    op.create_index(
        "ix_review_cycles_open_due_on",
        "review_cycles",
        ["due_on"],
        postgresql_where=sa.text("is_latest AND status = 'open'"),
    )
    op.create_table(
        "documents",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("review_cycle_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("assessment", "care_plan", "monitoring_report", name="document_kind"),
            nullable=False,
        ),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("signed", sa.Boolean(), nullable=False),
        sa.Column("uploaded_on", sa.Date(), nullable=False),
        sa.Column("signed_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "signed = (signed_on IS NOT NULL)", name=op.f("ck_documents_signed_has_date")
        ),
        sa.ForeignKeyConstraint(
            ["review_cycle_id"],
            ["review_cycles.id"],
            name="fk_documents_review_cycle_id_review_cycles",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_documents"),
        sa.UniqueConstraint("review_cycle_id", "kind", name="uq_documents_review_cycle_id_kind"),
    )


def downgrade() -> None:
    """Drop them and their types."""
    op.drop_table("documents")
    op.drop_table("review_cycles")
    sa.Enum(name="document_kind").drop(op.get_bind())
    sa.Enum(name="review_status").drop(op.get_bind())
