"""Writing incident state: every rule a bad change can break gives a clear ValidationError."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from bot.core.errors import ValidationError
from bot.db.models import IncidentStatus, ServiceStatus
from bot.incidents.writes import create_incident, post_update, resolve_incident, set_impact


def test_unknown_service_is_refused(session: Session, demo: int, now: datetime) -> None:
    with pytest.raises(ValidationError, match="unknown service: fax"):
        set_impact(session, demo, "fax", ServiceStatus.MAJOR_OUTAGE, now=now, actor="test")


def test_resolution_before_start_is_refused(session: Session, demo: int, now: datetime) -> None:
    with pytest.raises(ValidationError, match="before the incident started"):
        resolve_incident(session, demo, message="done", now=now, resolved_at=now - timedelta(days=30), actor="test")


def test_eta_in_the_past_is_refused(session: Session, demo: int, now: datetime) -> None:
    with pytest.raises(ValidationError, match="eta is in the past"):
        post_update(session, demo, message="soon", now=now, eta=now - timedelta(hours=3), actor="test")


def test_naive_times_are_refused(session: Session, demo: int, now: datetime) -> None:
    with pytest.raises(ValidationError, match="time zone"):
        post_update(session, demo, message="x", now=now, eta=datetime(2030, 1, 1), actor="test")


@pytest.mark.parametrize("title", ["", "   ", "x" * 201])
def test_bad_titles_are_refused(session: Session, demo: int, now: datetime, title: str) -> None:
    with pytest.raises(ValidationError):
        create_incident(session, title=title, message="m", now=now, actor="test")


def test_non_text_message_is_refused(session: Session, demo: int, now: datetime) -> None:
    with pytest.raises(ValidationError, match="must be text"):
        post_update(session, demo, message=123, now=now, actor="test")  # type: ignore[arg-type]


def test_update_replaces_eta_and_next_update(session: Session, demo: int, now: datetime) -> None:
    eta = now + timedelta(hours=5)
    post_update(session, demo, message="Fix expected this evening.", now=now, eta=eta, actor="test")
    session.commit()
    from bot.db.models import Incident

    incident = session.get(Incident, demo)
    assert incident is not None
    assert incident.eta == eta
    assert incident.next_update_at is None
    assert incident.public_message == "Fix expected this evening."


def test_resolved_incident_takes_no_more_updates(session: Session, demo: int, now: datetime) -> None:
    resolve_incident(session, demo, message="Fixed.", now=now, actor="test")
    with pytest.raises(ValidationError, match="resolved"):
        post_update(session, demo, message="more", now=now, actor="test")
    with pytest.raises(ValidationError, match="already resolved"):
        resolve_incident(session, demo, message="again", now=now, actor="test")


def test_resolving_sets_every_service_operational(session: Session, demo: int, now: datetime) -> None:
    incident = resolve_incident(session, demo, message="Fixed.", now=now, actor="test")
    assert incident.status is IncidentStatus.RESOLVED
    assert all(row.status is ServiceStatus.OPERATIONAL for row in incident.impacts)
    assert incident.updates[-1].status is IncidentStatus.RESOLVED


def test_missing_incident_is_a_validation_error(session: Session, demo: int, now: datetime) -> None:
    with pytest.raises(ValidationError, match="no incident with id 999"):
        resolve_incident(session, 999, message="x", now=now, actor="test")
