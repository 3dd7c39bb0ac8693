"""Escalations: contact validation, one open per conversation, the queue, staff work."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.errors import NotFoundError, ValidationError
from bot.db.models import EscalationStatus, StaffRole, Urgency
from bot.incidents.reads import read_overview
from bot.people.escalations import (
    add_note,
    assign,
    check_need,
    create_escalation,
    get_escalation,
    normalise_contact,
    set_status,
    snapshot_of,
)
from bot.people.queue import QueueFilter, queue_page
from bot.people.staff import create_user
from tests.conftest import NOW


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("021 123 4567", "0211234567"),
        ("+64 (21) 123-4567", "+64211234567"),
        ("  Mere.Smith+work@Example.co.nz ", "mere.smith+work@example.co.nz"),
    ],
)
def test_contacts_are_normalised(raw: str, expected: str) -> None:
    assert normalise_contact(raw) == expected


@pytest.mark.parametrize(
    "raw", ["", "123", "call me", "a@b", "<script>@x.com", "0" * 40, "@user", None, 12345678, "x" * 300 + "@a.com"]
)
def test_bad_contacts_are_refused(raw: object) -> None:
    with pytest.raises(ValidationError):
        normalise_contact(raw)


def test_need_is_cleaned_and_required() -> None:
    assert check_need(" divert my calls\x00 ") == "divert my calls"
    with pytest.raises(ValidationError):
        check_need("  ")


def escalate(  # type: ignore[no-untyped-def]
    session: Session, conversation: str, urgency: Urgency = Urgency.NORMAL, minutes: int = 0, contact: str = ""
):
    return create_escalation(
        session,
        conversation_id=conversation,
        channel="rest",
        contact=contact or f"0211{sum(map(ord, conversation)) * 7919 % 1_000_000:06d}",
        need="Divert my business calls today.",
        urgency=urgency,
        trigger="request_human",
        now=NOW + timedelta(minutes=minutes),
    )


def refs(session: Session, minutes: int = 5, **f: object) -> list[str]:
    return [r.reference for r in queue_page(session, QueueFilter(**f), NOW + timedelta(minutes=minutes)).rows]  # type: ignore[arg-type]


def test_one_open_escalation_per_conversation(session: Session) -> None:
    first = escalate(session, "c1")
    again = escalate(session, "c1")
    assert first.created and not again.created and again.reference == first.reference
    assert first.reference.startswith("ESC-10")
    assert refs(session) == [first.reference]


def test_a_second_request_from_the_same_contact_joins_the_open_one(session: Session) -> None:
    first = escalate(session, "web-1", contact="021 555 0101")
    again = escalate(session, "web-2", contact="+ 021-555-0101".replace("+ ", ""))
    assert not again.created and again.reference == first.reference
    assert refs(session) == [first.reference]


def test_queue_puts_safety_first_then_time_critical_then_oldest(session: Session) -> None:
    normal = escalate(session, "a", Urgency.NORMAL, 0)
    urgent = escalate(session, "b", Urgency.TIME_CRITICAL, 1)
    safety = escalate(session, "c", Urgency.SAFETY, 2)
    assert (safety.ahead, urgent.ahead) == (0, 0)  # each counted when it was made
    assert refs(session) == [safety.reference, urgent.reference, normal.reference]
    assert refs(session, sort="oldest") == [normal.reference, urgent.reference, safety.reference]
    assert refs(session, urgency=Urgency.SAFETY) == [safety.reference]
    assert len(refs(session, older_than_minutes=4)) == 2


def test_staff_work_an_escalation(session: Session) -> None:
    made = escalate(session, "c1")
    agent = create_user(session, "tama", "correct horse battery", StaffRole.AGENT, NOW, actor="test")
    escalation = get_escalation(session, int(made.reference[4:]) - 1000)
    assign(session, escalation, agent, NOW)
    assert escalation.status is EscalationStatus.IN_PROGRESS and escalation.assignee_id == agent.id
    add_note(session, escalation, agent, "Called back; diverting now.", NOW)
    set_status(session, escalation, EscalationStatus.RESOLVED, agent, NOW)
    assert escalation.resolved_at == NOW
    assert [n.kind for n in escalation.notes] == ["note", "status"]
    assert escalate(session, "c1").created  # a resolved one does not block a new request
    with pytest.raises(ValidationError):
        add_note(session, escalation, agent, "   ", NOW)
    with pytest.raises(NotFoundError):
        get_escalation(session, 99999)


def test_snapshot_keeps_transcript_intents_and_incident_state(session: Session, demo: int) -> None:
    events = [
        {
            "event": "user",
            "text": "I can't top up",
            "timestamp": 1.0,
            "parse_data": {"intent": {"name": "top_up"}, "entities": [{"entity": "service", "value": "top_up"}]},
        },
        {"event": "bot", "text": "Prepaid top-up: not working", "timestamp": 2.0},
        {"event": "action", "name": "action_listen"},
    ]
    snap = snapshot_of(events, read_overview(session, NOW))
    assert [t["who"] for t in snap["transcript"]] == ["customer", "assistant"]
    assert snap["transcript"][0]["intent"] == "top_up" and snap["transcript"][0]["entities"][0]["value"] == "top_up"
    assert snap["incidents"] and "Prepaid top-up" in snap["incidents"][0]["affected"]


@pytest.mark.parametrize(
    "typed", ["\u202e09 123 4567\u202c", "٠٩ ١٢٣ ٤٥٦٧", "09\u200b123\u200b4567", "０９ １２３ ４５６７"]
)
def test_a_contact_is_stored_as_its_ascii_digits_in_order(typed: str) -> None:
    assert normalise_contact(typed) == "091234567"


def test_a_customer_message_is_unread_only_after_the_request_and_the_last_look(session: Session) -> None:
    from bot.db.models import Escalation
    from bot.people.escalations import mark_seen, unread

    escalate(session, "c-unread")
    made = session.scalars(select(Escalation).where(Escalation.conversation_id == "c-unread")).one()
    assert not unread(made, None)
    assert not unread(made, NOW - timedelta(minutes=1))  # the form's own messages, before the request
    assert unread(made, NOW + timedelta(minutes=1))
    mark_seen(made, NOW + timedelta(minutes=2))
    assert not unread(made, NOW + timedelta(minutes=1))
    assert unread(made, NOW + timedelta(minutes=3))
