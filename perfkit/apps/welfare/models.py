"""The sample application's schema: SQLAlchemy 2 models of its five tables.

The tables are those of the welfare-office application in the plan: offices (事業所), staff
(スタッフ), welfare recipients (利用者), individual support plans (個別支援計画) and their cycles
(支援計画サイクル). Ids are UUIDs made by the client, so bulk loads never read rows back.

The indexes are the ones the deadline-alert batch needs: active cycles by end date, and every
foreign key. perfkit fingerprints the DDL (:class:`perfkit.schema.Schema`); snapshots carry the
fingerprint, so data made for another schema is never restored silently.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

#: Staff roles the application knows.
STAFF_ROLES = ("owner", "service_manager", "employee")
#: Support-plan cycle states; only ``active`` cycles are alerted.
CYCLE_STATUSES = ("active", "completed")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with a deterministic constraint naming convention."""

    metadata = MetaData(naming_convention=NAMING)


class Office(Base):
    """事業所: a welfare office."""

    __tablename__ = "offices"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    address: Mapped[str] = mapped_column(String(500))
    phone_number: Mapped[str] = mapped_column(String(20))
    is_test_data: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

    staffs: Mapped[list[Staff]] = relationship(back_populates="office")


class Staff(Base):
    """スタッフ: a staff member who may receive deadline alerts."""

    __tablename__ = "staffs"
    __table_args__ = (
        CheckConstraint("role IN ('owner', 'service_manager', 'employee')", name="role_valid"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    office_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("offices.id", ondelete="CASCADE"), index=True
    )
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    full_name: Mapped[str] = mapped_column(String(255))
    email: Mapped[str] = mapped_column(String(255), unique=True)
    hashed_password: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32))
    #: in_app_notification, email_notification, system_notification (bool),
    #: email_threshold_days, push_threshold_days (int)
    notification_preferences: Mapped[dict[str, Any]] = mapped_column(JSONB)
    is_test_data: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

    office: Mapped[Office] = relationship(back_populates="staffs")


class WelfareRecipient(Base):
    """利用者: a person the office supports."""

    __tablename__ = "welfare_recipients"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    office_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("offices.id", ondelete="CASCADE"), index=True
    )
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    full_name: Mapped[str] = mapped_column(String(255))
    date_of_birth: Mapped[dt.date] = mapped_column(Date)
    is_test_data: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class IndividualSupportPlan(Base):
    """個別支援計画: a recipient's individual support plan, with a responsible staff member."""

    __tablename__ = "individual_support_plans"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    office_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("offices.id", ondelete="CASCADE"), index=True
    )
    welfare_recipient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("welfare_recipients.id", ondelete="CASCADE"), index=True
    )
    responsible_staff_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staffs.id", ondelete="SET NULL"), index=True
    )
    is_test_data: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class SupportPlanCycle(Base):
    """支援計画サイクル: one period of a support plan; alerts fire as its end date nears."""

    __tablename__ = "support_plan_cycles"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'completed')", name="status_valid"),
        CheckConstraint("end_date >= start_date", name="dates_ordered"),
        # The batch's access path: active cycles by end date.
        Index(
            "ix_support_plan_cycles_active_end_date",
            "end_date",
            postgresql_where=text("status = 'active'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    individual_support_plan_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("individual_support_plans.id", ondelete="CASCADE"), index=True
    )
    cycle_number: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="active", server_default="active")
    is_test_data: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


metadata = Base.metadata
