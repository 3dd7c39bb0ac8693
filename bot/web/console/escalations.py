"""The queue of escalated conversations and the work on one: assign, note, status, reply, hand back.
Every change is audited by bot.people.escalations under the staff member's name."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.errors import ConversationStoreError, ValidationError
from bot.db.models import Escalation, EscalationStatus, Incident, Service, Urgency, escalation_reference
from bot.people import bulk, closing, escalations, queue
from bot.people.bulk import BulkAction
from bot.rasa_api import last_customer_messages_at
from bot.web.console.pages import CsrfChecked, Staff, back, page
from bot.web.deps import Context, Db, RowId, WebContext
from common.text import MAX_CHAT_MESSAGE, printable

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/console", include_in_schema=False)


def queue_filters(
    status: str = "",
    urgency: str = "",
    service: str = "",
    incident: str = "",
    older_than: str = "",
    sort: str = "priority",
    page: str = "1",
) -> dict[str, str]:
    """The queue's query parameters as typed, to be shown back in the form and checked by `_parse`."""
    raw = {"status": status, "urgency": urgency, "service": service, "incident": incident}
    return raw | {"older_than": older_than, "sort": sort, "page": page}


Filters = Annotated[dict[str, str], Depends(queue_filters)]


def _parse(filters: dict[str, str]) -> queue.QueueFilter:
    """The queue's parameters, checked; ValidationError names a bad one."""
    f = {k: v.strip()[:40] for k, v in filters.items()}
    try:
        return queue.QueueFilter(
            status=EscalationStatus(f["status"]) if f["status"] else None,
            urgency=Urgency(f["urgency"]) if f["urgency"] else None,
            service_key=f["service"][:32] or None,
            incident_id=int(f["incident"]) if f["incident"] else None,
            older_than_minutes=int(f["older_than"]) if f["older_than"] else None,
            sort=f["sort"] or "priority",
            page=int(f["page"]) if f["page"] else 1,
        )
    except ValueError:
        raise ValidationError("unknown filter value") from None


def _last_written(ctx: WebContext, conversations: Sequence[str]) -> dict[str, datetime]:
    """When each conversation's customer last wrote; nothing if Rasa's store cannot be read (the
    console then shows no "new reply" mark, and its rows still update on their own)."""
    try:
        return last_customer_messages_at(ctx.tracker_store, conversations)
    except ConversationStoreError as exc:
        logger.warning("cannot read when customers last wrote: %s", exc)
        return {}


def _unread(ctx: WebContext, rows: Sequence[Escalation]) -> set[int]:
    """The rows whose customer wrote after a person last opened them."""
    last = _last_written(ctx, [e.conversation_id for e in rows])
    return {e.id for e in rows if escalations.unread(e, last.get(e.conversation_id))}


def _services(session: Session) -> list[tuple[str, str]]:
    """Every service's key and name, in the knowledge file's order: what staff filter and read by."""
    return [(key, name) for key, name in session.execute(select(Service.key, Service.name).order_by(Service.position))]


def _queue_context(
    session: Session, result: queue.QueuePage | None, filters: dict[str, str], unread: set[int] | None = None
) -> dict[str, Any]:
    services = _services(session)
    linked = {link.incident_id for e in (result.rows if result else ()) for link in e.links}
    titles = dict(session.execute(select(Incident.id, Incident.title).where(Incident.id.in_(linked))).tuples().all())
    return {
        "q": result,
        "incident_titles": titles,
        "unread": unread or set(),
        "statuses": [s.value for s in EscalationStatus],
        "urgencies": [u.value for u in Urgency],
        "services": services,
        "service_names": dict(services),
        "sorts": list(queue.SORTS),
        "filters": filters,
        "query": urlencode({k: v for k, v in filters.items() if v and k != "page"}),
        "bulk_actions": [a.value for a in BulkAction],
        "bulk_token": secrets.token_urlsafe(24),
        "max_selection": bulk.MAX_SELECTION,
    }


