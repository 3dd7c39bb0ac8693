"""Statuspage payloads, captured from live pages and hand-made: strict about shape, lenient about values."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from bot.core.errors import StatusPageError
from bot.core.settings import PROJECT_ROOT
from bot.db.models import Impact, IncidentStatus, ServiceStatus
from bot.incidents.statuspage.parse import (
    parse_incident,
    parse_incident_list,
    parse_summary,
    parse_time,
    parse_webhook,
)

SAMPLES = PROJECT_ROOT.parent / "shared" / "statuspage-samples"
NOW = datetime(2026, 11, 25, 1, 30, tzinfo=timezone.utc)


def sample(name: str) -> Any:
    path = SAMPLES / name
    if not path.is_file():
        pytest.skip(f"the captured Statuspage samples are not beside this checkout ({SAMPLES})")
    return json.loads(path.read_text(encoding="utf-8"))


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
