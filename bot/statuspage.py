"""Atlassian Statuspage v2 JSON: parse it as live pages serve it, and apply it to the incident store.

Parsing is strict about shape (a payload that is not Statuspage JSON raises StatusPageError)
and lenient about values: unknown statuses are logged and mapped conservatively, times may
carry `Z` or offsets and any number of fractional digits, and `affected_components` may be
null. The format has no ETA field, so none is invented: only a maintenance window's
`scheduled_until` becomes an ETA.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot.errors import ConfigurationError, StatusPageError
from bot.incidents import mark_resolved
from bot.models import Impact, Incident, IncidentStatus, IncidentUpdate, Service, ServiceImpact, ServiceStatus
from bot.text import printable

logger = logging.getLogger(__name__)

SOURCE = "statuspage"
PAGE_STATUS_ID = "page-components"  # the local incident that carries component-only outages
MAX_TITLE = 200
MAX_BODY = 5000

COMPONENT_STATUS = {s.value: s for s in ServiceStatus}
INCIDENT_STATUS = {
    "investigating": IncidentStatus.INVESTIGATING,
    "identified": IncidentStatus.IDENTIFIED,
    "monitoring": IncidentStatus.MONITORING,
    "resolved": IncidentStatus.RESOLVED,
    "postmortem": IncidentStatus.RESOLVED,
    # Scheduled maintenance vocabulary; "scheduled" has not started (see PageIncident.is_active).
    "scheduled": IncidentStatus.INVESTIGATING,
    "in_progress": IncidentStatus.IDENTIFIED,
    "verifying": IncidentStatus.MONITORING,
    "completed": IncidentStatus.RESOLVED,
}
IMPACT = {i.value: i for i in Impact}
# Conservative stand-ins for values the format may grow: still affected, still active.
UNKNOWN_COMPONENT = ServiceStatus.DEGRADED_PERFORMANCE
UNKNOWN_INCIDENT = IncidentStatus.INVESTIGATING
UNKNOWN_IMPACT = Impact.MAJOR

_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})?$")


def parse_time(value: object) -> datetime | None:
    """Statuspage timestamps: `Z` or `-08:00`, 0-9 fractional digits; None if absent or unreadable."""
    if not isinstance(value, str):
        return None
    m = _TIME.match(value.strip())
    if not m:
        logger.warning("unreadable time in status page data: %r", value[:40])
        return None
    date, clock, frac, zone = m.groups()
    micro = (frac or "0")[:6].ljust(6, "0")
    zone = "+00:00" if zone in (None, "Z") else zone if ":" in zone else f"{zone[:3]}:{zone[3:]}"
    return datetime.fromisoformat(f"{date}T{clock}.{micro}{zone}").astimezone(timezone.utc)


def _text(value: object, limit: int) -> str:
    if not isinstance(value, str):
        return ""
    return printable(value)[:limit]


def _lookup(table: Mapping[str, Any], value: object, unknown: Any, what: str) -> Any:
    if isinstance(value, str) and value in table:
        return table[value]
    logger.warning(
        "unknown %s %r from the status page; treating it as %s", what, value, getattr(unknown, "value", unknown)
    )
    return unknown


def component_status(value: object) -> ServiceStatus:
    return _lookup(COMPONENT_STATUS, value, UNKNOWN_COMPONENT, "component status")  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Component:
    id: str
    name: str
    status: ServiceStatus


@dataclass(frozen=True)
class PageUpdate:
    id: str
    status: IncidentStatus
    body: str
    display_at: datetime
    # component id -> the status this update set it to
    components: dict[str, ServiceStatus] = field(default_factory=dict)


@dataclass(frozen=True)
class PageIncident:
    id: str
    name: str
    status: IncidentStatus
    raw_status: str
    impact: Impact
    started_at: datetime
    resolved_at: datetime | None
    updates: tuple[PageUpdate, ...]  # oldest first
    component_ids: tuple[str, ...]
    is_maintenance: bool = False
    scheduled_for: datetime | None = None
    scheduled_until: datetime | None = None

    @property
    def latest(self) -> PageUpdate | None:
        return self.updates[-1] if self.updates else None

    @property
    def is_active(self) -> bool:
        # A maintenance that has not started yet does not affect anyone.
        return self.status is not IncidentStatus.RESOLVED and self.raw_status != "scheduled"


@dataclass(frozen=True)
class Snapshot:
    """What one poll of the page says."""

    components: tuple[Component, ...]
    incidents: tuple[PageIncident, ...]
    page_status: str = ""


def _obj(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise StatusPageError(f"status page {what} is not a JSON object")
    return value


def _list(value: object, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise StatusPageError(f"status page {what} is not a list")
    return value


def parse_component(data: object) -> Component | None:
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        logger.warning("skipping a component without an id")
        return None
    return Component(id=data["id"], name=_text(data.get("name"), 200), status=component_status(data.get("status")))


def parse_incident(data: object, *, maintenance: bool = False) -> PageIncident | None:
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        logger.warning("skipping an incident without an id")
        return None
    updates = []
    for raw in _list(data.get("incident_updates"), "incident_updates"):
        if not isinstance(raw, dict):
            continue
        shown = parse_time(raw.get("display_at")) or parse_time(raw.get("created_at"))
        if shown is None:
            continue
        affected = {}
        for comp in _list(raw.get("affected_components"), "affected_components"):
            if isinstance(comp, dict) and isinstance(comp.get("code"), str):
                affected[comp["code"]] = component_status(comp.get("new_status"))
        updates.append(
            PageUpdate(
                id=str(raw.get("id") or f"{data['id']}@{shown.isoformat()}"),
                status=_lookup(INCIDENT_STATUS, raw.get("status"), UNKNOWN_INCIDENT, "update status"),
                body=_text(raw.get("body"), MAX_BODY),
                display_at=shown,
                components=affected,
            )
        )
    updates.sort(key=lambda u: u.display_at)
    raw_status = data.get("status")
    started = (
        parse_time(data.get("started_at"))
        or parse_time(data.get("scheduled_for"))
        or parse_time(data.get("created_at"))
        or (updates[0].display_at if updates else None)
    )
    if started is None:
        logger.warning("skipping incident %s: no start time", data["id"])
        return None
    component_ids = [c["id"] for c in _list(data.get("components"), "components") if isinstance(c, dict) and "id" in c]
    for update in updates:
        component_ids.extend(update.components)
    return PageIncident(
        id=data["id"],
        name=_text(data.get("name"), MAX_TITLE) or "Status page incident",
        status=_lookup(INCIDENT_STATUS, raw_status, UNKNOWN_INCIDENT, "incident status"),
        raw_status=raw_status if isinstance(raw_status, str) else "",
        impact=_lookup(IMPACT, data.get("impact"), UNKNOWN_IMPACT, "impact"),
        started_at=started,
        resolved_at=parse_time(data.get("resolved_at")),
        updates=tuple(updates),
        component_ids=tuple(dict.fromkeys(component_ids)),
        is_maintenance=maintenance or ("scheduled_for" in data and data.get("scheduled_for") is not None),
        scheduled_for=parse_time(data.get("scheduled_for")),
        scheduled_until=parse_time(data.get("scheduled_until")),
    )


def _incidents(items: Iterable[object], *, maintenance: bool = False) -> list[PageIncident]:
    return [i for i in (parse_incident(x, maintenance=maintenance) for x in items) if i is not None]


def parse_summary(data: object) -> Snapshot:
    body = _obj(data, "summary")
    if "components" not in body and "incidents" not in body:
        raise StatusPageError("status page summary has neither components nor incidents")
    components = [c for c in map(parse_component, _list(body.get("components"), "components")) if c]
    raw_status = body.get("status")
    status: dict[str, Any] = raw_status if isinstance(raw_status, dict) else {}
    return Snapshot(
        components=tuple(components),
        incidents=tuple(
            _incidents(_list(body.get("incidents"), "incidents"))
            + _incidents(_list(body.get("scheduled_maintenances"), "scheduled_maintenances"), maintenance=True)
        ),
        page_status=_text(status.get("description"), 200),
    )


def parse_incident_list(data: object, key: str = "incidents") -> list[PageIncident]:
    """`incidents.json`, `incidents/unresolved.json` or (key="scheduled_maintenances") maintenances."""
    body = _obj(data, key)
    if key not in body:
        raise StatusPageError(f"status page response has no {key!r}")
    return _incidents(_list(body[key], key), maintenance=key == "scheduled_maintenances")


@dataclass(frozen=True)
class WebhookEvent:
    incident: PageIncident | None = None
    components: tuple[Component, ...] = ()  # with an incident: its components' current states
    component: Component | None = None  # a component update on its own


def parse_webhook(data: object) -> WebhookEvent:
    """A subscriber webhook: an incident (created or updated) or a component status change."""
    body = _obj(data, "webhook")
    if "incident" in body:
        incident = parse_incident(body["incident"])
        if incident is None:
            raise StatusPageError("webhook incident has no id or start time")
        raw = body["incident"].get("components") if isinstance(body["incident"], dict) else None
        components = tuple(c for c in map(parse_component, _list(raw, "components")) if c)
        return WebhookEvent(incident=incident, components=components)
    if "component" in body:
        comp = _obj(body["component"], "webhook component")
        raw_update = body.get("component_update")
        update: dict[str, Any] = raw_update if isinstance(raw_update, dict) else {}
        status = update.get("new_status", comp.get("status"))
        component = parse_component({**comp, "status": status})
        if component is None:
            raise StatusPageError("webhook component has no id")
        return WebhookEvent(component=component)
    raise StatusPageError("webhook is neither an incident nor a component update")


# --- mapping components to services ---------------------------------------------------------


@dataclass(frozen=True)
class ComponentMap:
    """Status-page components (by id or by name) to the project's service keys."""

    by_id: dict[str, tuple[str, ...]]
    by_name: dict[str, tuple[str, ...]]

    def services(self, component: Component | str, name: str = "") -> tuple[str, ...]:
        cid = component.id if isinstance(component, Component) else component
        cname = component.name if isinstance(component, Component) else name
        return self.by_id.get(cid) or self.by_name.get(cname.strip().lower(), ())


