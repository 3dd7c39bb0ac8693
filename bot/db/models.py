"""SQLAlchemy 2 typed ORM for the incident store."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta, timezone

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy import text as sa_text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates
from sqlalchemy.types import TypeDecorator


class IncidentStatus(str, enum.Enum):
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"


class Impact(str, enum.Enum):
    NONE = "none"
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"
    MAINTENANCE = "maintenance"


class ServiceStatus(str, enum.Enum):
    """Statuspage's component vocabulary, ordered from best to worst in SEVERITY."""

    OPERATIONAL = "operational"
    DEGRADED_PERFORMANCE = "degraded_performance"
    PARTIAL_OUTAGE = "partial_outage"
    MAJOR_OUTAGE = "major_outage"
    UNDER_MAINTENANCE = "under_maintenance"

    @property
    def severity(self) -> int:
        return SEVERITY[self]

    @property
    def is_affected(self) -> bool:
        return self is not ServiceStatus.OPERATIONAL


SEVERITY = {
    ServiceStatus.OPERATIONAL: 0,
    ServiceStatus.DEGRADED_PERFORMANCE: 1,
    ServiceStatus.UNDER_MAINTENANCE: 2,
    ServiceStatus.PARTIAL_OUTAGE: 3,
    ServiceStatus.MAJOR_OUTAGE: 4,
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC; SQLite would otherwise drop the offset."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; attach a time zone")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Non-native enums keep SQLite and PostgreSQL schemas alike and migrations simple.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        validate_strings=True,
        values_callable=lambda e: [m.value for m in e],
        length=32,
    )


class Base(DeclarativeBase):
    pass


class Service(Base):
    __tablename__ = "service"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    group: Mapped[str] = mapped_column(String(32), default="account")
    position: Mapped[int] = mapped_column(Integer, default=0)


