"""The incident store on a real PostgreSQL server: migrations, writes, reads and time zones."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, func, inspect, select, text

from bot.conversation.backend import Backend
from bot.db.engine import make_session_factory
from bot.db.migrate import downgrade, upgrade
from bot.incidents.reads import StateKind, read_overview
from bot.incidents.seed import load_scenario, scenario_path
from bot.incidents.writes import post_update, resolve_incident
from bot.knowledge.file import Knowledge
from tests.conftest import NOW, TZ

pytestmark = pytest.mark.postgres


def test_migrations_create_and_drop_the_schema(pg_engine: Engine) -> None:
    assert {"incident", "service", "service_impact", "incident_update"} <= set(inspect(pg_engine).get_table_names())
    downgrade(pg_engine, "base")
    assert "incident" not in inspect(pg_engine).get_table_names()
    upgrade(pg_engine)
    assert "incident" in inspect(pg_engine).get_table_names()


def test_demo_outage_reads_the_same_as_on_sqlite(pg_engine: Engine, knowledge: Knowledge) -> None:
    sessions = make_session_factory(pg_engine)
    with sessions.begin() as session:
        (incident_id,) = load_scenario(
            session, scenario_path("outage_day_two"), knowledge, now=NOW, tz=TZ, actor="test"
        )
    with sessions() as session:
        ov = read_overview(session, NOW)
    assert ov.service("top_up").kind is StateKind.AFFECTED
    assert ov.service("email").kind is StateKind.RESTORED
    update = ov.service("email").update
    assert update is not None and update.posted_at.astimezone(TZ).hour == 20
    assert update.posted_at.tzinfo is not None

    with sessions.begin() as session:
        post_update(session, incident_id, message="ETA set.", now=NOW, eta=NOW + timedelta(hours=2), actor="test")
    with sessions() as session:
        eta = read_overview(session, NOW).incidents[0].eta
    assert eta == NOW + timedelta(hours=2)

    with sessions.begin() as session:
        resolve_incident(session, incident_id, message="Done.", now=NOW, actor="test")
    with sessions() as session:
        assert read_overview(session, NOW).service("top_up").kind is StateKind.RESOLVED


async def test_async_store_reads_postgres(pg_engine: Engine, knowledge: Knowledge) -> None:
    with make_session_factory(pg_engine).begin() as session:
        load_scenario(session, scenario_path("outage_day_two"), knowledge, now=NOW, tz=TZ, actor="test")
    store = Backend(pg_engine, clock=lambda: NOW)
    overview = await store.overview()
    assert isinstance(overview.as_of, datetime)
    assert len(overview.affected) == 6


def test_uncertain_messages_are_read_and_labelled_on_postgresql(pg_engine: Engine) -> None:
    """Rasa's tracker store and our labels both on PostgreSQL, as in a scaled-out deployment."""
    from bot.conversation.review import export_yaml, label_message, uncertain_messages
    from tests.bot.conversation.test_review import TrackerStore

    tracker = TrackerStore(engine=pg_engine)
    tracker.user("sure thing", "affirm", 0.99)
    event = tracker.user("the app thingy is stuffed\x00 eh", "account_access", 0.42)
    sessions = make_session_factory(pg_engine)
    with sessions.begin() as session:
        items = uncertain_messages(pg_engine, session, NOW - timedelta(days=1))
        assert [(i.event_id, i.predicted) for i in items] == [(event, "account_access")]
        label_message(session, pg_engine, event, "account_access", actor="pg", now=NOW)
    with sessions() as session:
        assert "- the app thingy is stuffed eh" in export_yaml(session)
        assert uncertain_messages(pg_engine, session, NOW - timedelta(days=1)) == []


def test_the_queue_pages_totals_and_tell_and_close_on_postgres(pg_engine: Engine, knowledge: Knowledge) -> None:
    """The queue's partial index and its queries, the links and the chunked close, on PostgreSQL."""
    from bot.db.models import ClosingNotice, Urgency
    from bot.people.closing import close_linked
    from bot.people.queue import QueueFilter, changes, queue_page
    from tests.escalation_rows import escalate, insert_waiting

    sessions = make_session_factory(pg_engine)
    with sessions.begin() as session:
        (incident_id,) = load_scenario(
            session, scenario_path("outage_day_two"), knowledge, now=NOW, tz=TZ, actor="test"
        )
    insert_waiting(pg_engine, 250, NOW)
    with sessions.begin() as session:
        made = escalate(session, "pg-safety", "0217770001", urgency=Urgency.SAFETY, services=["top_up"])
    with sessions() as session:
        page = queue_page(session, QueueFilter(), NOW)
        assert page.rows[0].reference == made.reference and page.matching == 251 and page.pages == 6
        assert page.totals.by_incident == [(incident_id, page.totals.by_incident[0][1], 1)]
        assert changes(session).safety_waiting == 1
        # 251 rows are cheap to sort; forbid the scan to see whether the index can serve the query.
        session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(
            str(r[0])
            for r in session.execute(
                text(
                    "EXPLAIN SELECT id FROM escalation WHERE status <> 'resolved' "
                    "ORDER BY priority, created_at, id LIMIT 50"
                )
            )
        )
    assert "ix_escalation_queue" in plan, plan
    done = close_linked(sessions, incident_id, "Top-ups work again.", actor="ops", now=NOW)
    assert (done.closed, done.queued) == (1, 1)
    with sessions() as session:
        assert session.scalar(select(func.count(ClosingNotice.id))) == 1