def load_component_map(path: Path, known_services: Iterable[str] | None = None) -> ComponentMap:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"cannot read the status page component map {path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("components"), list):
        raise ConfigurationError(f"{path}: expected a `components:` list")
    known = set(known_services) if known_services is not None else None
    by_id: dict[str, tuple[str, ...]] = {}
    by_name: dict[str, tuple[str, ...]] = {}
    for i, entry in enumerate(data["components"]):
        if not isinstance(entry, dict) or not (entry.get("id") or entry.get("name")):
            raise ConfigurationError(f"{path}: components[{i}] needs an id or a name")
        services = entry.get("services", entry.get("service"))
        keys = tuple([services] if isinstance(services, str) else services or ())
        if not keys or not all(isinstance(k, str) for k in keys):
            raise ConfigurationError(f"{path}: components[{i}] needs `services`")
        if known is not None and (unknown := set(keys) - known):
            raise ConfigurationError(f"{path}: components[{i}] names unknown services {sorted(unknown)}")
        if entry.get("id"):
            by_id[str(entry["id"])] = keys
        if entry.get("name"):
            by_name[str(entry["name"]).strip().lower()] = keys
    return ComponentMap(by_id=by_id, by_name=by_name)


# --- applying what the page says to the store -----------------------------------------------


def _external(page_id: str) -> str:
    return f"{SOURCE}:{page_id}"


