"""Read the live incident state into plain, detached views the answers are built from."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot.core.errors import ValidationError
from bot.db.models import Impact, Incident, IncidentStatus, IncidentUpdate, Service, ServiceStatus, SourceHealth

# How long after resolution a service still answers "that outage is over" rather than plain "working".
RECENTLY_RESOLVED = timedelta(hours=72)
IMPACT_ORDER = {Impact.CRITICAL: 4, Impact.MAJOR: 3, Impact.MAINTENANCE: 2, Impact.MINOR: 1, Impact.NONE: 0}


class StateKind(str, enum.Enum):
    AFFECTED = "affected"  # an active incident says this service is impaired now
    RESTORED = "restored"  # part of an active incident, but back to operational
    RESOLVED = "resolved"  # the incident that hit it was resolved recently
    NORMAL = "normal"  # nothing on record


@dataclass(frozen=True)
class UpdateView:
    posted_at: datetime
    status: IncidentStatus
    message: str


def update_overdue(next_update_at: datetime | None, now: datetime) -> bool:
    """The promised next update's time has passed without an update (an update replaces the promise)."""
    return next_update_at is not None and next_update_at < now


@dataclass(frozen=True)
class IncidentView:
    id: int
    title: str
    status: IncidentStatus
    impact: Impact
    started_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    eta: datetime | None
    next_update_at: datetime | None
    message: str
    cause: str | None
    latest_update: UpdateView | None

    @property
    def is_active(self) -> bool:
        return self.status is not IncidentStatus.RESOLVED

    @property
    def is_major(self) -> bool:
        return self.impact in (Impact.MAJOR, Impact.CRITICAL)

    def overdue(self, now: datetime) -> bool:
        return update_overdue(self.next_update_at, now)


@dataclass(frozen=True)
class ServiceState:
    key: str
    name: str
    group: str
    status: ServiceStatus
    kind: StateKind
    incident: IncidentView | None
    update: UpdateView | None


@dataclass(frozen=True)
class Overview:
    as_of: datetime
    incidents: tuple[IncidentView, ...]  # active, most severe first
    recently_resolved: tuple[IncidentView, ...]
    services: tuple[ServiceState, ...]  # catalogue order
    # True when this state may be out of date: a source (the database, or a status page the
    # sync reads) failed, and `as_of` is when the state was last known to be right.
    stale: bool = False

    def service(self, key: str) -> ServiceState:
        for state in self.services:
            if state.key == key:
                return state
        raise ValidationError(f"unknown service: {key}")

    @property
    def affected(self) -> tuple[ServiceState, ...]:
        return tuple(s for s in self.services if s.kind is StateKind.AFFECTED)

    @property
    def working(self) -> tuple[ServiceState, ...]:
        return tuple(s for s in self.services if s.kind is not StateKind.AFFECTED)


def _update_view(update: IncidentUpdate | None) -> UpdateView | None:
    if update is None:
        return None
    return UpdateView(posted_at=update.posted_at, status=update.status, message=update.message)


def _latest(
    updates: list[IncidentUpdate], service_key: str | None = None, *, explicit: bool = False
) -> IncidentUpdate | None:
    """Newest update about the service (or about the whole incident, unless `explicit`)."""
    best: IncidentUpdate | None = None
    for update in updates:
        keys = update.service_keys or []
        relevant = service_key is None or service_key in keys or (not explicit and not keys)
        if relevant and (best is None or update.posted_at >= best.posted_at):
            best = update
    return best


def _incident_view(incident: Incident) -> IncidentView:
    return IncidentView(
        id=incident.id,
        title=incident.title,
        status=incident.status,
        impact=incident.impact,
        started_at=incident.started_at,
        updated_at=incident.updated_at,
        resolved_at=incident.resolved_at,
        eta=incident.eta,
        next_update_at=incident.next_update_at,
        message=incident.public_message,
        cause=incident.cause,
        latest_update=_update_view(_latest(incident.updates)),
    )


def _service_state(
    service: Service, active: list[Incident], resolved: list[Incident], views: dict[int, IncidentView]
) -> ServiceState:
    base = {"key": service.key, "name": service.name, "group": service.group}
    hits = [(i, row) for i in active for row in i.impacts if row.service_key == service.key]
    affected = [(i, row) for i, row in hits if row.status.is_affected]
    if affected:
        incident, row = max(affected, key=lambda p: (p[1].status.severity, p[1].updated_at))
        return ServiceState(
            **base,
            status=row.status,
            kind=StateKind.AFFECTED,
            incident=views[incident.id],
            update=_update_view(_latest(incident.updates, service.key)),
        )
    # "Restored" needs an update that names the service: a row that was always operational is not news.
    restored = [(i, u) for i, _ in hits if (u := _latest(i.updates, service.key, explicit=True)) is not None]
    if restored:
        incident, update = max(restored, key=lambda p: p[1].posted_at)
        return ServiceState(
            **base,
            status=ServiceStatus.OPERATIONAL,
            kind=StateKind.RESTORED,
            incident=views[incident.id],
            update=_update_view(update),
        )
    past = [i for i in resolved if any(row.service_key == service.key for row in i.impacts)]
    if past:
        incident = max(past, key=lambda i: i.resolved_at or i.updated_at)
        return ServiceState(
            **base,
            status=ServiceStatus.OPERATIONAL,
            kind=StateKind.RESOLVED,
            incident=views[incident.id],
            update=_update_view(_latest(incident.updates)),
        )
    return ServiceState(**base, status=ServiceStatus.OPERATIONAL, kind=StateKind.NORMAL, incident=None, update=None)


def read_overview(session: Session, now: datetime) -> Overview:
    """One consistent snapshot: active and recently resolved incidents and every service's state."""
    incidents = list(
        session.scalars(
            select(Incident)
            .where((Incident.status != IncidentStatus.RESOLVED) | (Incident.resolved_at >= now - RECENTLY_RESOLVED))
            .options(selectinload(Incident.impacts), selectinload(Incident.updates))
        )
    )
    active = sorted(
        (i for i in incidents if i.status is not IncidentStatus.RESOLVED),
        key=lambda i: (IMPACT_ORDER[i.impact], i.started_at),
        reverse=True,
    )
    resolved = sorted(
        (i for i in incidents if i.status is IncidentStatus.RESOLVED),
        key=lambda i: i.resolved_at or i.updated_at,
        reverse=True,
    )
    services = session.scalars(select(Service).order_by(Service.position, Service.key))
    views = {i.id: _incident_view(i) for i in incidents}
    failing = [h for h in session.scalars(select(SourceHealth)) if h.failing]
    known = [h.last_success_at for h in failing if h.last_success_at is not None]
    return Overview(
        as_of=min([now, *known]),
        stale=bool(failing),
        incidents=tuple(views[i.id] for i in active),
        recently_resolved=tuple(views[i.id] for i in resolved),
        services=tuple(_service_state(s, active, resolved, views) for s in services),
    )
