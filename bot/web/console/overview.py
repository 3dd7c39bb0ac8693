"""The overview: conversations, messages, escalations and top intents per service over recent hours."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from bot.core.errors import ConversationStoreError
from bot.db.models import Escalation
from bot.incidents import reports
from bot.knowledge.catalogue import INTENT_SERVICE
from bot.rasa_api import user_messages_since
from bot.web.console.pages import Staff, page
from bot.web.deps import Context, Db

router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("/overview")
def overview(request: Request, session: Db, ctx: Context, state: Staff, hours: int = 24) -> HTMLResponse:
    hours = max(1, min(hours, 24 * 14))
    now = ctx.clock()
    stats = conversation_stats(ctx.tracker_store, session, now, hours)
    restore_reports = reports.report_counts(session, now - timedelta(hours=hours))
    return page(request, ctx, "overview.html", state, stats=stats, hours=hours, restore_reports=restore_reports)


def conversation_stats(tracker_store: Engine, session: Session, now: datetime, hours: int) -> dict[str, Any]:
    """Figures for the overview, from Rasa's tracker store and our escalations."""
    since = now - timedelta(hours=hours)
    escalated = {
        row[0]
        for row in session.execute(select(Escalation.conversation_id).where(Escalation.created_at >= since)).all()
    }
    conversations: set[str] = set()
    intents: Counter[str] = Counter()
    per_hour: Counter[int] = Counter()
    fallbacks = messages = 0
    available = True
    try:
        rows = user_messages_since(tracker_store, since)
    except ConversationStoreError:
        rows, available = [], False
    for sender, intent, stamp in rows:
        conversations.add(sender)
        messages += 1
        intents[intent or "none"] += 1
        fallbacks += intent == "nlu_fallback"
        per_hour[int((now.timestamp() - float(stamp)) // 3600)] += 1
    by_service: dict[str, Counter[str]] = {}
    for intent, count in intents.items():
        service = INTENT_SERVICE.get(intent) or "general"
        by_service.setdefault(service, Counter())[intent] += count
    total = len(conversations)
    chart = [(h, per_hour.get(h, 0)) for h in range(min(hours, 48) - 1, -1, -1)]
    peak = max((c for _, c in chart), default=0) or 1
    return {
        "available": available,
        "conversations": total,
        "messages": messages,
        "escalations": len(escalated),
        "escalation_rate": len(escalated & conversations) / total if total else 0.0,
        "containment": (total - len(escalated & conversations)) / total if total else 0.0,
        "fallback_rate": fallbacks / messages if messages else 0.0,
        "top_intents": {k: v.most_common(3) for k, v in sorted(by_service.items())},
        "chart": chart,
        "peak": peak,
    }
