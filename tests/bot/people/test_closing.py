""" "It's back": close an incident's waiting escalations and queue one notice each, once; the
closing-notice outbox, including WhatsApp's 24-hour window."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from bot.core.errors import NotFoundError, ValidationError
from bot.db.engine import make_session_factory
from bot.db.models import AuditEntry, ClosingNotice, Escalation, EscalationStatus, StaffRole, Urgency
from bot.people import closing
from bot.people.escalations import add_note, create_escalation, get_escalation
from bot.people.staff import create_user
from tests.conftest import NOW

PUSH = frozenset({"telegram", "twilio"})


def escalate(session: Session, n: int, channel: str = "rest", service: str = "top_up") -> int:
    made = create_escalation(
        session,
        conversation_id=f"{channel}-{n}",
        channel=channel,
        contact=f"0215{n:06d}",
        need="My top-up failed and I have no credit for work.",
        urgency=Urgency.NORMAL,
        trigger="request_human",
        now=NOW,
        service_keys=[service],
    )
    return int(made.reference[4:]) - 1000


def count(engine: Engine, model: type, **where: object) -> int:
    with make_session_factory(engine)() as s:
        query = select(func.count()).select_from(model)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        return int(s.scalar(query) or 0)


def test_closes_each_untouched_linked_escalation_once_and_queues_one_notice(
    engine: Engine, session: Session, demo: int
) -> None:
    ids = [escalate(session, n) for n in range(5)]
    other = escalate(session, 9, service="roaming")
    agent = create_user(session, "tama", "correct horse battery", StaffRole.AGENT, NOW, actor="test")
    add_note(session, get_escalation(session, ids[0]), agent, "Called, no answer.", NOW)
    session.commit()
    sessions = make_session_factory(engine)
    done = closing.close_linked(sessions, demo, "Top-ups work again.", actor="ops", now=NOW, service_key="top_up")
    assert (done.closed, done.queued, done.left_open) == (4, 4, 1)
    assert count(engine, AuditEntry, action="escalation_close_with_incident") == 4
    again = closing.close_linked(sessions, demo, "Top-ups work again.", actor="ops", now=NOW, service_key="top_up")
    assert (again.closed, again.queued) == (0, 0)
    with sessions() as s:
        assert s.get(Escalation, ids[0]).status is EscalationStatus.OPEN  # type: ignore[union-attr]
        assert s.get(Escalation, other).status is EscalationStatus.OPEN  # type: ignore[union-attr]
    staff_too = closing.close_linked(sessions, demo, "Fixed.", actor="ops", now=NOW, include_touched=True)
    assert (staff_too.closed, count(engine, ClosingNotice)) == (2, 6)


def test_large_batches_run_in_chunks_and_all_close(engine: Engine, session: Session, demo: int) -> None:
    for n in range(closing.CHUNK * 2 + 7):
        escalate(session, n)
    session.commit()
    done = closing.close_linked(make_session_factory(engine), demo, "Back.", actor="ops", now=NOW)
    assert done.closed == closing.CHUNK * 2 + 7 == count(engine, ClosingNotice)


def test_bad_requests_are_refused(engine: Engine, demo: int) -> None:
    sessions = make_session_factory(engine)
    for message in ("", "   ", "x" * 2001, None, 42):
        with pytest.raises(ValidationError):
            closing.close_linked(sessions, demo, message, actor="ops", now=NOW)
    with pytest.raises(NotFoundError):
        closing.close_linked(sessions, 999_999, "Back.", actor="ops", now=NOW)
    with pytest.raises(ValidationError):
        closing.close_linked(sessions, demo, "Back.", actor="ops", now=NOW, service_key="nope")


def test_rest_notices_wait_for_the_next_answer_and_are_taken_once(engine: Engine, session: Session, demo: int) -> None:
    escalate(session, 1, channel="rest")
    escalate(session, 2, channel="telegram")
    session.commit()
    sessions = make_session_factory(engine)
    closing.close_linked(sessions, demo, "Top-ups work again.", actor="ops", now=NOW)
    with sessions.begin() as s:
        assert closing.conversations_waiting(s, PUSH) == {"rest-1"}
        assert [d.conversation_id for d in closing.push_due(s, PUSH, NOW)] == ["telegram-2"]
        (view,) = closing.take_closings(s, "rest-1", NOW, PUSH)
        assert view.subject == "Prepaid top-up" and view.service_back and view.message == "Top-ups work again."
        assert closing.take_closings(s, "rest-1", NOW, PUSH) == []


def test_a_failed_push_is_retried_later_and_a_delivered_one_never_again(
    engine: Engine, session: Session, demo: int
) -> None:
    escalate(session, 1, channel="telegram")
    session.commit()
    sessions = make_session_factory(engine)
    closing.close_linked(sessions, demo, "Back.", actor="ops", now=NOW)
    with sessions.begin() as s:
        (due,) = closing.push_due(s, PUSH, NOW)
        closing.mark(s, due.id, NOW, error="Rasa said 500")
        assert closing.push_due(s, PUSH, NOW) == []  # backing off
        assert [d.id for d in closing.push_due(s, PUSH, NOW + timedelta(minutes=10))] == [due.id]
        closing.mark(s, due.id, NOW + timedelta(minutes=10))
        assert closing.push_due(s, PUSH, NOW + timedelta(hours=1)) == []


def test_whatsapp_outside_24_hours_is_held_for_the_customers_next_message(
    engine: Engine, session: Session, demo: int
) -> None:
    """WhatsApp allows free text only within 24 hours of the customer's last message."""
    assert closing.outside_whatsapp_window("whatsapp:+6421", NOW - timedelta(hours=25), NOW)
    assert not closing.outside_whatsapp_window("whatsapp:+6421", NOW - timedelta(hours=23), NOW)
    assert closing.outside_whatsapp_window("whatsapp:+6421", None, NOW)
    assert not closing.outside_whatsapp_window("+6421555", NOW - timedelta(days=9), NOW)  # SMS has no window
    create_escalation(
        session,
        conversation_id="whatsapp:+64215550001",
        channel="twilio",
        contact="+64215550001",
        need="Top-up failed",
        urgency=Urgency.NORMAL,
        trigger="request_human",
        now=NOW,
        service_keys=["top_up"],
    )
    session.commit()
    sessions = make_session_factory(engine)
    closing.close_linked(sessions, demo, "Back.", actor="ops", now=NOW)
    with sessions.begin() as s:
        (due,) = closing.push_due(s, PUSH, NOW)
        closing.mark(s, due.id, NOW, held=True)
        assert closing.push_due(s, PUSH, NOW) == []
        assert closing.conversations_waiting(s, PUSH) == {"whatsapp:+64215550001"}
        assert [v.reference for v in closing.take_closings(s, "whatsapp:+64215550001", NOW, PUSH)] == ["ESC-1001"]


def test_notice_keys_round_trip_and_reject_junk() -> None:
    assert closing.parse_key(closing.notice_key(42)) == 42
    for junk in ("42", "c", "c-1", "cx", "c" + "9" * 20, None, 42):
        assert closing.parse_key(junk) is None


def test_a_push_is_shown_once_until_a_failure_clears_the_mark(engine: Engine, session: Session, demo: int) -> None:
    """Rasa may send a pushed notice and then drop the turn when the notifier's request dies:
    the repeated push finds the notice shown. A failed push clears the mark for its retry."""
    escalate(session, 1, channel="telegram")
    session.commit()
    sessions = make_session_factory(engine)
    closing.close_linked(sessions, demo, "Back.", actor="ops", now=NOW)
    with sessions.begin() as s:
        (due,) = closing.push_due(s, PUSH, NOW)
        assert closing.claim_shown(s, due.id, NOW) is not None
        assert closing.claim_shown(s, due.id, NOW) is None  # the repeat shows nothing
        closing.mark(s, due.id, NOW, error="Rasa answered HTTP 500")
        assert closing.claim_shown(s, due.id, NOW) is not None
        assert closing.claim_shown(s, 999_999, NOW) is None