def _service_statuses(
    incident: PageIncident, components: Mapping[str, Component], mapping: ComponentMap
) -> dict[str, ServiceStatus]:
    """The services an incident touches, each at its worst current component status."""
    latest: dict[str, ServiceStatus] = {}
    for update in incident.updates:
        latest.update(update.components)
    result: dict[str, ServiceStatus] = {}
    for cid in incident.component_ids:
        comp = components.get(cid)
        status = comp.status if comp else latest.get(cid, UNKNOWN_COMPONENT)
        if incident.status is IncidentStatus.RESOLVED:
            status = ServiceStatus.OPERATIONAL
        elif incident.is_maintenance and status is ServiceStatus.OPERATIONAL and incident.is_active:
            status = ServiceStatus.UNDER_MAINTENANCE
        for key in mapping.services(cid, comp.name if comp else ""):
            if key not in result or status.severity > result[key].severity:
                result[key] = status
    return result


def apply_incident(
    session: Session,
    incident: PageIncident,
    statuses: Mapping[str, ServiceStatus],
    now: datetime,
) -> Incident | None:
    """Create or bring up to date the local copy of one status-page incident. Idempotent."""
    known_services = set(session.scalars(select(Service.key)))
    local = session.scalars(
        select(Incident)
        .where(Incident.external_id == _external(incident.id))
        .options(selectinload(Incident.impacts), selectinload(Incident.updates))
    ).first()
    if local is None:
        if not incident.is_active:
            return None  # resolved or not started before we ever saw it: nothing to tell customers
        local = Incident(
            title=incident.name,
            status=incident.status,
            impact=incident.impact,
            started_at=incident.started_at,
            updated_at=now,
            public_message="",
            source=SOURCE,
            external_id=_external(incident.id),
        )
        session.add(local)
    local.title = incident.name
    local.impact = incident.impact
    local.status = incident.status
    # The format has no ETA; a maintenance window's end is the only time the page commits to.
    local.eta = incident.scheduled_until if incident.is_maintenance and incident.is_active else None
    local.next_update_at = None
    seen = {u.external_id for u in local.updates}
    for update in incident.updates:
        if update.id in seen:
            continue
        local.updates.append(
            IncidentUpdate(
                posted_at=update.display_at,
                status=update.status,
                message=update.body or incident.name,
                service_keys=[],
                external_id=update.id,
            )
        )
    if incident.latest is not None:
        local.public_message = incident.latest.body or incident.name
        local.updated_at = max(incident.latest.display_at, local.started_at)
    if not local.public_message:
        local.public_message = incident.name
    if incident.status is IncidentStatus.RESOLVED:
        local.resolved_at = incident.resolved_at or (incident.latest.display_at if incident.latest else now)
    else:
        local.resolved_at = None
    rows = {row.service_key: row for row in local.impacts}
    for key, status in statuses.items():
        if key not in known_services:
            continue
        row = rows.get(key)
        if row is None:
            local.impacts.append(ServiceImpact(service_key=key, status=status, updated_at=now))
        elif row.status is not status:
            row.status, row.updated_at = status, now
    if incident.status is IncidentStatus.RESOLVED:
        for row in local.impacts:
            row.status = ServiceStatus.OPERATIONAL
    session.flush()
    return local


