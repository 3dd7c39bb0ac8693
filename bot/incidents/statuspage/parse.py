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
from datetime import datetime, timezone
from typing import Any

from bot.core.errors import StatusPageError
from bot.db.models import Impact, IncidentStatus, ServiceStatus
from bot.incidents.writes import MAX_TITLE, MAX_UPDATE
from common.text import printable

logger = logging.getLogger(__name__)

SOURCE = "statuspage"
PAGE_STATUS_ID = "page-components"  # the local incident that carries component-only outages
# Bytes of one status-page payload (polled or pushed) or API request read; a real page's summary
# is a few kB.
MAX_PAYLOAD_BYTES = 1_000_000

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
    return Component(
        id=data["id"], name=_text(data.get("name"), MAX_TITLE), status=component_status(data.get("status"))
    )


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
                body=_text(raw.get("body"), MAX_UPDATE),
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
