"""The queue at outage scale: the database filters, sorts and pages; totals; the live token; the
customer's place and an honest estimate of the wait."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from bot.db.engine import make_session_factory
from bot.db.models import Escalation, EscalationStatus, StaffRole, Urgency
from bot.people.escalations import create_escalation, get_escalation, set_status
from bot.people.queue import MIN_HANDLED, QueueFilter, changes, estimate_wait, linked_waiting, queue_page
from bot.people.staff import create_user
from tests.conftest import NOW
from tests.escalation_rows import insert_waiting


def add(session: Session, n: int, urgency: Urgency = Urgency.NORMAL, minutes: int = 0, services: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    return create_escalation(
        session,
        conversation_id=f"c-{n}",
        channel="rest",
        contact=f"0215{n:06d}",
        need="Please call me about my top-up.",
        urgency=urgency,
        trigger="request_human",
        now=NOW + timedelta(minutes=minutes),
        service_keys=services,
    )


def bulk_insert(engine: Engine, count: int) -> None:
    insert_waiting(engine, count, NOW)


def test_a_safety_case_heads_the_default_page_however_many_wait(engine: Engine, session: Session) -> None:
    """Issue 21: past 200 waiting the old queue never showed a newer safety case."""
    bulk_insert(engine, 300)
    safety = add(session, 1, Urgency.SAFETY, minutes=1)
    page = queue_page(session, QueueFilter(), NOW + timedelta(minutes=2))
    assert page.rows[0].reference == safety.reference
    assert page.matching == 301 and page.pages == 7 and len(page.rows) == 50
    assert page.totals.waiting == 301 and page.totals.by_urgency[Urgency.SAFETY] == 1


def test_pages_follow_on_without_gaps_or_repeats(engine: Engine, session: Session) -> None:
    bulk_insert(engine, 120)
    seen = []
    for number in (1, 2, 3):
        seen += [r.id for r in queue_page(session, QueueFilter(sort="oldest", page=number), NOW).rows]
    assert len(seen) == len(set(seen)) == 120
    assert seen == sorted(seen)  # oldest first, and created in id order


def test_filters_by_service_and_incident_and_totals_count_each(session: Session, demo: int) -> None:
    top_up = add(session, 1, services=("top_up",))
    add(session, 2, services=("roaming",))
    add(session, 3)  # names no service: not linked
    session.flush()
    by_service = queue_page(session, QueueFilter(service_key="top_up"), NOW)
    assert [r.reference for r in by_service.rows] == [top_up.reference]
    linked = queue_page(session, QueueFilter(incident_id=demo), NOW)
    assert linked.matching == 2
    totals = linked.totals
    assert dict(totals.by_service) == {"top_up": 1, "roaming": 1, None: 1}
    assert [(i, n) for i, _title, n in totals.by_incident] == [(demo, 2)]
    assert [(x.incident_id, x.waiting, x.touched) for x in linked_waiting(session)] == [(demo, 2, 0)]


def test_the_change_token_moves_with_any_new_or_changed_row(session: Session) -> None:
    before = changes(session)
    made = add(session, 1)
    session.flush()
    after = changes(session)
    assert after.version != before.version and after.waiting == 1 and after.newest_safety_id is None
    safety = add(session, 2, Urgency.SAFETY, minutes=1)
    session.flush()
    now = changes(session)
    assert now.safety_waiting == 1 and f"ESC-{1000 + (now.newest_safety_id or 0)}" == safety.reference
    agent = create_user(session, "tama", "correct horse battery", StaffRole.AGENT, NOW, actor="test")
    set_status(
        session,
        get_escalation(session, int(made.reference[4:]) - 1000),
        EscalationStatus.RESOLVED,
        agent,
        NOW + timedelta(minutes=3),
    )
    session.flush()
    assert changes(session).version != now.version and changes(session).waiting == 1


def test_no_estimate_until_enough_were_closed_by_people_then_minutes_from_their_rate(session: Session) -> None:
    agent = create_user(session, "tama", "correct horse battery", StaffRole.AGENT, NOW, actor="test")
    waiting = [add(session, n, minutes=n) for n in range(1, 4)]
    last = session.scalars(select(Escalation).where(Escalation.conversation_id == "c-3")).one()
    first = estimate_wait(session, last, NOW)
    assert first.position == 3 and first.minutes is None  # nobody has been served yet: no guess
    for n in range(10, 10 + MIN_HANDLED + 3):  # six closed by a person in the last two hours
        add(session, n)
        row = session.scalars(select(Escalation).where(Escalation.conversation_id == f"c-{n}")).one()
        set_status(session, row, EscalationStatus.RESOLVED, agent, NOW + timedelta(minutes=30))
    session.flush()
    wait = estimate_wait(session, last, NOW + timedelta(minutes=60))
    # 6 closed in 120 minutes: one every 20 minutes; third in line: about 60 minutes.
    assert wait.position == 3 and wait.minutes == 60 and waiting[0].created


def test_closing_in_bulk_does_not_make_the_team_look_faster(session: Session) -> None:
    for n in range(10, 20):
        add(session, n)
    session.flush()
    for row in session.scalars(select(Escalation)):
        row.status, row.resolved_at, row.bulk_closed = EscalationStatus.RESOLVED, NOW, True
    add(session, 1)
    row = session.scalars(select(Escalation).where(Escalation.conversation_id == "c-1")).one()
    assert estimate_wait(session, row, NOW).minutes is None


def test_a_safety_case_is_first_even_after_older_ones(session: Session) -> None:
    add(session, 1, Urgency.NORMAL)
    add(session, 2, Urgency.TIME_CRITICAL, minutes=1)
    add(session, 3, Urgency.SAFETY, minutes=2)
    row = session.scalars(select(Escalation).where(Escalation.conversation_id == "c-3")).one()
    assert estimate_wait(session, row, NOW).position == 1


def test_bad_filters_are_refused_with_a_validation_error() -> None:
    import pytest

    from bot.core.errors import ValidationError

    for bad in ({"sort": "random"}, {"page": 0}, {"older_than_minutes": -1}):
        with pytest.raises(ValidationError):
            QueueFilter(**bad)  # type: ignore[arg-type]


def test_queue_reads_in_a_fresh_session(engine: Engine) -> None:
    """The page is read in one session and rendered after; relationships it shows are loaded."""
    bulk_insert(engine, 3)
    with make_session_factory(engine)() as s:
        page = queue_page(s, QueueFilter(), NOW)
    assert [r.assignee for r in page.rows] == [None, None, None] and [r.links for r in page.rows] == [[], [], []]
