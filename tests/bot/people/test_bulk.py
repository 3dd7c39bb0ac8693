"""Bulk work on escalations: one audit row each, chunked, and a repeated request does nothing twice."""

from __future__ import annotations

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from bot.db.engine import make_session_factory
from bot.db.models import AuditEntry, ClosingNotice, Escalation, EscalationNote, EscalationStatus, StaffRole, Urgency
from bot.people import bulk
from bot.people.bulk import BulkAction
from bot.people.escalations import create_escalation
from bot.people.staff import create_user
from tests.conftest import NOW


def setup(session: Session, count: int) -> list[int]:
    for n in range(count):
        create_escalation(
            session,
            conversation_id=f"c-{n}",
            channel="rest",
            contact=f"0215{n:06d}",
            need="Top-up failed.",
            urgency=Urgency.NORMAL,
            trigger="request_human",
            now=NOW,
        )
    create_user(session, "tama", "correct horse battery", StaffRole.AGENT, NOW, actor="test")
    session.commit()
    return list(session.scalars(select(Escalation.id).order_by(Escalation.id)))


def agent(engine: Engine):  # type: ignore[no-untyped-def]
    from bot.db.models import StaffUser

    with make_session_factory(engine)() as s:
        user = s.scalars(select(StaffUser)).one()
        s.expunge(user)
        return user


def audits(engine: Engine, action: str) -> int:
    with make_session_factory(engine)() as s:
        return int(s.scalar(select(func.count(AuditEntry.id)).where(AuditEntry.action == action)) or 0)


def test_a_token_is_claimed_once(engine: Engine, session: Session) -> None:
    setup(session, 1)
    sessions, user = make_session_factory(engine), agent(engine)
    assert bulk.claim(sessions, "tok-1", user, BulkAction.NOTE, NOW)
    assert not bulk.claim(sessions, "tok-1", user, BulkAction.NOTE, NOW)


def test_notes_assignments_and_statuses_each_get_an_audit_row_across_chunks(engine: Engine, session: Session) -> None:
    ids = setup(session, bulk.CHUNK + 5)
    sessions, user = make_session_factory(engine), agent(engine)
    done = bulk.run(sessions, [*ids, 999_999], BulkAction.NOTE, user, NOW, text="Called back.")
    assert (done.changed, done.skipped) == (len(ids), 1) and audits(engine, "escalation_note") == len(ids)
    assert bulk.run(sessions, ids, BulkAction.ASSIGN, user, NOW).changed == len(ids)
    assert bulk.run(sessions, ids, BulkAction.ASSIGN, user, NOW).changed == 0  # already theirs
    done = bulk.run(sessions, ids[:3], BulkAction.STATUS, user, NOW, status=EscalationStatus.RESOLVED)
    assert done.changed == 3 and audits(engine, "escalation_status") == 3


def test_resolving_in_bulk_tells_each_customer_once(engine: Engine, session: Session) -> None:
    ids = setup(session, 4)
    sessions, user = make_session_factory(engine), agent(engine)
    assert bulk.run(sessions, ids, BulkAction.RESOLVE, user, NOW, text="Sorted, thanks.").changed == 4
    assert bulk.run(sessions, ids, BulkAction.RESOLVE, user, NOW, text="Sorted, thanks.").changed == 0
    with sessions() as s:
        assert s.scalar(select(func.count(ClosingNotice.id))) == 4
        assert s.scalar(select(func.count(EscalationNote.id)).where(EscalationNote.kind == "closing")) == 4
        assert all(e.bulk_closed for e in s.scalars(select(Escalation)))
    assert audits(engine, "escalation_close_bulk") == 4


def test_bad_bulk_input_is_refused(engine: Engine, session: Session) -> None:
    import pytest

    from bot.core.errors import ValidationError

    ids = setup(session, 1)
    sessions, user = make_session_factory(engine), agent(engine)
    with pytest.raises(ValidationError):
        bulk.run(sessions, ids, BulkAction.NOTE, user, NOW, text="  ")
    with pytest.raises(ValidationError):
        bulk.run(sessions, ids, BulkAction.STATUS, user, NOW)
    with pytest.raises(ValidationError):
        bulk.claim(sessions, "", user, BulkAction.NOTE, NOW)
