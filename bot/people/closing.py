""" "It's back": tell every customer waiting on an incident's escalations, and close them, in one step.

- `close_linked` closes the active escalations linked to an incident (or to one of its services)
  in chunks, each in its own short transaction, and queues one closing notice per escalation.
  Each escalation gets a closing note and its own audit row.
- The notice's row is unique per escalation: a repeated request (a double click, a retry)
  closes nothing twice and queues nothing twice.
- Escalations a person has worked on (assigned, in progress, a staff note or reply) are left
  open unless staff include them explicitly.
- The notices go out like "tell me when it's fixed" (bot.conversation.notify): pushed through
  Rasa on channels that can take a message we start, else shown with the customer's next
  answer; at least once, and shown once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from bot.core.errors import NotFoundError, ValidationError
from bot.db.audit import record
from bot.db.models import ClosingNotice, Escalation, EscalationLink, EscalationNote, EscalationStatus, Incident, Service
from bot.people.queue import is_active
from common.text import MAX_CHAT_MESSAGE, printable

CHUNK = 200  # escalations per transaction: the store is never held for long
# WhatsApp lets a business send free text only within 24 hours of the customer's last message;
# outside it only pre-approved templates. We hold the notice and show it when they next write.
WHATSAPP_WINDOW = timedelta(hours=24)
WHATSAPP_PREFIX = "whatsapp:"


@dataclass(frozen=True)
class Closed:
    closed: int  # escalations closed by this request
    queued: int  # closing notices queued by this request
    left_open: int  # linked and active, but worked by a person, so left open


def check_message(text: object) -> str:
    value = printable(text) if isinstance(text, str) else ""
    if not value:
        raise ValidationError("the message to customers needs some text")
    if len(value) > MAX_CHAT_MESSAGE:
        raise ValidationError(f"the message to customers is limited to {MAX_CHAT_MESSAGE} characters")
    return value


def close_and_tell(
    session: Session,
    escalation: Escalation,
    message: str,
    actor: str,
    now: datetime,
    *,
    incident_id: int | None = None,
    service_key: str | None = None,
) -> None:
    """Resolve one escalation in a step taken for many, note why, queue its customer one notice
    and audit it. The notice is unique per escalation: a second call fails on it, sending nothing."""
    escalation.status = EscalationStatus.RESOLVED
    escalation.resolved_at = escalation.updated_at = now
    escalation.bulk_closed = True
    escalation.paused = False
    escalation.notes.append(EscalationNote(author=actor[:80], kind="closing", text=message, created_at=now))
    session.add(
        ClosingNotice(
            escalation_id=escalation.id,
            incident_id=incident_id,
            conversation_id=escalation.conversation_id,
            channel=escalation.channel,
            service_key=service_key or escalation.service_key,
            message=message,
            created_at=now,
        )
    )
    record(
        session,
        actor=actor,
        action="escalation_close_with_incident" if incident_id else "escalation_close_bulk",
        now=now,
        incident_id=incident_id,
        detail={"escalation": escalation.reference, "service": service_key or escalation.service_key or ""},
    )


def _chunk(
    session: Session,
    incident_id: int,
    message: str,
    actor: str,
    now: datetime,
    service_key: str | None,
    include_touched: bool,
    after_id: int,
) -> tuple[int, int, int, int | None]:
    """(closed, queued, left open, the last id looked at or None when there are no more)."""
    query = (
        select(Escalation, EscalationLink.service_key)
        .join(EscalationLink, EscalationLink.escalation_id == Escalation.id)
        .where(EscalationLink.incident_id == incident_id, is_active(), Escalation.id > after_id)
        .order_by(Escalation.id)
        .limit(CHUNK)
        .options(selectinload(Escalation.notes))
    )
    if service_key is not None:
        query = query.where(EscalationLink.service_key == service_key)
    rows = session.execute(query).all()
    closed = queued = left = 0
    for escalation, linked_service in rows:
        if escalation.touched and not include_touched:
            left += 1
            continue
        close_and_tell(session, escalation, message, actor, now, incident_id=incident_id, service_key=linked_service)
        closed += 1
        queued += 1
    session.flush()
    return closed, queued, left, (rows[-1][0].id if len(rows) == CHUNK else None)


def close_linked(
    sessions: sessionmaker[Session],
    incident_id: int,
    message: object,
    *,
    actor: str,
    now: datetime,
    service_key: str | None = None,
    include_touched: bool = False,
) -> Closed:
    """Close the incident's waiting escalations (those about `service_key`, if given) and queue
    each customer one notice carrying `message`. Chunked: CHUNK escalations per transaction."""
    text = check_message(message)
    with sessions() as session:
        if session.get(Incident, incident_id) is None:
            raise NotFoundError(f"no incident with id {incident_id}")
        if service_key is not None and session.get(Service, service_key) is None:
            raise ValidationError(f"unknown service: {service_key}")
    closed = queued = left = 0
    after: int | None = 0
    while after is not None:
        for attempt in range(3):
            try:
                with sessions.begin() as session:
                    c, q, skipped, last = _chunk(
                        session, incident_id, text, actor, now, service_key, include_touched, after
                    )
                break
            except (IntegrityError, OperationalError):
                # The same request running twice at once: the other closed these first (its notice
                # rows are unique per escalation), or held the lock. Read the chunk again.
                if attempt == 2:
                    raise
        closed, queued, left, after = closed + c, queued + q, left + skipped, last
    return Closed(closed, queued, left)


# --- delivery: the outbox ----------------------------------------------------------------------


@dataclass(frozen=True)
class ClosingView:
    """What one closing notice tells the customer."""

    key: str  # "c<id>": kept in the conversation's delivered-notices slot beside update ids
    reference: str
    subject: str  # the service's name, else the incident's title
    service_key: str | None
    message: str
    service_back: bool  # closed because its service came back, not closed by staff in bulk


KEY_PREFIX = "c"


def notice_key(notice_id: int) -> str:
    return f"{KEY_PREFIX}{notice_id}"


def parse_key(key: object) -> int | None:
    """The closing notice id in a key made by `notice_key`, else None."""
    if isinstance(key, str) and key.startswith(KEY_PREFIX) and key[1:].isdigit() and len(key) < 12:
        return int(key[1:])
    return None


def _view(session: Session, row: ClosingNotice) -> ClosingView:
    service = session.get(Service, row.service_key) if row.service_key else None
    incident = session.get(Incident, row.incident_id) if row.incident_id else None
    subject = service.name if service else (incident.title if incident else "the service")
    return ClosingView(
        notice_key(row.id), row.escalation.reference, subject, row.service_key, row.message, row.incident_id is not None
    )


def closing_view(session: Session, notice_id: int) -> ClosingView | None:
    row = session.get(ClosingNotice, notice_id)
    return _view(session, row) if row is not None else None


def claim_shown(session: Session, notice_id: int, now: datetime) -> ClosingView | None:
    """The notice to show for a push, marked shown; None if there is none or it was shown
    already (a repeated push). The notifier clears the mark if the push then fails."""
    row = session.get(ClosingNotice, notice_id)
    return _view(session, row) if row is not None and row.claim_shown(now) else None


def _shown_at_next_answer(push_channels: frozenset[str]) -> ColumnElement[bool]:
    return ClosingNotice.channel.not_in(push_channels) | ClosingNotice.held.is_(True)


def conversations_waiting(session: Session, push_channels: frozenset[str]) -> frozenset[str]:
    """Conversations with closing notices to show with their next answer."""
    return frozenset(
        session.scalars(
            select(ClosingNotice.conversation_id)
            .where(ClosingNotice.delivered_at.is_(None), _shown_at_next_answer(push_channels))
            .distinct()
        )
    )


def take_closings(
    session: Session, conversation_id: str, now: datetime, push_channels: frozenset[str]
) -> list[ClosingView]:
    """Undelivered notices shown with this answer; marked delivered."""
    rows = session.scalars(
        select(ClosingNotice)
        .where(
            ClosingNotice.conversation_id == conversation_id,
            ClosingNotice.delivered_at.is_(None),
            _shown_at_next_answer(push_channels),
        )
        .order_by(ClosingNotice.id)
    ).all()
    views = [_view(session, row) for row in rows]
    for row in rows:
        row.attempted(now)  # shown with this answer: delivered
    session.flush()
    return views


@dataclass(frozen=True)
class Due:
    id: int
    conversation_id: str
    channel: str


def push_due(session: Session, push_channels: frozenset[str], now: datetime) -> list[Due]:
    rows = session.execute(
        select(ClosingNotice.id, ClosingNotice.conversation_id, ClosingNotice.channel)
        .where(
            ClosingNotice.delivered_at.is_(None),
            ClosingNotice.held.is_(False),
            (ClosingNotice.retry_at.is_(None)) | (ClosingNotice.retry_at <= now),
            ClosingNotice.channel.in_(push_channels),
        )
        .order_by(ClosingNotice.id)
    ).all()
    return [Due(int(i), str(c), str(ch)) for i, c, ch in rows]


def outside_whatsapp_window(conversation_id: str, last_customer_message: datetime | None, now: datetime) -> bool:
    """Whether WhatsApp would refuse free text to this conversation now (see WHATSAPP_WINDOW)."""
    if not conversation_id.startswith(WHATSAPP_PREFIX):
        return False
    return last_customer_message is None or now - last_customer_message > WHATSAPP_WINDOW


def mark(session: Session, notice_id: int, now: datetime, *, error: str | None = None, held: bool = False) -> None:
    row = session.get(ClosingNotice, notice_id)
    if row is None:
        return
    if held:
        row.held = True
        row.last_error = "outside WhatsApp's 24-hour window: shown when the customer next writes"
        return
    row.attempted(now, error)


def notices_of(session: Session, escalation_id: int) -> list[ClosingNotice]:
    return list(session.scalars(select(ClosingNotice).where(ClosingNotice.escalation_id == escalation_id)))
