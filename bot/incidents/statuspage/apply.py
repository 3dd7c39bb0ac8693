"""Making the store agree with what the status page says: polled snapshots and pushed webhooks.
Each call records its own audit row when it changed something."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session, selectinload

from bot.db.audit import record
from bot.db.models import Impact, Incident, IncidentStatus, IncidentUpdate, Service, ServiceImpact, ServiceStatus
from bot.incidents.statuspage.component_map import ComponentMap
from bot.incidents.statuspage.parse import (
    PAGE_STATUS_ID,
    SOURCE,
    UNKNOWN_COMPONENT,
    Component,
    PageIncident,
    Snapshot,
    WebhookEvent,
)
from bot.incidents.writes import mark_resolved

logger = logging.getLogger(__name__)


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
    local = _local_copy(session, incident, now)
    if local is None:
        return None
    local.title = incident.name
    local.impact = incident.impact
    local.status = incident.status
    # The format has no ETA; a maintenance window's end is the only time the page commits to.
    local.eta = incident.scheduled_until if incident.is_maintenance and incident.is_active else None
    local.next_update_at = None
    _copy_updates(local, incident, now)
    _copy_impacts(session, local, statuses, now)
    session.flush()
    return local


def _local_copy(session: Session, incident: PageIncident, now: datetime) -> Incident | None:
    """The local incident that mirrors `incident`, new if need be; None for one that was over
    before we ever saw it, which has nothing to tell customers."""
    local = session.scalars(
        select(Incident)
        .where(Incident.external_id == _external(incident.id))
        .options(selectinload(Incident.impacts), selectinload(Incident.updates))
    ).first()
    if local is not None or not incident.is_active:
        return local
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
    return local


def _copy_updates(local: Incident, incident: PageIncident, now: datetime) -> None:
    """The page's updates we have not copied yet, the latest as the public message, and when it
    was resolved."""
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


def _copy_impacts(session: Session, local: Incident, statuses: Mapping[str, ServiceStatus], now: datetime) -> None:
    """Each known service's state from the page's components; all operational once resolved."""
    known_services = set(session.scalars(select(Service.key)))
    rows = {row.service_key: row for row in local.impacts}
    for key, status in statuses.items():
        if key not in known_services:
            continue
        row = rows.get(key)
        if row is None:
            local.impacts.append(ServiceImpact(service_key=key, status=status, updated_at=now))
        elif row.status is not status:
            row.status, row.updated_at = status, now
    if local.status is IncidentStatus.RESOLVED:
        for row in local.impacts:
            row.status = ServiceStatus.OPERATIONAL


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


def _apply_snapshot(
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


def _apply_component(session: Session, component: Component, mapping: ComponentMap, now: datetime) -> None:
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


@contextlib.contextmanager
def _counting_changes(session: Session) -> Iterator[list[int]]:
    """Counts the rows each flush inside the block adds, changes or deletes."""
    count = [0]

    def before_flush(s: Session, _context: Any, _instances: Any) -> None:
        count[0] += len(s.new) + len(s.deleted) + sum(1 for o in s.dirty if s.is_modified(o))

    event.listen(session, "before_flush", before_flush)
    try:
        yield count
    finally:
        event.remove(session, "before_flush", before_flush)


def apply_snapshot(
    session: Session, snapshot: Snapshot, mapping: ComponentMap, now: datetime, *, actor: str, complete: bool = True
) -> bool:
    """Make the store agree with the page; True if that changed anything, and then an audit row
    says so (a poll that finds nothing new, most of them, leaves no row). With `complete`, a local
    status-page incident that the page no longer lists as unresolved is resolved."""
    with _counting_changes(session) as changed:
        _apply_snapshot(session, snapshot, mapping, now, complete=complete)
    if changed[0]:
        detail = {"incidents": sorted(i.id for i in snapshot.incidents), "rows_changed": changed[0]}
        record(session, actor=actor, action="statuspage_sync", now=now, detail=detail)
    return bool(changed[0])


def apply_webhook(session: Session, pushed: WebhookEvent, mapping: ComponentMap, now: datetime, *, actor: str) -> None:
    """A pushed incident or component update, applied and audited."""
    detail: dict[str, str] = {}
    if pushed.incident is not None:
        snapshot = Snapshot(components=pushed.components, incidents=(pushed.incident,))
        _apply_snapshot(session, snapshot, mapping, now, complete=False)
        detail = {"incident": pushed.incident.id, "status": pushed.incident.raw_status}
    if pushed.component is not None:
        _apply_component(session, pushed.component, mapping, now)
        detail = {"component": pushed.component.name, "status": pushed.component.status.value}
    record(session, actor=actor, action="webhook", now=now, detail=detail)
