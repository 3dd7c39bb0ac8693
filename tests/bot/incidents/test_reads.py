"""Reading the incident state: what the demo outage looks like to each service."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from bot.db.models import IncidentStatus, ServiceStatus
from bot.incidents.reads import StateKind, read_overview
from bot.incidents.writes import post_update, resolve_incident, set_impact


def test_demo_outage_marks_broken_services_affected(session: Session, demo: int, now: datetime) -> None:
    ov = read_overview(session, now)
    kinds = {s.key: s.kind for s in ov.services}
    assert {k for k, v in kinds.items() if v is StateKind.AFFECTED} == {
        "top_up",
        "roaming",
        "call_diversion",
        "account",
        "billing",
        "store",
    }
    assert kinds["email"] is StateKind.RESTORED
    assert kinds["voicemail"] is StateKind.RESTORED
    assert kinds["mobile"] is kinds["broadband"] is kinds["landline"] is StateKind.NORMAL


def test_restored_service_carries_its_own_update(session: Session, demo: int, now: datetime) -> None:
    email = read_overview(session, now).service("email")
    assert email.update is not None and "Xtra Mail has been restored" in email.update.message


def test_affected_service_gets_latest_incident_wide_update(session: Session, demo: int, now: datetime) -> None:
    top_up = read_overview(session, now).service("top_up")
    assert top_up.update is not None
    assert "don't have a time for the fix yet" in top_up.update.message
    assert top_up.incident is not None and top_up.incident.eta is None
    assert top_up.incident.next_update_at is not None and top_up.incident.next_update_at > now


def test_worst_status_wins_across_incidents(session: Session, demo: int, now: datetime) -> None:
    from bot.incidents.writes import create_incident

    create_incident(
        session,
        title="Store card terminals",
        message="Terminals down.",
        now=now,
        impacts={"store": ServiceStatus.MAJOR_OUTAGE},
        actor="test",
    )
    session.commit()
    store = read_overview(session, now).service("store")
    assert store.status is ServiceStatus.MAJOR_OUTAGE
    assert store.incident is not None and store.incident.title == "Store card terminals"


def test_resolved_incident_makes_services_resolved_then_normal(session: Session, demo: int, now: datetime) -> None:
    resolve_incident(session, demo, message="All systems restored.", now=now, actor="test")
    session.commit()
    ov = read_overview(session, now)
    assert ov.incidents == ()
    assert ov.service("top_up").kind is StateKind.RESOLVED
    later = read_overview(session, now + timedelta(days=4))
    assert later.service("top_up").kind is StateKind.NORMAL
    assert later.recently_resolved == ()


def test_impact_change_is_visible_on_next_read(session: Session, demo: int, now: datetime) -> None:
    set_impact(session, demo, "top_up", ServiceStatus.OPERATIONAL, now=now, actor="test")
    post_update(
        session,
        demo,
        message="Top-ups are working again.",
        now=now,
        service_keys=["top_up"],
        status=IncidentStatus.MONITORING,
        actor="test",
    )
    session.commit()
    top_up = read_overview(session, now).service("top_up")
    assert top_up.kind is StateKind.RESTORED
    assert top_up.update is not None and top_up.update.message == "Top-ups are working again."
