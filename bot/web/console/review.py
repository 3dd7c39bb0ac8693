"""Review: messages the assistant was unsure of, labelled by staff for the next training run."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from bot.conversation import review
from bot.core.errors import ConversationStoreError
from bot.knowledge.catalogue import CUSTOMER_INTENTS
from bot.people.staff import console_actor
from bot.web.console.pages import CsrfChecked, Staff, back, page
from bot.web.deps import Context, Db, RowIdForm

router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("/review")
def review_page(request: Request, session: Db, ctx: Context, state: Staff, days: int = 7) -> HTMLResponse:
    days = max(1, min(days, 90))
    try:
        items = review.uncertain_messages(ctx.tracker_store, session, ctx.clock() - timedelta(days=days))
        available = True
    except ConversationStoreError:
        items, available = [], False
    counts = review.label_counts(session)
    return page(
        request,
        ctx,
        "review.html",
        state,
        items=items,
        available=available,
        days=days,
        intents=CUSTOMER_INTENTS,
        ignore=review.IGNORE,
        counts=counts,
        labelled=sum(counts.values()),
    )


@router.post("/review")
def label_message(
    session: Db,
    ctx: Context,
    state: Staff,
    _csrf: CsrfChecked,
    event_id: RowIdForm,
    intent: Annotated[str, Form(max_length=64)],
) -> Response:
    try:
        review.label_message(
            session, ctx.tracker_store, event_id, intent, actor=console_actor(state[0]), now=ctx.clock()
        )
    except ConversationStoreError:
        return back("/console/review", "Rasa's conversation store cannot be read; nothing was saved.", True)
    return back("/console/review", "Ignored." if intent == review.IGNORE else f"Labelled {intent}.")
