"""Admins publish incident state from the console. Every change is audited by bot.incidents.writes."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import Enum
from typing import Annotated, TypeVar

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from bot.conversation.notify import waiting_subscribers
from bot.core.errors import ValidationError
from bot.db.models import Impact, Incident, IncidentStatus, Service, ServiceStatus
from bot.incidents import reports, writes
from bot.incidents.reads import update_overdue
from bot.people import queue
from bot.people.closing import close_linked
from bot.people.staff import console_actor
from bot.web.console.pages import Admin, CsrfChecked, back, page
from bot.web.deps import Context, Db, RowId, WebContext
from common.text import MAX_CHAT_MESSAGE

router = APIRouter(prefix="/console", include_in_schema=False)
E = TypeVar("E", bound=Enum)


def _choice(enum: type[E], value: str, what: str) -> E:
    try:
        return enum(value)
    except ValueError:
        raise ValidationError(f"unknown {what} {value!r}") from None


def _local_time(value: str, what: str, ctx: WebContext) -> datetime | None:
    """A time typed into the form (the browser's datetime-local, in the assistant's time zone)."""
    if not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValidationError(f"{what} is not a date and time") from None
    return moment.replace(tzinfo=ctx.settings.tz) if moment.tzinfo is None else moment


@router.get("/incidents")
def incidents_page(request: Request, session: Db, ctx: Context, state: Admin) -> HTMLResponse:
    active = list(
        session.scalars(select(Incident).where(Incident.status != IncidentStatus.RESOLVED).order_by(Incident.id))
    )
    services = [(s.key, s.name) for s in session.scalars(select(Service).order_by(Service.position))]
    now = ctx.clock()
    window = timedelta(seconds=ctx.settings.restore_report_window)
    subscribers = waiting_subscribers(session)
    linked = queue.linked_waiting(session)
    impacts = {
        i.id: [(row.service_key, row.status) for row in i.impacts]
        for i in session.scalars(
            select(Incident).where(Incident.id.in_([x.incident_id for x in linked] + [a.id for a in active]))
        )
    }
    return page(
        request,
        ctx,
        "incidents.html",
        state,
        now=now,
        linked=linked,
        linked_by_id={x.incident_id: x for x in linked},
        incident_impacts=impacts,
        subscribers={
            i: subscribers.get(None, 0) + sum(subscribers.get(key, 0) for key, _ in rows) for i, rows in impacts.items()
        },
        overdue={i.id for i in active if update_overdue(i.next_update_at, now)},
        flagged=reports.flagged(session, now, ctx.settings.restore_report_limit, window),
        report_limit=ctx.settings.restore_report_limit,
        report_window_minutes=int(window.total_seconds() // 60),
        active=active,
        services=services,
        service_statuses=[s.value for s in ServiceStatus],
        incident_statuses=[s.value for s in IncidentStatus if s is not IncidentStatus.RESOLVED],
        impacts=[i.value for i in Impact],
    )


@router.post("/incidents")
def create_incident(
    session: Db,
    ctx: Context,
    state: Admin,
    _csrf: CsrfChecked,
    title: Annotated[str, Form(max_length=writes.MAX_TITLE)],
    message: Annotated[str, Form(max_length=writes.MAX_UPDATE)],
    impact: Annotated[str, Form(max_length=20)] = "major",
    services: Annotated[list[str] | None, Form()] = None,
) -> Response:
    chosen = {k[:32]: ServiceStatus.MAJOR_OUTAGE for k in (services or [])[:20]}
    impact_value = _choice(Impact, impact, "impact")
    made = writes.create_incident(
        session,
        title=title,
        message=message,
        now=ctx.clock(),
        impact=impact_value,
        impacts=chosen,
        actor=console_actor(state[0]),
    )
    return back("/console/incidents", f"Incident #{made.id} created.")


@router.post("/incidents/{incident_id}/update")
def update_incident(
    incident_id: RowId,
    session: Db,
    ctx: Context,
    state: Admin,
    _csrf: CsrfChecked,
    message: Annotated[str, Form(max_length=writes.MAX_UPDATE)],
    status: Annotated[str, Form(max_length=20)] = "",
    eta: Annotated[str, Form(max_length=40)] = "",
    next_update: Annotated[str, Form(max_length=40)] = "",
    clear_eta: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """An update may also set the ETA (or clear it) and promise the next update's time, as the API can."""
    writes.post_update(
        session,
        incident_id,
        message=message,
        now=ctx.clock(),
        status=_choice(IncidentStatus, status, "status") if status else None,
        eta=_local_time(eta, "the ETA", ctx),
        next_update_at=_local_time(next_update, "the next update time", ctx),
        clear_eta=bool(clear_eta),
        actor=console_actor(state[0]),
    )
    return back("/console/incidents", "Update posted.")


@router.post("/incidents/{incident_id}/impact")
def set_impact(
    incident_id: RowId,
    session: Db,
    ctx: Context,
    state: Admin,
    _csrf: CsrfChecked,
    service: Annotated[str, Form(max_length=32)],
    status: Annotated[str, Form(max_length=30)],
) -> Response:
    value = _choice(ServiceStatus, status, "service status")
    writes.set_impact(session, incident_id, service, value, now=ctx.clock(), actor=console_actor(state[0]))
    return back("/console/incidents", "Impact set.")


@router.post("/incidents/{incident_id}/resolve")
def resolve_incident(
    incident_id: RowId,
    session: Db,
    ctx: Context,
    state: Admin,
    _csrf: CsrfChecked,
    message: Annotated[str, Form(max_length=writes.MAX_UPDATE)],
) -> Response:
    writes.resolve_incident(session, incident_id, message=message, now=ctx.clock(), actor=console_actor(state[0]))
    return back("/console/incidents", f"Incident #{incident_id} resolved.")


@router.post("/incidents/{incident_id}/escalations/close")
def close_escalations(
    incident_id: RowId,
    ctx: Context,
    state: Admin,
    _csrf: CsrfChecked,
    message: Annotated[str, Form(max_length=MAX_CHAT_MESSAGE)],
    service: Annotated[str, Form(max_length=32)] = "",
    include_touched: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """ "It's back": tell every customer waiting on this incident's escalations and close them."""
    done = close_linked(
        ctx.sessions,
        incident_id,
        message,
        actor=console_actor(state[0]),
        now=ctx.clock(),
        service_key=service or None,
        include_touched=bool(include_touched),
    )
    left = f" {done.left_open} worked on by a person left open." if done.left_open else ""
    return back("/console/incidents", f"Closed {done.closed}; {done.queued} customers will be told.{left}")