def _apply_page_components(
    session: Session,
    snapshot: Snapshot,
    mapping: ComponentMap,
    covered: set[str],
    now: datetime,
    *,
    complete: bool = True,
) -> None:
    """Components that are down with no incident on the page: kept in one local incident titled
    with the page's own status line, resolved when every mapped component is operational again."""
    statuses: dict[str, ServiceStatus] = {}
    for comp in snapshot.components:
        if comp.status is ServiceStatus.OPERATIONAL or comp.id in covered:
            continue
        for key in mapping.services(comp):
            if key not in statuses or comp.status.severity > statuses[key].severity:
                statuses[key] = comp.status
    status_line = snapshot.page_status or "Status page"
    page = PageIncident(
        id=PAGE_STATUS_ID,
        name=status_line,
        status=IncidentStatus.INVESTIGATING if statuses else IncidentStatus.RESOLVED,
        raw_status="investigating" if statuses else "resolved",
        impact=Impact.MAJOR if any(s is ServiceStatus.MAJOR_OUTAGE for s in statuses.values()) else Impact.MINOR,
        started_at=now,
        resolved_at=now if not statuses else None,
        updates=(),
        component_ids=(),
    )
    local = session.scalars(select(Incident).where(Incident.external_id == _external(PAGE_STATUS_ID))).first()
    if local is not None and local.status is IncidentStatus.RESOLVED and statuses:
        # A fresh component outage after an earlier one cleared: start a new local incident.
        local.external_id = f"{local.external_id}:{local.id}"
        session.flush()
    if local is None and not statuses:
        return
    applied = apply_incident(session, page, statuses, now)
    if applied is not None and complete:
        for row in applied.impacts:
            if row.service_key not in statuses and row.status is not ServiceStatus.OPERATIONAL:
                row.status, row.updated_at = ServiceStatus.OPERATIONAL, now


def apply_snapshot(
    session: Session,
    snapshot: Snapshot,
    mapping: ComponentMap,
    now: datetime,
    *,
    complete: bool = True,
) -> None:
    """Make the store agree with the page. With `complete`, a local status-page incident that
    the page no longer lists as unresolved is resolved."""
    components = {c.id: c for c in snapshot.components}
    listed = set()
    covered: set[str] = set()
    for incident in snapshot.incidents:
        listed.add(_external(incident.id))
        if incident.is_active:
            covered.update(incident.component_ids)
        apply_incident(session, incident, _service_statuses(incident, components, mapping), now)
    if complete:
        for local in session.scalars(
            select(Incident).where(
                Incident.source == SOURCE,
                Incident.status != IncidentStatus.RESOLVED,
                Incident.external_id != _external(PAGE_STATUS_ID),
            )
        ):
            if local.external_id not in listed:
                _resolve_missing(local, now)
        _apply_page_components(session, snapshot, mapping, covered, now)
    session.flush()


def _resolve_missing(local: Incident, now: datetime) -> None:
    """The page stopped listing an incident without us seeing its resolution."""
    logger.info("status page no longer lists %s; marking it resolved", local.external_id)
    mark_resolved(local, now)


def apply_component(session: Session, component: Component, mapping: ComponentMap, now: datetime) -> None:
    """A component webhook: update that component's services in the active status-page incidents."""
    keys = mapping.services(component)
    if not keys:
        logger.info("webhook for unmapped component %r ignored", component.name)
        return
    active = session.scalars(
        select(Incident)
        .where(Incident.source == SOURCE, Incident.status != IncidentStatus.RESOLVED)
        .options(selectinload(Incident.impacts))
    ).all()
    touched = False
    for local in active:
        for row in local.impacts:
            if row.service_key in keys:
                row.status, row.updated_at = component.status, now
                touched = True
    if not touched and component.status is not ServiceStatus.OPERATIONAL:
        snapshot = Snapshot(components=(component,), incidents=())
        _apply_page_components(session, snapshot, mapping, set(), now, complete=False)
    session.flush()


def age(moment: datetime | None, now: datetime) -> timedelta | None:
    return None if moment is None else now - moment