@router.get("")
def queue_page(request: Request, session: Db, ctx: Context, state: Staff, filters: Filters) -> HTMLResponse:
    try:
        result = queue.queue_page(session, _parse(filters), ctx.clock())
    except ValidationError as exc:
        return page(
            request,
            ctx,
            "queue.html",
            state,
            **_queue_context(session, None, filters),
            message=f"Unknown filter value: {exc}.",
            error=True,
        )
    unread = _unread(ctx, result.rows)
    return page(request, ctx, "queue.html", state, **_queue_context(session, result, filters, unread))


@router.get("/queue/rows")
def queue_rows(request: Request, session: Db, ctx: Context, state: Staff, filters: Filters) -> HTMLResponse:
    """The queue's totals and table alone, for the live page to swap in without a reload."""
    result = queue.queue_page(session, _parse(filters), ctx.clock())
    unread = _unread(ctx, result.rows)
    return page(request, ctx, "queue_rows.html", state, **_queue_context(session, result, filters, unread))


def _shown(ids: str) -> list[int]:
    """The escalations a live queue page shows ("ids=3,9,12"), at most a page's worth; junk is ignored."""
    return [int(part) for part in ids.split(",", queue.PAGE_SIZE)[: queue.PAGE_SIZE] if part.isdigit()]


def _customers_wrote(ctx: WebContext, conversations: Sequence[str]) -> str:
    """The newest customer message among these conversations, as part of a change token."""
    last = _last_written(ctx, conversations)
    return max(last.values()).isoformat() if last else "-"


@router.get("/queue/changes")
def queue_changes(session: Db, ctx: Context, _state: Staff, ids: str = "") -> JSONResponse:
    """What the live queue polls: a token that changes with any row or with a customer's message
    in a conversation the page shows (`ids`), and the newest waiting safety case."""
    found = queue.changes(session)
    newest = None
    if found.newest_safety_id is not None:
        newest = {"id": found.newest_safety_id, "reference": escalation_reference(found.newest_safety_id)}
    shown = _shown(ids)
    conversations = (
        session.scalars(select(Escalation.conversation_id).where(Escalation.id.in_(shown))).all() if shown else []
    )
    return JSONResponse(
        {
            "version": f"{found.version}/{_customers_wrote(ctx, conversations)}",
            "waiting": found.waiting,
            "safety_waiting": found.safety_waiting,
            "newest_safety": newest,
        },
        headers={"Cache-Control": "no-store"},
    )


@router.get("/escalations/{escalation_id}/changes")
def escalation_changes(escalation_id: RowId, session: Db, ctx: Context, _state: Staff) -> JSONResponse:
    """What an open escalation polls: a token that changes with the request, its notes, or a new
    message from its customer."""
    escalation = escalations.get_escalation(session, escalation_id)
    wrote = _customers_wrote(ctx, [escalation.conversation_id])
    stamp = f"{escalation.updated_at.isoformat()}/{len(escalation.notes)}/{escalation.status.value}/{wrote}"
    return JSONResponse({"version": stamp}, headers={"Cache-Control": "no-store"})


