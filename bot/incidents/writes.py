"""The writes of the incident state. Every change goes through here and records its own audit row
(`actor` says who: "console:NAME", an operator token's name, "cli:USER", "scenario:NAME")."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.errors import NotFoundError, ValidationError
from bot.db.audit import record
from bot.db.models import Impact, Incident, IncidentStatus, IncidentUpdate, Service, ServiceImpact, ServiceStatus
from bot.knowledge.file import Knowledge
from common.text import printable

MAX_TITLE = 200
MAX_UPDATE = 5000  # an update's message, and a stated cause
# Operators' clocks and ours differ a little; an ETA this close to now is not "in the past".
CLOCK_SKEW = timedelta(minutes=2)


def sync_catalogue(session: Session, knowledge: Knowledge) -> None:
    """Make the service table match the knowledge file (names, groups, order)."""
    existing = {s.key: s for s in session.scalars(select(Service))}
    for position, info in enumerate(knowledge.services.values()):
        row = existing.get(info.key) or Service(key=info.key)
        row.name, row.group, row.position = info.name, info.group, position
        session.add(row)


def _check_aware(name: str, value: datetime | None) -> None:
    if value is not None and value.tzinfo is None:
        raise ValidationError(f"{name} must include a time zone")


def _check_text(name: str, value: str, limit: int, *, required: bool = True) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be text")
    value = printable(value)
    if required and not value:
        raise ValidationError(f"{name} must not be empty")
    if len(value) > limit:
        raise ValidationError(f"{name} is longer than {limit} characters")
    return value


def _check_future(name: str, value: datetime | None, now: datetime) -> None:
    _check_aware(name, value)
    if value is not None and value < now - CLOCK_SKEW:
        raise ValidationError(f"{name} is in the past")


def _known_services(session: Session, keys: Iterable[str]) -> None:
    keys = set(keys)
    known = set(session.scalars(select(Service.key).where(Service.key.in_(keys))))
    unknown = sorted(keys - known)
    if unknown:
        raise ValidationError(f"unknown service: {', '.join(unknown)}")


def get_incident(session: Session, incident_id: int) -> Incident:
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise NotFoundError(f"no incident with id {incident_id}")
    return incident


def create_incident(
    session: Session,
    *,
    title: str,
    message: str,
    now: datetime,
    status: IncidentStatus = IncidentStatus.INVESTIGATING,
    impact: Impact = Impact.MAJOR,
    started_at: datetime | None = None,
    impacts: Mapping[str, ServiceStatus] | None = None,
    cause: str | None = None,
    eta: datetime | None = None,
    next_update_at: datetime | None = None,
    source: str = "manual",
    external_id: str | None = None,
    actor: str,
) -> Incident:
    title = _check_text("title", title, MAX_TITLE)
    message = _check_text("message", message, MAX_UPDATE)
    if status is IncidentStatus.RESOLVED:
        raise ValidationError("a new incident cannot start resolved")
    started = started_at or now
    _check_aware("started_at", started)
    if started > now + CLOCK_SKEW:
        raise ValidationError("started_at is in the future")
    _check_future("eta", eta, now)
    _check_future("next_update_at", next_update_at, now)
    impacts = dict(impacts or {})
    _known_services(session, impacts)
    incident = Incident(
        title=title,
        status=status,
        impact=impact,
        started_at=started,
        updated_at=now,
        eta=eta,
        next_update_at=next_update_at,
        public_message=message,
        cause=_check_text("cause", cause, MAX_UPDATE) if cause else None,
        source=source,
        external_id=external_id,
    )
    for key, svc_status in impacts.items():
        incident.impacts.append(ServiceImpact(service_key=key, status=ServiceStatus(svc_status), updated_at=now))
    incident.updates.append(
        IncidentUpdate(
            posted_at=started if started_at else now,
            status=status,
            message=message,
            service_keys=[],
            eta=eta,
            next_update_at=next_update_at,
        )
    )
    session.add(incident)
    session.flush()
    detail = {"title": title, "status": status.value, "impact": Impact(impact).value, "eta": _iso(eta)}
    detail |= {"next_update_at": _iso(next_update_at)}
    detail |= {"services": {k: ServiceStatus(v).value for k, v in impacts.items()}}
    record(session, actor=actor, action="create", now=now, incident_id=incident.id, detail=detail)
    return incident


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def edit_incident(
    session: Session,
    incident_id: int,
    *,
    now: datetime,
    title: str | None = None,
    impact: Impact | None = None,
    cause: str | None = None,
    actor: str,
) -> Incident:
    """Correct an incident's title, impact or stated cause (status changes go through updates)."""
    incident = get_incident(session, incident_id)
    if title is not None:
        incident.title = _check_text("title", title, MAX_TITLE)
    if impact is not None:
        incident.impact = Impact(impact)
    if cause is not None:
        incident.cause = _check_text("cause", cause, MAX_UPDATE, required=False) or None
    incident.updated_at = max(incident.updated_at, now)
    changed: dict[str, Any] = {"title": title, "impact": Impact(impact).value if impact else None, "cause": cause}
    detail = {k: v for k, v in changed.items() if v is not None}
    record(session, actor=actor, action="edit", now=now, incident_id=incident_id, detail=detail)
    return incident


