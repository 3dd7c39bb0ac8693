"""A page's state applied to the store: incidents come, change and go; nothing is invented; changes are audited."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.settings import PROJECT_ROOT
from bot.db.models import Incident, IncidentStatus, ServiceStatus
from bot.incidents.reads import read_overview
from bot.incidents.statuspage.apply import apply_snapshot, apply_webhook
from bot.incidents.statuspage.component_map import ComponentMap, load_component_map
from bot.incidents.statuspage.parse import (
    Snapshot,
    parse_incident_list,
    parse_summary,
    parse_webhook,
)
from bot.incidents.writes import sync_catalogue
from bot.knowledge.file import Knowledge
from tests.bot.incidents.statuspage.test_parse import sample

NOW = datetime(2026, 11, 25, 1, 30, tzinfo=timezone.utc)


@pytest.fixture
def mapping() -> ComponentMap:
    return load_component_map(PROJECT_ROOT / "bot" / "statuspage_map.yml")


@pytest.fixture
def catalogue(session: Session, knowledge: Knowledge) -> Session:
    """A store with the service catalogue and no incidents."""
    sync_catalogue(session, knowledge)
    session.flush()
    return session


def test_a_promise_in_prose_never_becomes_an_eta(catalogue: Session) -> None:
    session = catalogue
    """The sample's body says "latest by tomorrow"; no field carries an ETA, so none is stored."""
    event = parse_webhook(sample("webhooks/incident_created.json"))
    assert event.incident is not None
    mapping = ComponentMap(by_id={}, by_name={"management portal (example)": ("account",)})
    apply_snapshot(
        session, Snapshot(components=event.components, incidents=(event.incident,)), mapping, NOW, actor="test"
    )
    local = session.scalars(select(Incident).where(Incident.external_id == "statuspage:z3lct0r596n4")).one()
    assert "latest by tomorrow" in local.public_message
    assert local.eta is None


def page_incident(status: str, updates: list[tuple[str, str, str, str]], components: dict[str, str]) -> dict[str, Any]:
    """updates: (id, status, body, display_at) oldest first; components: name -> status."""
    return {
        "id": "inc1",
        "name": "Top-ups failing",
        "status": status,
        "impact": "major",
        "created_at": updates[0][3],
        "started_at": updates[0][3],
        "resolved_at": updates[-1][3] if status == "resolved" else None,
        "components": [{"id": f"id-{n}", "name": n, "status": s} for n, s in components.items()],
        "incident_updates": [
            {"id": i, "status": s, "body": b, "display_at": t, "affected_components": None}
            for i, s, b, t in reversed(updates)
        ],
    }


def summary(incidents: list[dict[str, Any]], components: dict[str, str]) -> dict[str, Any]:
    return {
        "page": {"id": "p"},
        "components": [{"id": f"id-{n}", "name": n, "status": s} for n, s in components.items()],
        "incidents": incidents,
        "status": {"indicator": "major", "description": "Partial System Outage"},
    }


def test_incident_appears_updates_and_resolves(catalogue: Session, mapping: ComponentMap) -> None:
    session = catalogue
    t0, t1, t2 = "2026-11-25T00:00:00Z", "2026-11-25T00:30:00Z", "2026-11-25T01:00:00Z"
    first = page_incident(
        "investigating", [("u1", "investigating", "Looking into it.", t0)], {"Prepaid top-up": "major_outage"}
    )
    apply_snapshot(
        session, parse_summary(summary([first], {"Prepaid top-up": "major_outage"})), mapping, NOW, actor="test"
    )
    overview = read_overview(session, NOW)
    top_up = overview.service("top_up")
    assert top_up.status is ServiceStatus.MAJOR_OUTAGE
    assert top_up.update is not None and top_up.update.message == "Looking into it."
    assert top_up.incident is not None and top_up.incident.eta is None

    second = page_incident(
        "identified",
        [("u1", "investigating", "Looking into it.", t0), ("u2", "identified", "Cause found.", t1)],
        {"Prepaid top-up": "partial_outage"},
    )
    snap = parse_summary(summary([second], {"Prepaid top-up": "partial_outage"}))
    apply_snapshot(session, snap, mapping, NOW, actor="test")
    apply_snapshot(session, snap, mapping, NOW, actor="test")  # applying twice changes nothing
    local = session.scalars(select(Incident).where(Incident.external_id == "statuspage:inc1")).one()
    assert [u.message for u in local.updates] == ["Looking into it.", "Cause found."]
    assert read_overview(session, NOW).service("top_up").status is ServiceStatus.PARTIAL_OUTAGE

    done = page_incident(
        "resolved",
        [
            ("u1", "investigating", "Looking into it.", t0),
            ("u2", "identified", "Cause found.", t1),
            ("u3", "resolved", "Top-ups work again.", t2),
        ],
        {"Prepaid top-up": "operational"},
    )
    # Resolved incidents leave the unresolved list and summary; incidents.json still has them.
    snap = Snapshot(
        components=parse_summary(summary([], {"Prepaid top-up": "operational"})).components,
        incidents=tuple(parse_incident_list({"incidents": [done]})),
    )
    apply_snapshot(session, snap, mapping, NOW, actor="test")
    session.refresh(local)
    assert local.status is IncidentStatus.RESOLVED
    assert local.resolved_at == datetime(2026, 11, 25, 1, 0, tzinfo=timezone.utc)
    top_up = read_overview(session, NOW).service("top_up")
    assert top_up.status is ServiceStatus.OPERATIONAL and top_up.kind.value == "resolved"


