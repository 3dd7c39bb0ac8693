"""Handing a conversation to people: validation, the queue, and the work staff do on it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot.core.errors import NotFoundError, ValidationError
from bot.db.audit import record
from bot.db.models import (
    Escalation,
    EscalationLink,
    EscalationNote,
    EscalationStatus,
    Incident,
    IncidentStatus,
    Service,
    ServiceImpact,
    ServiceStatus,
    StaffUser,
    Urgency,
)
from bot.incidents.reads import Overview
from bot.people.queue import Wait, estimate_wait, is_active
from bot.people.staff import console_actor
from common.contact import contact_of
from common.text import MAX_CHAT_MESSAGE, printable

MAX_NOTE = 5000


def normalise_contact(text: object) -> str:
    """A phone number or an e-mail address in its stored form (`common.contact`); else ValidationError.

    A number typed with a right-to-left override or in Arabic-Indic digits is stored as the
    ASCII digits it reads as, in that order."""
    if not isinstance(text, str):
        raise ValidationError("a contact must be text")
    contact = contact_of(text)
    if contact is None:
        raise ValidationError("that doesn't look like a phone number or an e-mail address")
    return contact


def check_need(text: object) -> str:
    if not isinstance(text, str):
        raise ValidationError("please describe what you need in words")
    value = printable(text)
    if len(value) < 3:
        raise ValidationError("please say a little more about what you need")
    return value[:MAX_CHAT_MESSAGE]


def open_escalation(session: Session, conversation_id: str) -> Escalation | None:
    return session.scalars(
        select(Escalation)
        .where(Escalation.conversation_id == conversation_id, is_active())
        .order_by(Escalation.id.desc())
    ).first()


def open_for_contact(session: Session, contact: str) -> Escalation | None:
    """The active escalation of this phone number or e-mail address, from any conversation."""
    return session.scalars(
        select(Escalation).where(Escalation.contact == contact, is_active()).order_by(Escalation.id.desc())
    ).first()


@dataclass(frozen=True)
class Receipt:
    reference: str
    created: bool  # False: the conversation (or the contact) already had an open escalation
    urgency: Urgency
    wait: Wait
    services: tuple[str, ...] = ()  # the service keys it was filed under

    @property
    def ahead(self) -> int:
        """Open escalations before this one in the queue."""
        return self.wait.position - 1


def receipt(session: Session, escalation: Escalation, created: bool, now: datetime) -> Receipt:
    main = [escalation.service_key] if escalation.service_key else []
    services = tuple(dict.fromkeys([*main, *(link.service_key for link in escalation.links)]))
    return Receipt(escalation.reference, created, escalation.urgency, estimate_wait(session, escalation, now), services)


def affecting_incidents(session: Session, service_keys: Iterable[str]) -> list[tuple[int, str]]:
    """(incident id, service key) of every unresolved incident that has any of these services
    down or degraded now."""
    keys = list(dict.fromkeys(service_keys))
    if not keys:
        return []
    rows = session.execute(
        select(ServiceImpact.incident_id, ServiceImpact.service_key)
        .join(Incident, Incident.id == ServiceImpact.incident_id)
        .where(
            ServiceImpact.service_key.in_(keys),
            ServiceImpact.status != ServiceStatus.OPERATIONAL,
            Incident.status != IncidentStatus.RESOLVED,
        )
        .order_by(ServiceImpact.incident_id)
    ).all()
    return [(int(i), str(k)) for i, k in rows]


def create_escalation(
    session: Session,
    *,
    conversation_id: str,
    channel: str,
    contact: str,
    need: str,
    urgency: Urgency,
    trigger: str,
    now: datetime,
    reason: str | None = None,
    service_keys: Iterable[str] = (),
    snapshot: dict[str, Any] | None = None,
    client_key: str | None = None,
) -> Receipt:
    """One open escalation per conversation and per contact: asking again returns the existing
    one. A new one is filed under `service_keys` (the first is its main service) and linked to
    every incident affecting any of them now, so that resolving the incident finds it."""
    if not conversation_id or len(conversation_id) > 255:
        raise ValidationError("an escalation needs a conversation id of 1-255 characters")
    normalised = normalise_contact(contact)
    existing = open_escalation(session, conversation_id) or open_for_contact(session, normalised)
    if existing is not None:
        return receipt(session, existing, created=False, now=now)
    keys = [k for k in dict.fromkeys(service_keys) if session.get(Service, k) is not None]
    escalation = Escalation(
        conversation_id=conversation_id,
        channel=(channel or "unknown")[:40],
        status=EscalationStatus.OPEN,
        urgency=Urgency(urgency),
        trigger=trigger[:40],
        contact=normalised,
        need=check_need(need),
        reason=check_need(reason) if reason else None,
        service_key=keys[0] if keys else None,
        created_at=now,
        updated_at=now,
        snapshot=snapshot or {},
        client_key=client_key,
    )
    first_key: dict[int, str] = {}  # per incident, the service the customer named first
    for incident_id, key in sorted(affecting_incidents(session, keys), key=lambda row: keys.index(row[1])):
        first_key.setdefault(incident_id, key)
    escalation.links = [EscalationLink(incident_id=i, service_key=k) for i, k in first_key.items()]
    session.add(escalation)
    session.flush()
    return receipt(session, escalation, created=True, now=now)


def snapshot_of(events: Iterable[dict[str, Any]], overview: Overview | None) -> dict[str, Any]:
    """What staff need if Rasa cannot be reached later: the transcript with each message's intent
    and entities, and the incident state the customer was told about."""
    transcript = []
    for event in events:
        kind = event.get("event")
        if kind == "user":
            parse = event.get("parse_data") or {}
            transcript.append(
                {
                    "who": "customer",
                    "text": str(event.get("text") or "")[:MAX_CHAT_MESSAGE],
                    "at": event.get("timestamp"),
                    "intent": (parse.get("intent") or {}).get("name"),
                    "entities": [
                        {"entity": e.get("entity"), "value": str(e.get("value"))[:200]}
                        for e in parse.get("entities") or []
                        if isinstance(e, dict)
                    ],
                }
            )
        elif kind == "bot":
            transcript.append(
                {
                    "who": "assistant",
                    "text": str(event.get("text") or "")[:MAX_CHAT_MESSAGE],
                    "at": event.get("timestamp"),
                }
            )
    incidents = []
    if overview is not None:
        incidents = [
            {
                "title": i.title,
                "status": i.status.value,
                "affected": [s.name for s in overview.affected if s.incident and s.incident.id == i.id],
                "latest": i.latest_update.message if i.latest_update else i.message,
            }
            for i in overview.incidents
        ]
    return {
        "transcript": transcript[-200:],
        "incidents": incidents,
        "state_as_of": overview.as_of.isoformat() if overview else None,
    }


def refile(
    session: Session, escalation: Escalation, service_keys: Iterable[str], now: datetime, actor: str
) -> list[str]:
    """File an escalation under other services (the customer corrected it): its main service,
    and its incident links rebuilt from the incidents affecting those services now. Returns the
    known service keys it is filed under; nothing changes if there are none."""
    keys = [k for k in dict.fromkeys(service_keys) if session.get(Service, k) is not None]
    if not keys:
        return []
    escalation.service_key = keys[0]
    first_key: dict[int, str] = {}
    for incident_id, key in sorted(affecting_incidents(session, keys), key=lambda row: keys.index(row[1])):
        first_key.setdefault(incident_id, key)
    escalation.links.clear()
    session.flush()  # the old links go before the new ones, which may pair the same incident
    escalation.links = [EscalationLink(incident_id=i, service_key=k) for i, k in first_key.items()]
    escalation.updated_at = now
    escalation.notes.append(
        EscalationNote(
            author=actor[:80], kind="status", text=f"filed under {', '.join(keys)} by the customer", created_at=now
        )
    )
    record(
        session,
        actor=actor,
        action="escalation_refile",
        now=now,
        detail={"escalation": escalation.reference, "services": ",".join(keys)},
    )
    return keys


# --- staff work -------------------------------------------------------------------------------


def get_escalation(session: Session, escalation_id: int) -> Escalation:
    escalation = session.scalars(
        select(Escalation)
        .where(Escalation.id == escalation_id)
        .options(selectinload(Escalation.notes), selectinload(Escalation.assignee), selectinload(Escalation.links))
    ).first()
    if escalation is None:
        raise NotFoundError(f"no escalation with id {escalation_id}")
    return escalation


def unread(escalation: Escalation, last_customer_message: datetime | None) -> bool:
    """Whether the customer wrote after asking and after a person last opened the escalation:
    a message no one on staff has seen yet."""
    if last_customer_message is None:
        return False
    return last_customer_message > max(escalation.created_at, escalation.staff_seen_at or escalation.created_at)


def mark_seen(escalation: Escalation, now: datetime) -> None:
    """A person has the escalation open: what the customer wrote until now is read. Not audited:
    it changes nothing about the request, only what the queue marks as new."""
    escalation.staff_seen_at = now


def add_note(
    session: Session, escalation: Escalation, author: StaffUser, text: str, now: datetime, kind: str = "note"
) -> None:
    value = printable(text) if isinstance(text, str) else ""
    if not value:
        raise ValidationError("a note needs some text")
    if len(value) > MAX_NOTE:
        raise ValidationError(f"a note is limited to {MAX_NOTE} characters")
    escalation.notes.append(EscalationNote(author=author.username, kind=kind, text=value, created_at=now))
    escalation.updated_at = now
    _audit(session, author, f"escalation_{kind}", escalation, now)


def assign(session: Session, escalation: Escalation, user: StaffUser, now: datetime) -> None:
    escalation.assignee_id = user.id
    if escalation.status is EscalationStatus.OPEN:
        escalation.status = EscalationStatus.IN_PROGRESS
    escalation.updated_at = now
    _audit(session, user, "escalation_assign", escalation, now)


def record_reply(session: Session, escalation: Escalation, user: StaffUser, text: str, now: datetime) -> None:
    """A reply staff sent the customer: kept as a note, the assistant paused, the case theirs if open."""
    add_note(session, escalation, user, text, now, kind="reply")
    escalation.paused = True
    if escalation.status is EscalationStatus.OPEN:
        assign(session, escalation, user, now)


def hand_back(session: Session, escalation: Escalation, user: StaffUser, now: datetime) -> None:
    """The assistant answers the customer again."""
    escalation.paused = False
    escalation.updated_at = now
    _audit(session, user, "escalation_handback", escalation, now)


def set_status(
    session: Session, escalation: Escalation, status: EscalationStatus, user: StaffUser, now: datetime
) -> None:
    if status is escalation.status:
        return
    escalation.status = status
    escalation.resolved_at = now if status is EscalationStatus.RESOLVED else None
    escalation.updated_at = now
    escalation.notes.append(
        EscalationNote(author=user.username, kind="status", text=f"status set to {status.value}", created_at=now)
    )
    _audit(session, user, "escalation_status", escalation, now, status=status.value)


def _audit(
    session: Session, user: StaffUser, action: str, escalation: Escalation, now: datetime, **detail: str
) -> None:
    # The reference, not the customer's words: the trail outlives what it points to.
    detail = {"escalation": escalation.reference, **detail}
    record(session, actor=console_actor(user), action=action, now=now, detail=detail)