def set_impact(
    session: Session, incident_id: int, service_key: str, status: ServiceStatus, *, now: datetime, actor: str
) -> None:
    incident = get_incident(session, incident_id)
    _known_services(session, [service_key])
    _impact(incident, service_key, status, now)
    incident.updated_at = now
    detail = {"service": service_key, "status": ServiceStatus(status).value}
    record(session, actor=actor, action="set_impact", now=now, incident_id=incident_id, detail=detail)


def _impact(incident: Incident, service_key: str, status: ServiceStatus, now: datetime) -> None:
    """Set one service's state in `incident`, adding the row the first time."""
    row = next((i for i in incident.impacts if i.service_key == service_key), None)
    if row is None:
        incident.impacts.append(ServiceImpact(service_key=service_key, status=ServiceStatus(status), updated_at=now))
    else:
        row.status, row.updated_at = ServiceStatus(status), now


def post_update(
    session: Session,
    incident_id: int,
    *,
    message: str,
    now: datetime,
    posted_at: datetime | None = None,
    status: IncidentStatus | None = None,
    service_keys: Iterable[str] = (),
    eta: datetime | None = None,
    next_update_at: datetime | None = None,
    clear_eta: bool = False,
    service_states: Mapping[str, ServiceStatus] | None = None,
    actor: str,
) -> IncidentUpdate:
    """Record a public update; it replaces the incident's ETA and next-update time, and sets the
    state of each service in `service_states` (as a Statuspage incident update carries its
    components' states), all in one write with one audit row. The update is about those
    services too, so their subscribers hear of it."""
    incident = get_incident(session, incident_id)
    if incident.status is IncidentStatus.RESOLVED:
        raise ValidationError("the incident is resolved; open a new one instead")
    message = _check_text("message", message, MAX_UPDATE)
    states = {key: ServiceStatus(value) for key, value in (service_states or {}).items()}
    keys = list(dict.fromkeys([*service_keys, *states]))
    _known_services(session, keys)
    posted = posted_at or now
    _check_aware("posted_at", posted)
    if posted < incident.started_at:
        raise ValidationError("an update cannot be posted before the incident started")
    _check_future("eta", eta, posted)
    _check_future("next_update_at", next_update_at, posted)
    if status is IncidentStatus.RESOLVED:
        raise ValidationError("use resolve_incident to resolve")
    update = IncidentUpdate(
        posted_at=posted,
        status=status or incident.status,
        message=message,
        service_keys=keys,
        eta=eta,
        next_update_at=next_update_at,
    )
    incident.updates.append(update)
    if status is not None:
        incident.status = status
    if eta is not None or clear_eta:
        incident.eta = eta
    incident.next_update_at = next_update_at
    incident.public_message = message
    incident.updated_at = max(incident.updated_at, posted)
    for key, value in states.items():
        _impact(incident, key, value, now)
    detail: dict[str, Any] = {"message": message, "status": update.status.value, "services": keys, "eta": _iso(eta)}
    detail |= {"next_update_at": _iso(next_update_at), "clear_eta": clear_eta}
    detail |= {"service_states": {k: v.value for k, v in states.items()}}
    record(session, actor=actor, action="post_update", now=now, incident_id=incident_id, detail=detail)
    return update


def mark_resolved(incident: Incident, at: datetime) -> None:
    """The state change of resolving: every service operational, no ETA or next update."""
    incident.status = IncidentStatus.RESOLVED
    incident.resolved_at = at
    incident.updated_at = at
    incident.eta = None
    incident.next_update_at = None
    for row in incident.impacts:
        row.status, row.updated_at = ServiceStatus.OPERATIONAL, at


def resolve_incident(
    session: Session,
    incident_id: int,
    *,
    message: str,
    now: datetime,
    resolved_at: datetime | None = None,
    actor: str,
) -> Incident:
    incident = get_incident(session, incident_id)
    if incident.status is IncidentStatus.RESOLVED:
        raise ValidationError("the incident is already resolved")
    message = _check_text("message", message, MAX_UPDATE)
    resolved = resolved_at or now
    _check_aware("resolved_at", resolved)
    if resolved < incident.started_at:
        raise ValidationError("resolved_at is before the incident started")
    if resolved > now + CLOCK_SKEW:
        raise ValidationError("resolved_at is in the future")
    mark_resolved(incident, resolved)
    incident.public_message = message
    incident.updates.append(
        IncidentUpdate(posted_at=resolved, status=IncidentStatus.RESOLVED, message=message, service_keys=[])
    )
    detail = {"message": message, "resolved_at": resolved.isoformat()}
    record(session, actor=actor, action="resolve", now=now, incident_id=incident_id, detail=detail)
    return incident