def test_incident_that_vanishes_from_the_page_is_resolved(catalogue: Session, mapping: ComponentMap) -> None:
    session = catalogue
    first = page_incident(
        "investigating", [("u1", "investigating", "Down.", "2026-11-25T00:00:00Z")], {"Roaming": "major_outage"}
    )
    apply_snapshot(session, parse_summary(summary([first], {"Roaming": "major_outage"})), mapping, NOW, actor="test")
    apply_snapshot(session, parse_summary(summary([], {"Roaming": "operational"})), mapping, NOW, actor="test")
    assert read_overview(session, NOW).service("roaming").status is ServiceStatus.OPERATIONAL
    assert read_overview(session, NOW).incidents == ()


def test_component_outage_without_an_incident_uses_the_page_status_line(
    catalogue: Session, mapping: ComponentMap
) -> None:
    session = catalogue
    apply_snapshot(session, parse_summary(summary([], {"Email": "partial_outage"})), mapping, NOW, actor="test")
    overview = read_overview(session, NOW)
    email = overview.service("email")
    assert email.status is ServiceStatus.PARTIAL_OUTAGE
    assert email.incident is not None and email.incident.title == "Partial System Outage"
    apply_snapshot(session, parse_summary(summary([], {"Email": "operational"})), mapping, NOW, actor="test")
    assert read_overview(session, NOW).incidents == ()


def test_active_maintenance_takes_its_window_end_as_eta(catalogue: Session, mapping: ComponentMap) -> None:
    session = catalogue
    until = NOW + timedelta(hours=2)
    maintenance = {
        "id": "m1",
        "name": "Voicemail upgrade",
        "status": "in_progress",
        "impact": "maintenance",
        "created_at": "2026-11-24T00:00:00Z",
        "scheduled_for": "2026-11-25T01:00:00Z",
        "scheduled_until": until.isoformat(),
        "components": [{"id": "id-Voicemail", "name": "Voicemail", "status": "under_maintenance"}],
        "incident_updates": [
            {"id": "mu1", "status": "in_progress", "body": "Upgrading.", "display_at": "2026-11-25T01:00:00Z"}
        ],
    }
    scheduled = {**maintenance, "id": "m2", "status": "scheduled", "name": "Later work"}
    apply_snapshot(
        session,
        Snapshot(
            components=parse_summary(summary([], {"Voicemail": "under_maintenance"})).components,
            incidents=tuple(
                parse_incident_list({"scheduled_maintenances": [maintenance, scheduled]}, "scheduled_maintenances")
            ),
        ),
        mapping,
        NOW,
        actor="test",
    )
    voicemail = read_overview(session, NOW).service("voicemail")
    assert voicemail.status is ServiceStatus.UNDER_MAINTENANCE
    assert voicemail.incident is not None and voicemail.incident.eta == until
    titles = {i.title for i in read_overview(session, NOW).incidents}
    assert titles == {"Voicemail upgrade"}  # a maintenance that has not started affects no one


def test_component_webhook_updates_the_services_it_maps_to(catalogue: Session, mapping: ComponentMap) -> None:
    session = catalogue
    first = page_incident(
        "investigating", [("u1", "investigating", "Down.", "2026-11-25T00:00:00Z")], {"Roaming": "major_outage"}
    )
    apply_snapshot(session, parse_summary(summary([first], {"Roaming": "major_outage"})), mapping, NOW, actor="test")
    event = parse_webhook(
        {
            "component": {"id": "id-Roaming", "name": "Roaming"},
            "component_update": {"new_status": "degraded_performance"},
        }
    )
    assert event.component is not None
    apply_webhook(session, event, mapping, NOW, actor="test")
    assert read_overview(session, NOW).service("roaming").status is ServiceStatus.DEGRADED_PERFORMANCE


def test_a_poll_that_changes_the_store_is_audited_and_one_that_changes_nothing_is_not(
    catalogue: Session, mapping: ComponentMap
) -> None:
    from bot.db.audit import audit_trail

    session = catalogue
    first = page_incident(
        "investigating", [("u1", "investigating", "Down.", "2026-11-25T00:00:00Z")], {"Roaming": "major_outage"}
    )
    snap = parse_summary(summary([first], {"Roaming": "major_outage"}))
    assert apply_snapshot(session, snap, mapping, NOW, actor="statuspage poll")
    assert not apply_snapshot(session, snap, mapping, NOW, actor="statuspage poll")
    (entry,) = audit_trail(session)
    assert entry.actor == "statuspage poll" and entry.action == "statuspage_sync"


def test_the_status_page_never_invents_a_next_update_time(catalogue: Session, mapping: ComponentMap) -> None:
    """Statuspage's format has no "next update by" field, so the store holds none for its incidents."""
    first = page_incident(
        "identified", [("u1", "identified", "Fix in progress.", "2026-11-25T00:00:00Z")], {"Roaming": "major_outage"}
    )
    apply_snapshot(catalogue, parse_summary(summary([first], {"Roaming": "major_outage"})), mapping, NOW, actor="t")
    local = catalogue.scalars(select(Incident).where(Incident.source == "statuspage")).one()
    assert local.next_update_at is None and local.eta is None