@router.post("/escalations/bulk")
async def bulk_action(
    request: Request,
    ctx: Context,
    state: Staff,
    _csrf: CsrfChecked,
    action: Annotated[str, Form(max_length=20)],
    token: Annotated[str, Form(max_length=64)],
    scope: Annotated[str, Form(max_length=20)] = "selected",
    text: Annotated[str, Form(max_length=MAX_CHAT_MESSAGE)] = "",
    new_status: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """The selected rows, or every row the filter matches, in chunks; one audit row each."""
    form = await request.form()
    try:
        chosen = BulkAction(action)
        status_value = EscalationStatus(new_status) if new_status else None
        ids = [int(str(i)) for i in form.getlist("ids")[: bulk.MAX_SELECTION]]
        keys = ("status", "urgency", "service", "incident", "older_than", "sort")
        filters = {k: str(form.get(f"f_{k}", ""))[:40] for k in keys}
    except ValueError:
        raise ValidationError("unknown bulk action, status or row") from None
    user, now = state[0], ctx.clock()
    if scope == "all":
        f = _parse(filters | {"page": "1"})
        ids = await asyncio.to_thread(_matching_ids, ctx, f, now)
    if not ids:
        return back("/console", "Nothing selected.", True)
    if not await asyncio.to_thread(bulk.claim, ctx.sessions, token, user, chosen, now):
        return back("/console", "That request was already carried out; nothing was done twice.")
    not_sent = 0
    if chosen is BulkAction.REPLY:
        body = printable(text)
        if not body:
            raise ValidationError("a reply needs some text")
        ids, not_sent = await _send_replies(ctx, ids, body, user.shown_name)
    result = await asyncio.to_thread(bulk.run, ctx.sessions, ids, chosen, user, now, text=text, status=status_value)
    await asyncio.to_thread(bulk.record_count, ctx.sessions, token, result.changed)
    note = (
        f" {not_sent} could not be sent (their channel cannot receive our messages, or Rasa failed)."
        if not_sent
        else ""
    )
    return back("/console", f"{chosen.value}: {result.changed} changed, {result.skipped} unchanged.{note}")


def _matching_ids(ctx: WebContext, f: queue.QueueFilter, now: datetime) -> list[int]:
    with ctx.sessions() as session:
        return queue.matching_ids(session, f, now, bulk.MAX_SELECTION)


async def _send_replies(ctx: WebContext, ids: list[int], body: str, signed: str) -> tuple[list[int], int]:
    """Send `body`, signed by `signed`, to every selected customer whose channel can receive it;
    (the ids sent, how many not)."""

    def targets() -> list[tuple[int, str, str]]:
        with ctx.sessions() as session:
            rows = session.execute(
                select(Escalation.id, Escalation.conversation_id, Escalation.channel).where(Escalation.id.in_(ids))
            ).all()
            return [(int(i), str(c), str(ch)) for i, c, ch in rows]

    gate = asyncio.Semaphore(8)  # Rasa is busy on an outage day; a bulk reply must not swamp it

    async def send(conversation: str) -> bool:
        async with gate:
            try:
                await ctx.rasa.reply(conversation, body, signed)
            except httpx.HTTPError:
                return False
            return True

    rows = await asyncio.to_thread(targets)
    pushable = [r for r in rows if r[2] in ctx.settings.notify_push_channels]
    results = await asyncio.gather(*(send(conversation) for _, conversation, _ in pushable))
    sent = [row[0] for row, ok in zip(pushable, results, strict=True) if ok]
    return sent, len(ids) - len(sent)


def _escalation_view(ctx: WebContext, escalation_id: int) -> dict[str, Any]:
    """What the escalation page shows from the stores, read off the event loop: our store first,
    then Rasa's for a new customer message (outside any transaction of ours), and only then a
    short write that marks what the customer said until now as seen."""
    now = ctx.clock()
    with ctx.sessions() as session:
        escalation = escalations.get_escalation(session, escalation_id)
        view = {
            "e": escalation,
            "notices": closing.notices_of(session, escalation_id),
            "linked": [
                (link.incident_id, session.get(Incident, link.incident_id), link.service_key)
                for link in escalation.links
            ],
            "wait": queue.estimate_wait(session, escalation, now)
            if escalation.status is not EscalationStatus.RESOLVED
            else None,
            "service_names": dict(_services(session)),
        }
        session.expunge_all()
    view["new_message"] = escalation.id in _unread(ctx, [escalation])
    with ctx.sessions.begin() as session:
        seen = session.get(Escalation, escalation_id)
        if seen is not None:
            escalations.mark_seen(seen, now)
    return view


@router.get("/escalations/{escalation_id}")
async def escalation_page(request: Request, escalation_id: RowId, ctx: Context, state: Staff) -> HTMLResponse:
    view = await asyncio.to_thread(_escalation_view, ctx, escalation_id)
    escalation: Escalation = view["e"]
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
        transcript=transcript,
        transcript_source=source,
        statuses=[s.value for s in EscalationStatus],
        can_push=escalation.channel in ctx.settings.notify_push_channels,
        **view,
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
    # Four times the limit only bounds the request; add_note refuses a long note in words.
    text: Annotated[str, Form(max_length=4 * escalations.MAX_NOTE)],
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
    text: Annotated[str, Form(max_length=MAX_CHAT_MESSAGE)],
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
        await ctx.rasa.reply(conversation, body, state[0].shown_name)
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
