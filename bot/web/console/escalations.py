"""The queue of escalated conversations and the work on one: assign, note, status, reply, hand back.
Every change is audited by bot.people.escalations under the staff member's name."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.errors import ValidationError
from bot.db.models import Escalation, EscalationStatus, Service, Urgency
from bot.people import escalations
from bot.web.console.pages import CsrfChecked, Staff, back, page
from bot.web.deps import Context, Db, RowId
from common.text import printable

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/console", include_in_schema=False)
MAX_REPLY = 2000


def _queue_context(session: Session, rows: list[Escalation]) -> dict[str, Any]:
    services = [(s.key, s.name) for s in session.scalars(select(Service).order_by(Service.position))]
    return {
        "rows": rows,
        "statuses": [s.value for s in EscalationStatus],
        "urgencies": [u.value for u in Urgency],
        "services": services,
        "sorts": list(escalations.SORTS),
        "filters": {"sort": "priority"},
    }


@router.get("")
def queue_page(
    request: Request,
    session: Db,
    ctx: Context,
    state: Staff,
    status: str = "",
    urgency: str = "",
    service: str = "",
    older_than: str = "",
    sort: str = "priority",
) -> HTMLResponse:
    try:
        status_value = EscalationStatus(status) if status else None
        urgency_value = Urgency(urgency) if urgency else None
        older = int(older_than) if older_than.strip() else None
        if older is not None and not 0 <= older <= 10_000_000:
            raise ValueError(older_than)
    except ValueError:
        empty = _queue_context(session, [])
        return page(request, ctx, "queue.html", state, **empty, message="Unknown filter value.", error=True)
    rows = escalations.queue(
        session,
        status=status_value,
        urgency=urgency_value,
        service_key=service[:32] or None,
        older_than_minutes=older,
        sort=sort if sort in escalations.SORTS else "priority",
        now=ctx.clock(),
    )
    filters = {"status": status, "urgency": urgency, "service": service, "older_than": older, "sort": sort}
    return page(request, ctx, "queue.html", state, **(_queue_context(session, rows) | {"filters": filters}))


@router.get("/escalations/{escalation_id}")
async def escalation_page(request: Request, escalation_id: RowId, ctx: Context, state: Staff) -> HTMLResponse:
    with ctx.sessions() as session:
        escalation = escalations.get_escalation(session, escalation_id)
        session.expunge_all()
    events = await ctx.rasa.events(escalation.conversation_id)
    if events is not None:
        transcript = escalations.snapshot_of(events, None)["transcript"]
        source = "live from Rasa"
    else:
        transcript = escalation.snapshot.get("transcript", [])
        source = "Rasa unreachable: the snapshot taken when the customer asked"
    return page(
        request,
        ctx,
        "escalation.html",
        state,
        e=escalation,
        transcript=transcript,
        transcript_source=source,
        statuses=[s.value for s in EscalationStatus],
        can_push=escalation.channel in ctx.settings.notify_push_channels,
    )


@router.post("/escalations/{escalation_id}/assign")
def assign(escalation_id: RowId, session: Db, ctx: Context, state: Staff, _csrf: CsrfChecked) -> Response:
    escalations.assign(session, escalations.get_escalation(session, escalation_id), state[0], ctx.clock())
    return back(f"/console/escalations/{escalation_id}", "Assigned to you.")


@router.post("/escalations/{escalation_id}/note")
def note(
    escalation_id: RowId,
    session: Db,
    ctx: Context,
    state: Staff,
    _csrf: CsrfChecked,
    text: Annotated[str, Form(max_length=20000)],
) -> Response:
    escalation = escalations.get_escalation(session, escalation_id)
    escalations.add_note(session, escalation, state[0], text, ctx.clock())
    return back(f"/console/escalations/{escalation_id}", "Note added.")


@router.post("/escalations/{escalation_id}/status")
def set_status(
    escalation_id: RowId,
    session: Db,
    ctx: Context,
    state: Staff,
    _csrf: CsrfChecked,
    status: Annotated[str, Form(max_length=20)],
) -> Response:
    try:
        value = EscalationStatus(status)
    except ValueError:
        raise ValidationError(f"unknown status {status!r}") from None
    escalation = escalations.get_escalation(session, escalation_id)
    escalations.set_status(session, escalation, value, state[0], ctx.clock())
    return back(f"/console/escalations/{escalation_id}", f"Status set to {value.value}.")


@router.post("/escalations/{escalation_id}/reply")
async def reply(
    escalation_id: RowId,
    ctx: Context,
    state: Staff,
    _csrf: CsrfChecked,
    text: Annotated[str, Form(max_length=MAX_REPLY)],
) -> Response:
    body = printable(text)
    if not body:
        raise ValidationError("a reply needs some text")
    with ctx.sessions() as session:
        escalation = escalations.get_escalation(session, escalation_id)
        conversation, channel = escalation.conversation_id, escalation.channel
    if channel not in ctx.settings.notify_push_channels:
        raise ValidationError(f"the {channel} channel cannot receive messages we start")
    try:
        await ctx.rasa.reply(conversation, body)
    except httpx.HTTPError as exc:
        logger.warning("staff reply not delivered: %s", exc.__class__.__name__)
        unsent = "Rasa could not be reached; the reply was not sent."
        return back(f"/console/escalations/{escalation_id}", unsent, True)
    with ctx.sessions.begin() as session:
        escalation = escalations.get_escalation(session, escalation_id)
        escalations.record_reply(session, escalation, state[0], body, ctx.clock())
    return back(f"/console/escalations/{escalation_id}", "Reply sent; the assistant is paused in this conversation.")


@router.post("/escalations/{escalation_id}/handback")
async def handback(escalation_id: RowId, ctx: Context, state: Staff, _csrf: CsrfChecked) -> Response:
    with ctx.sessions() as session:
        conversation = escalations.get_escalation(session, escalation_id).conversation_id
    try:
        await ctx.rasa.resume(conversation)
    except httpx.HTTPError:
        return back(f"/console/escalations/{escalation_id}", "Rasa could not be reached; still paused.", True)
    with ctx.sessions.begin() as session:
        escalations.hand_back(session, escalations.get_escalation(session, escalation_id), state[0], ctx.clock())
    return back(f"/console/escalations/{escalation_id}", "Handed back to the assistant.")
