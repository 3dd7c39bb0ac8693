"""/api/v1/incidents: create, read, edit, update and resolve incidents. Every write is audited by
bot.incidents.writes under the operator's token name.

Endpoints are plain `def`s: FastAPI runs them in its thread pool, so the synchronous
SQLAlchemy session never blocks the event loop that also drives the status-page sync.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot.core.errors import NotFoundError
from bot.db.models import Incident, IncidentStatus
from bot.incidents import writes
from bot.people.closing import close_linked
from bot.web.api.auth import Operator
from bot.web.api.schemas import (
    CloseEscalationsIn,
    CloseEscalationsOut,
    ImpactIn,
    IncidentIn,
    IncidentOut,
    IncidentPatch,
    ResolveIn,
    UpdateIn,
)
from bot.web.deps import Context, Db, RowId
from bot.web.errors import READ, READ_ONE, WRITE, WRITE_ONE

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])


def _load(session: Session, incident_id: int) -> IncidentOut:
    session.expire_all()  # a write just changed it; read it back as stored
    incident = session.scalars(
        select(Incident)
        .where(Incident.id == incident_id)
        .options(selectinload(Incident.impacts), selectinload(Incident.updates))
    ).first()
    if incident is None:
        raise NotFoundError(f"no incident with id {incident_id}")
    return IncidentOut.of(incident)


@router.get("", response_model=list[IncidentOut], responses=READ)
def list_incidents(
    session: Db, _: Operator, active: Annotated[bool, Query(description="only unresolved incidents")] = False
) -> list[IncidentOut]:
    query = select(Incident).options(selectinload(Incident.impacts), selectinload(Incident.updates))
    if active:
        query = query.where(Incident.status != IncidentStatus.RESOLVED)
    return [IncidentOut.of(i) for i in session.scalars(query.order_by(Incident.id.desc()).limit(100))]


@router.post("", response_model=IncidentOut, status_code=201, responses=WRITE)
def create(body: IncidentIn, session: Db, ctx: Context, actor: Operator) -> IncidentOut:
    incident = writes.create_incident(
        session,
        title=body.title,
        message=body.message,
        now=ctx.clock(),
        status=body.status,
        impact=body.impact,
        started_at=body.started_at,
        impacts=body.services,
        cause=body.cause,
        eta=body.eta,
        next_update_at=body.next_update_at,
        actor=actor,
    )
    return _load(session, incident.id)


@router.get("/{incident_id}", response_model=IncidentOut, responses=READ_ONE)
def get(incident_id: RowId, session: Db, _: Operator) -> IncidentOut:
    return _load(session, incident_id)


@router.patch("/{incident_id}", response_model=IncidentOut, responses=WRITE_ONE)
def edit(incident_id: RowId, body: IncidentPatch, session: Db, ctx: Context, actor: Operator) -> IncidentOut:
    writes.edit_incident(
        session, incident_id, now=ctx.clock(), title=body.title, impact=body.impact, cause=body.cause, actor=actor
    )
    return _load(session, incident_id)


@router.put("/{incident_id}/services/{service_key}", response_model=IncidentOut, responses=WRITE_ONE)
def set_impact(
    incident_id: RowId,
    service_key: Annotated[str, Path(max_length=32)],
    body: ImpactIn,
    session: Db,
    ctx: Context,
    actor: Operator,
) -> IncidentOut:
    writes.set_impact(session, incident_id, service_key, body.status, now=ctx.clock(), actor=actor)
    return _load(session, incident_id)


@router.post("/{incident_id}/updates", response_model=IncidentOut, status_code=201, responses=WRITE_ONE)
def post_update(incident_id: RowId, body: UpdateIn, session: Db, ctx: Context, actor: Operator) -> IncidentOut:
    """An update, with the incident's status, ETA, next update and services' states in one call.
    A "resolved" update resolves the incident, as on Statuspage (every service back to normal)."""
    if body.status is IncidentStatus.RESOLVED:
        writes.resolve_incident(session, incident_id, message=body.message, now=ctx.clock(), actor=actor)
        return _load(session, incident_id)
    writes.post_update(
        session,
        incident_id,
        message=body.message,
        now=ctx.clock(),
        status=body.status,
        service_keys=body.services,
        eta=body.eta,
        next_update_at=body.next_update_at,
        clear_eta=body.clear_eta,
        service_states=body.service_states,
        actor=actor,
    )
    return _load(session, incident_id)


@router.post("/{incident_id}/resolve", response_model=IncidentOut, responses=WRITE_ONE)
def resolve(incident_id: RowId, body: ResolveIn, session: Db, ctx: Context, actor: Operator) -> IncidentOut:
    writes.resolve_incident(
        session, incident_id, message=body.message, now=ctx.clock(), resolved_at=body.resolved_at, actor=actor
    )
    return _load(session, incident_id)


@router.post(
    "/{incident_id}/escalations/close",
    response_model=CloseEscalationsOut,
    responses=WRITE_ONE,
    summary="Tell waiting customers the service is back, and close their escalations",
)
def close_escalations(
    incident_id: RowId, body: CloseEscalationsIn, ctx: Context, actor: Operator
) -> CloseEscalationsOut:
    """Every active escalation linked to the incident (or to one of its services) that no person
    has worked on is closed, and its customer is sent the message once, on their own channel,
    with their reference and what to do if it still fails. Repeating the request closes and
    sends nothing more. Runs in chunks, each its own short transaction."""
    done = close_linked(
        ctx.sessions,
        incident_id,
        body.message,
        actor=actor,
        now=ctx.clock(),
        service_key=body.service,
        include_touched=body.include_touched,
    )
    return CloseEscalationsOut(closed=done.closed, queued=done.queued, left_open=done.left_open)
