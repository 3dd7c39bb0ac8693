"""The Statuspage parser on real captured payloads, and applying a page's state to the store."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.errors import ConfigurationError, StatusPageError
from bot.core.settings import PROJECT_ROOT
from bot.db.models import Impact, Incident, IncidentStatus, ServiceStatus
from bot.incidents.reads import read_overview
from bot.incidents.statuspage.apply import apply_snapshot, apply_webhook
from bot.incidents.statuspage.component_map import ComponentMap, load_component_map
from bot.incidents.statuspage.parse import (
    Snapshot,
    parse_incident,
    parse_incident_list,
    parse_summary,
    parse_time,
    parse_webhook,
)
from bot.incidents.writes import sync_catalogue
from bot.knowledge.file import Knowledge

SAMPLES = PROJECT_ROOT.parent / "shared" / "statuspage-samples"
NOW = datetime(2026, 11, 25, 1, 30, tzinfo=timezone.utc)


def sample(name: str) -> Any:
    path = SAMPLES / name
    if not path.is_file():
        pytest.skip(f"the captured Statuspage samples are not beside this checkout ({SAMPLES})")
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture
def mapping() -> ComponentMap:
    return load_component_map(PROJECT_ROOT / "bot" / "statuspage_map.yml")


@pytest.fixture
def catalogue(session: Session, knowledge: Knowledge) -> Session:
    """A store with the service catalogue and no incidents."""
    sync_catalogue(session, knowledge)
    session.flush()
    return session


def test_every_captured_sample_is_read() -> None:
    """Each real payload in shared/statuspage-samples parses without error."""
    if not SAMPLES.is_dir():
        pytest.skip(f"the captured Statuspage samples are not beside this checkout ({SAMPLES})")
    files = sorted(SAMPLES.rglob("*.json"))
    assert len(files) >= 7
    for path in files:
        data = json.loads(path.read_text(encoding="utf-8"))
        if path.parent.name == "webhooks":
            assert parse_webhook(data) is not None
        elif path.name == "summary.json":
            parse_summary(data)
        elif path.name == "scheduled-maintenances.json":
            parse_incident_list(data, "scheduled_maintenances")
        else:
            parse_incident_list(data)


def test_discord_summary_components_and_page_status() -> None:
    snap = parse_summary(sample("discordstatus-2022/summary.json"))
    assert snap.incidents == ()
    assert snap.page_status == "All Systems Operational"
    assert snap.components and all(c.status is ServiceStatus.OPERATIONAL for c in snap.components)
    assert {c.name for c in snap.components} >= {"South Korea"}


def test_discord_incident_history_in_order_with_offsets_converted_to_utc() -> None:
    (incident,) = parse_incident_list(sample("discordstatus-2022/incidents.json"))
    assert incident.name == "Messaging issues"
    assert incident.status is IncidentStatus.RESOLVED
    assert incident.impact is Impact.MINOR
    assert len(incident.updates) == 4
    assert [u.status for u in incident.updates] == [
        IncidentStatus.INVESTIGATING,
        IncidentStatus.INVESTIGATING,
        IncidentStatus.MONITORING,
        IncidentStatus.RESOLVED,
    ]
    assert incident.latest is not None and incident.latest.body == "This incident has been resolved."
    # 13:37:37.388-08:00 is 21:37:37.388 UTC.
    assert incident.latest.display_at == datetime(2022, 2, 15, 21, 37, 37, 388000, tzinfo=timezone.utc)
    assert incident.updates[0].components == {"rhznvxg4v7yh": ServiceStatus.DEGRADED_PERFORMANCE}


def test_unresolved_list_may_be_empty() -> None:
    assert parse_incident_list(sample("discordstatus-2022/incidents-unresolved.json")) == []


def test_maintenance_vocabulary_null_components_and_window() -> None:
    items = parse_incident_list(sample("discordstatus-2022/scheduled-maintenances.json"), "scheduled_maintenances")
    juice = next(i for i in items if i.id == "chkt3cr0jf7b")
    assert juice.is_maintenance and juice.status is IncidentStatus.RESOLVED  # "completed"
    assert juice.scheduled_until == datetime(2015, 9, 22, 8, 30, tzinfo=timezone.utc)
    assert [u.status for u in juice.updates][-3:] == [
        IncidentStatus.IDENTIFIED,  # in_progress
        IncidentStatus.MONITORING,  # verifying
        IncidentStatus.RESOLVED,  # completed
    ]
    assert all(u.components == {} for u in juice.updates)  # affected_components: null
    first = juice.updates[0].body
    assert "\r" not in first and "\n" in first  # \r\n normalised
    assert "ﾉ" in first  # non-Latin text kept


def test_webhook_incident_created_and_resolved() -> None:
    created = parse_webhook(sample("webhooks/incident_created.json"))
    resolved = parse_webhook(sample("webhooks/incident_update.json"))
    assert created.incident is not None and resolved.incident is not None
    assert created.incident.id == resolved.incident.id == "z3lct0r596n4"
    assert resolved.incident.status is IncidentStatus.RESOLVED
    assert resolved.incident.latest is not None
    assert resolved.incident.latest.body == "The database issue is resolved."
    assert {c.name for c in resolved.components} == {"Management Portal (example)"}


def test_webhook_component_update_uses_the_new_status() -> None:
    event = parse_webhook(sample("webhooks/component_status_update.json"))
    assert event.incident is None
    assert event.component is not None
    assert event.component.name == "Database component"
    assert event.component.status is ServiceStatus.UNDER_MAINTENANCE


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


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2022-02-15T13:37:37.407-08:00", datetime(2022, 2, 15, 21, 37, 37, 407000, tzinfo=timezone.utc)),
        ("2017-12-26T07:37:21.000Z", datetime(2017, 12, 26, 7, 37, 21, tzinfo=timezone.utc)),
        ("2017-12-26T07:37:21Z", datetime(2017, 12, 26, 7, 37, 21, tzinfo=timezone.utc)),
        ("2017-12-26T07:37:21.1234567+0530", datetime(2017, 12, 26, 2, 7, 21, 123456, tzinfo=timezone.utc)),
        ("2017-12-26T07:37:21", datetime(2017, 12, 26, 7, 37, 21, tzinfo=timezone.utc)),
        ("yesterday", None),
        (None, None),
        (12345, None),
    ],
)
def test_times_with_any_offset_and_precision(raw: object, expected: datetime | None) -> None:
    assert parse_time(raw) == expected


def test_unknown_values_are_mapped_conservatively(caplog: pytest.LogCaptureFixture) -> None:
    incident = parse_incident(
        {
            "id": "x1",
            "name": "Odd",
            "status": "exploding",
            "impact": "catastrophic",
            "created_at": "2026-11-25T00:00:00Z",
            "incident_updates": [
                {
                    "id": "u1",
                    "status": "thinking",
                    "body": "hmm",
                    "display_at": "2026-11-25T00:00:00Z",
                    "affected_components": [{"code": "c1", "new_status": "on_fire"}],
                }
            ],
        }
    )
    assert incident is not None
    assert incident.status is IncidentStatus.INVESTIGATING and incident.is_active
    assert incident.impact is Impact.MAJOR
    assert incident.updates[0].components == {"c1": ServiceStatus.DEGRADED_PERFORMANCE}
    assert "exploding" in caplog.text and "on_fire" in caplog.text


@pytest.mark.parametrize(
    "payload",
    [[], "text", None, {"page": {}}, {"incidents": "nope"}, {"components": [1, 2], "incidents": [{"no": "id"}]}],
)
def test_wrong_shapes_raise_a_statuspage_error_or_are_skipped(payload: object) -> None:
    try:
        snap = parse_summary(payload)
    except StatusPageError:
        return
    assert snap.components == () and snap.incidents == ()


def test_webhook_of_unknown_kind_is_refused() -> None:
    with pytest.raises(StatusPageError):
        parse_webhook({"meta": {}, "page": {}})


def test_component_map_refuses_unknown_services(tmp_path: Path) -> None:
    path = tmp_path / "map.yml"
    path.write_text("components:\n  - name: X\n    services: [teleport]\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="teleport"):
        load_component_map(path, ["email"])
    path.write_text("nothing: here\n", encoding="utf-8")
    with pytest.raises(ConfigurationError):
        load_component_map(path)


# --- applying page state ----------------------------------------------------------------------


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