class Incident(Base):
    __tablename__ = "incident"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[IncidentStatus] = mapped_column(_enum(IncidentStatus, "incident_status"))
    impact: Mapped[Impact] = mapped_column(_enum(Impact, "incident_impact"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    eta: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    next_update_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    public_message: Mapped[str] = mapped_column(Text, default="")
    cause: Mapped[str | None] = mapped_column(Text, default=None)
    source: Mapped[str] = mapped_column(String(32), default="manual")
    external_id: Mapped[str | None] = mapped_column(String(100), default=None, unique=True)

    impacts: Mapped[list[ServiceImpact]] = relationship(
        back_populates="incident", cascade="all, delete-orphan", order_by="ServiceImpact.service_key"
    )
    updates: Mapped[list[IncidentUpdate]] = relationship(
        back_populates="incident", cascade="all, delete-orphan", order_by="IncidentUpdate.posted_at"
    )


class ServiceImpact(Base):
    __tablename__ = "service_impact"
    __table_args__ = (UniqueConstraint("incident_id", "service_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"))
    service_key: Mapped[str] = mapped_column(ForeignKey("service.key"))
    status: Mapped[ServiceStatus] = mapped_column(_enum(ServiceStatus, "service_status"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    incident: Mapped[Incident] = relationship(back_populates="impacts")
    service: Mapped[Service] = relationship()


class IncidentUpdate(Base):
    __tablename__ = "incident_update"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"))
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[IncidentStatus] = mapped_column(_enum(IncidentStatus, "update_status"))
    message: Mapped[str] = mapped_column(Text)
    # Which services this update is about; empty means the whole incident.
    service_keys: Mapped[list[str]] = mapped_column(JSON, default=list)
    eta: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    next_update_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    # The upstream id (a Statuspage incident update), so a re-sync never duplicates it.
    external_id: Mapped[str | None] = mapped_column(String(100), default=None)

    incident: Mapped[Incident] = relationship(back_populates="updates")


class ApiToken(Base):
    """An operator's bearer token. Only its SHA-256 is stored; the token is shown once."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class AuditEntry(Base):
    """Who changed what, and when: one row per change, written in the change's transaction."""

    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(40))
    incident_id: Mapped[int | None] = mapped_column(Integer, default=None)
    detail: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)


class SourceHealth(Base):
    """The last success and failure of each incident source (e.g. the status-page sync)."""

    __tablename__ = "source_health"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_error: Mapped[str | None] = mapped_column(String(300), default=None)

    @property
    def failing(self) -> bool:
        if self.last_failure_at is None:
            return False
        return self.last_success_at is None or self.last_failure_at > self.last_success_at


class Subscription(Base):
    """A conversation that asked to be told when a service's incident changes ("tell me when it's fixed")."""

    __tablename__ = "subscription"
    __table_args__ = (Index("ix_subscription_client_key", "client_key", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(255), index=True)
    channel: Mapped[str] = mapped_column(String(40))
    # None: any active incident.
    service_key: Mapped[str | None] = mapped_column(String(32), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Updates with a larger id are news to this subscriber. Ids, not times: a status page's
    # update can carry a display time from before we learnt of it.
    after_update_id: Mapped[int] = mapped_column(Integer, default=0)
    # Set once the incident it waited for is resolved (or the customer cancels).
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # A keyed hash of the address it was asked from (web chat), for the per-address limit.
    client_key: Mapped[str | None] = mapped_column(String(32), default=None)


# A failed push is retried after 2, 4, 8 ... seconds, at most this long; pushes are never given up.
MAX_RETRY_DELAY = 300.0


class OutboxRow:
    """What every outbox row keeps about its delivery: at least once, and shown once."""

    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(300), default=None)
    # After a failed push, not before this time.
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Set by the action that shows a pushed notice, before Rasa sends it: a push repeated after
    # the notifier died mid-request shows nothing twice, even when Rasa dropped the first turn
    # after sending it (its tracker, and the delivered-notices slot, were never saved).
    shown_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    def claim_shown(self, now: datetime) -> bool:
        """Mark it shown, for the action about to show it; False if it was shown already."""
        if self.shown_at is not None:
            return False
        self.shown_at = now
        return True

    def attempted(self, now: datetime, error: str | None = None) -> None:
        """One push, delivered (no `error`) or failed: then retried later and shown again, since
        Rasa may have failed before sending."""
        self.attempts += 1
        if error is None:
            self.delivered_at = now
            return
        self.last_error = error[:300]
        self.retry_at = now + timedelta(seconds=min(MAX_RETRY_DELAY, 2.0**self.attempts))
        self.shown_at = None


class Notification(OutboxRow, Base):
    """The outbox: one row per (subscription, incident update). The unique pair is the de-duplication."""

    __tablename__ = "notification"
    __table_args__ = (UniqueConstraint("subscription_id", "update_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscription.id", ondelete="CASCADE"))
    update_id: Mapped[int] = mapped_column(ForeignKey("incident_update.id", ondelete="CASCADE"))

    subscription: Mapped[Subscription] = relationship()
    update: Mapped[IncidentUpdate] = relationship()


class EscalationStatus(str, enum.Enum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"


class Urgency(str, enum.Enum):
    """Ordered: SAFETY first in the queue (`priority`)."""

    NORMAL = "normal"
    TIME_CRITICAL = "time_critical"
    SAFETY = "safety"

    @property
    def priority(self) -> int:
        """The queue's sort key: 0 (safety) first. Stored beside the urgency so that the
        database sorts and indexes by it; the urgency's own text sorts in no useful order."""
        return PRIORITY[self]


PRIORITY = {Urgency.SAFETY: 0, Urgency.TIME_CRITICAL: 1, Urgency.NORMAL: 2}


# The console's queue reads only active escalations, most urgent and then longest waiting first:
# a partial index holds exactly those rows in that order (PostgreSQL and SQLite alike).
_ACTIVE_ROWS = sa_text("status <> 'resolved'")


class Escalation(Base):
    """A conversation handed to people, with what staff need to act on it."""

    __tablename__ = "escalation"
    __table_args__ = (
        Index(
            "ix_escalation_queue",
            "priority",
            "created_at",
            "id",
            postgresql_where=_ACTIVE_ROWS,
            sqlite_where=_ACTIVE_ROWS,
        ),
        Index("ix_escalation_service_queue", "service_key", "priority", "created_at"),
        Index("ix_escalation_resolved", "priority", "resolved_at"),
        Index("ix_escalation_updated", "updated_at"),
        Index("ix_escalation_client_key", "client_key", "created_at"),
        Index("ix_escalation_contact", "contact", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(255), index=True)
    channel: Mapped[str] = mapped_column(String(40))
    status: Mapped[EscalationStatus] = mapped_column(_enum(EscalationStatus, "escalation_status"))
    urgency: Mapped[Urgency] = mapped_column(_enum(Urgency, "escalation_urgency"))
    # Urgency.priority, kept in step by `_priority`; the queue sorts on it.
    priority: Mapped[int] = mapped_column(Integer, default=2, server_default="2")
    # What brought the customer here: request_human, clarification, compensation, ...
    trigger: Mapped[str] = mapped_column(String(40))
    contact: Mapped[str] = mapped_column(String(254))
    need: Mapped[str] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    service_key: Mapped[str | None] = mapped_column(String(32), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"), default=None)
    # Taken when the customer confirmed: the transcript so far, intents and entities, and the
    # incident state, so staff have the context even if Rasa cannot be reached later.
    snapshot: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    # Staff replied and the assistant is paused in this conversation until they hand it back.
    paused: Mapped[bool] = mapped_column(default=False)
    # A keyed hash of the address it was asked from (web chat), for the per-address limit.
    client_key: Mapped[str | None] = mapped_column(String(32), default=None)
    # Closed in one step with others (an incident's "it's back", or a bulk resolve), not by a
    # person working it: the estimate of the wait counts only what people closed one by one.
    bulk_closed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # When a person last opened its page: a customer message after it is unread.
    staff_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    notes: Mapped[list[EscalationNote]] = relationship(
        back_populates="escalation", cascade="all, delete-orphan", order_by="EscalationNote.id"
    )
    assignee: Mapped[StaffUser | None] = relationship()
    links: Mapped[list[EscalationLink]] = relationship(
        back_populates="escalation", cascade="all, delete-orphan", order_by="EscalationLink.incident_id"
    )

    @validates("urgency")
    def _priority(self, _key: str, value: Urgency | str) -> Urgency:
        urgency = Urgency(value)
        self.priority = urgency.priority
        return urgency

    @property
    def reference(self) -> str:
        return escalation_reference(self.id)

    @property
    def touched(self) -> bool:
        """A person has worked on it: assigned, in progress, or with a note or reply from staff."""
        return (
            self.assignee_id is not None
            or self.status is EscalationStatus.IN_PROGRESS
            or any(n.kind in ("note", "reply") for n in self.notes)
        )


def escalation_reference(escalation_id: int) -> str:
    """What customers and staff call an escalation: ESC-1001 for the first."""
    return f"ESC-{1000 + escalation_id}"


class EscalationLink(Base):
    """An escalation about a service that an incident had affected when the escalation was made.
    Resolving the incident finds its waiting customers through these rows."""

    __tablename__ = "escalation_link"
    __table_args__ = (
        UniqueConstraint("escalation_id", "incident_id"),
        Index("ix_escalation_link_incident", "incident_id", "escalation_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    escalation_id: Mapped[int] = mapped_column(ForeignKey("escalation.id", ondelete="CASCADE"))
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"))
    service_key: Mapped[str] = mapped_column(String(32))

    escalation: Mapped[Escalation] = relationship(back_populates="links")


class BulkRequest(Base):
    """A bulk action the console has carried out, by the token its form carried: a double click
    or a retry finds the token taken and changes nothing twice, sends nothing twice."""

    __tablename__ = "bulk_request"

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    count: Mapped[int] = mapped_column(Integer, default=0)


class ClosingNotice(OutboxRow, Base):
    """The outbox of "your service is back and your request is closed": one row per escalation,
    which is the de-duplication, delivered at least once and shown once like `Notification`."""

    __tablename__ = "closing_notice"
    __table_args__ = (Index("ix_closing_notice_pending", "delivered_at", "channel"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    escalation_id: Mapped[int] = mapped_column(ForeignKey("escalation.id", ondelete="CASCADE"), unique=True)
    incident_id: Mapped[int | None] = mapped_column(Integer, default=None)
    conversation_id: Mapped[str] = mapped_column(String(255), index=True)
    channel: Mapped[str] = mapped_column(String(40))
    service_key: Mapped[str | None] = mapped_column(String(32), default=None)
    message: Mapped[str] = mapped_column(Text)
    # Not pushed: the channel allows no message we start now (WhatsApp, 24 hours after the
    # customer last wrote). Shown with the customer's next answer instead.
    held: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    escalation: Mapped[Escalation] = relationship()


class EscalationNote(Base):
    __tablename__ = "escalation_note"

    id: Mapped[int] = mapped_column(primary_key=True)
    escalation_id: Mapped[int] = mapped_column(ForeignKey("escalation.id", ondelete="CASCADE"))
    author: Mapped[str] = mapped_column(String(80))
    # note, reply (sent to the customer), status (a change of status)
    kind: Mapped[str] = mapped_column(String(16), default="note")
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    escalation: Mapped[Escalation] = relationship(back_populates="notes")


class StaffRole(str, enum.Enum):
    AGENT = "agent"
    ADMIN = "admin"


class StaffUser(Base):
    __tablename__ = "staff_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[StaffRole] = mapped_column(_enum(StaffRole, "staff_role"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disabled: Mapped[bool] = mapped_column(default=False)
    # How customers and colleagues see them ("Sam"); without one, the username.
    display_name: Mapped[str | None] = mapped_column(String(80), default=None)

    @property
    def shown_name(self) -> str:
        return self.display_name or self.username


class StaffSession(Base):
    """A console login. The cookie holds a random token; only its SHA-256 is stored."""

    __tablename__ = "staff_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())

    user: Mapped[StaffUser] = relationship()


class LoginAttempt(Base):
    """Failed console logins, for the brute-force limit."""

    __tablename__ = "login_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), index=True)
    client: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class NluLabel(Base):
    """The intent staff gave a customer message the assistant was unsure of.

    Exported as training data (`python -m bot.ops.cli review export`); one row per distinct text.
    """

    __tablename__ = "nlu_label"

    id: Mapped[int] = mapped_column(primary_key=True)
    text_key: Mapped[str] = mapped_column(String(64), unique=True)
    text: Mapped[str] = mapped_column(Text)
    intent: Mapped[str] = mapped_column(String(64))
    predicted: Mapped[str | None] = mapped_column(String(64), default=None)
    labelled_by: Mapped[str] = mapped_column(String(120))
    labelled_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RestoreReport(Base):
    """A customer saying a service the store marks restored still fails for them. Many of these
    soon after a fix mean the fix did not fully work; the console counts them per service."""

    __tablename__ = "restore_report"
    __table_args__ = (
        Index("ix_restore_report_client_key", "client_key", "reported_at"),
        Index("ix_restore_report_conversation", "conversation_id", "service_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_key: Mapped[str] = mapped_column(String(32), index=True)
    conversation_id: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(32))
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    # The incident whose resolution (or restore) the customer disputes; one report each counts.
    incident_id: Mapped[int | None] = mapped_column(Integer, default=None)
    # A keyed hash of the address the report came from (web chat), never the address itself.
    client_key: Mapped[str | None] = mapped_column(String(32), default=None)
    # False: kept, but left out of the figure staff see (too many from one address in an hour).
    counted: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
