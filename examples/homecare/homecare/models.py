"""The home-care agency's schema: SQLAlchemy 2 declarative models of its seven tables.

Agencies employ caregivers; a caregiver has one home agency and may work for several through
``agency_caregivers`` (many to many). Each client has one care plan, handled by a responsible
caregiver; a plan is reviewed in cycles, and each cycle collects deliverables in
``documents`` (an assessment, the care plan itself, and for a finished cycle its monitoring
report).

Schema features this example exists to show (the kinds a real application has):

- PostgreSQL ENUM types (``caregiver_role``, ``review_status``, ``document_kind``);
- UUID keys made on the client (a Python-side ``default`` only, no server default);
- an integer ``SERIAL`` key (``review_cycles.id``) that a child (``documents``) references;
- NOT NULL booleans and dates without server defaults (every insert must give them);
- a cycle of NOT NULL foreign keys: ``agencies.created_by`` -> ``caregivers.id`` and
  ``caregivers.home_agency_id`` -> ``agencies.id``. The first is ``use_alter`` (created after
  both tables, so SQLAlchemy can order the tables) and deferred to the end of the transaction
  (so an agency and its first caregiver can be inserted together).
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

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
    UniqueConstraint,
    text,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class CaregiverRole(enum.StrEnum):
    """What a caregiver does at the agency."""

    OWNER = "owner"
    COORDINATOR = "coordinator"
    AIDE = "aide"


class ReviewStatus(enum.StrEnum):
    """A review cycle is open until its review is done."""

    OPEN = "open"
    CLOSED = "closed"


class DocumentKind(enum.StrEnum):
    """The deliverables of a review cycle."""

    ASSESSMENT = "assessment"
    CARE_PLAN = "care_plan"
    MONITORING_REPORT = "monitoring_report"


def pg_enum(kind: type[enum.Enum], name: str) -> SAEnum:
    """A native PostgreSQL ENUM whose labels are the Python enum's values."""
    return SAEnum(
        kind,
        name=name,
        native_enum=True,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    """Declarative base with a deterministic constraint naming convention."""

    metadata = MetaData(naming_convention=NAMING)


class AgencyCaregiver(Base):
    """A caregiver's membership of an agency (the many-to-many association)."""

    __tablename__ = "agency_caregivers"

    agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agencies.id", ondelete="CASCADE"), primary_key=True
    )
    caregiver_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("caregivers.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    #: The membership at the caregiver's home agency.
    is_primary: Mapped[bool] = mapped_column(Boolean)
    joined_on: Mapped[dt.date] = mapped_column(Date)


class Agency(Base):
    """A home-care agency."""

    __tablename__ = "agencies"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(20))
    #: The caregiver who registered the agency (its owner). Half of the foreign-key cycle.
    created_by: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(
            "caregivers.id",
            use_alter=True,
            deferrable=True,
            initially="DEFERRED",
            ondelete="RESTRICT",
        ),
        index=True,
    )
    is_active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))

    members: Mapped[list[Caregiver]] = relationship(
        secondary="agency_caregivers", back_populates="agencies", viewonly=True
    )


class Caregiver(Base):
    """A caregiver; review reminders go to the responsible caregiver of a plan."""

    __tablename__ = "caregivers"
    __table_args__ = (
        CheckConstraint("reminder_lead_days BETWEEN 1 AND 180", name="lead_days_range"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    home_agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agencies.id", ondelete="RESTRICT"), index=True
    )
    full_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(255), unique=True)
    role: Mapped[CaregiverRole] = mapped_column(pg_enum(CaregiverRole, "caregiver_role"))
    is_active: Mapped[bool] = mapped_column(Boolean)
    reminders_enabled: Mapped[bool] = mapped_column(Boolean)
    #: How many days before a review is due the caregiver wants to hear of it.
    reminder_lead_days: Mapped[int] = mapped_column(Integer)
    last_reminded_on: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))

    home_agency: Mapped[Agency] = relationship(foreign_keys=[home_agency_id])
    agencies: Mapped[list[Agency]] = relationship(
        secondary="agency_caregivers", back_populates="members", viewonly=True
    )


class Client(Base):
    """A person the agency cares for at home."""

    __tablename__ = "clients"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agencies.id", ondelete="CASCADE"), index=True
    )
    full_name: Mapped[str] = mapped_column(String(200))
    date_of_birth: Mapped[dt.date] = mapped_column(Date)
    is_active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class CarePlan(Base):
    """A client's care plan and the caregiver responsible for it."""

    __tablename__ = "care_plans"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agencies.id", ondelete="CASCADE"), index=True
    )
    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), unique=True
    )
    caregiver_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("caregivers.id", ondelete="RESTRICT"), index=True
    )
    is_archived: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class ReviewCycle(Base):
    """One review period of a care plan; its key is a ``SERIAL`` integer."""

    __tablename__ = "review_cycles"
    __table_args__ = (
        CheckConstraint("due_on >= starts_on", name="dates_ordered"),
        UniqueConstraint("care_plan_id", "cycle_number"),
        # The reminder batch's access path: the latest open cycle of each plan, by due date.
        Index(
            "ix_review_cycles_open_due_on",
            "due_on",
            postgresql_where=text("is_latest AND status = 'open'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    care_plan_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("care_plans.id", ondelete="CASCADE"), index=True
    )
    cycle_number: Mapped[int] = mapped_column(Integer)
    starts_on: Mapped[dt.date] = mapped_column(Date)
    due_on: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[ReviewStatus] = mapped_column(pg_enum(ReviewStatus, "review_status"))
    is_latest: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class Document(Base):
    """A deliverable of a review cycle: uploaded, and signed by the client when done."""

    __tablename__ = "documents"
    __table_args__ = (
        UniqueConstraint("review_cycle_id", "kind"),
        CheckConstraint("signed = (signed_on IS NOT NULL)", name="signed_has_date"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    review_cycle_id: Mapped[int] = mapped_column(ForeignKey("review_cycles.id", ondelete="CASCADE"))
    kind: Mapped[DocumentKind] = mapped_column(pg_enum(DocumentKind, "document_kind"))
    title: Mapped[str] = mapped_column(String(200))
    signed: Mapped[bool] = mapped_column(Boolean)
    uploaded_on: Mapped[dt.date] = mapped_column(Date)
    signed_on: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


metadata = Base.metadata
