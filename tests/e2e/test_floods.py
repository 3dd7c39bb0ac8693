"""Floods through the web chat, as one client behind one address would send them: a fresh
conversation per message, each claiming another address in X-Forwarded-For. Real web app,
Rasa and action servers; the counts are read from the real incident store."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import func, select

from bot.conversation.notify import SUBSCRIPTIONS_PER_CLIENT
from bot.db.engine import make_session_factory
from bot.db.models import RestoreReport, Subscription
from bot.incidents.reports import COUNTED_PER_CLIENT
from tests.e2e.conftest import Assistant

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("leaves_no_trace")]


def fresh_conversations(web: str, message: str, n: int) -> list[str]:
    """`n` new conversations from this address, each sending `message` once with a forged
    X-Forwarded-For, eight at a time; the assistant's reply to each, joined."""

    async def one(i: int, client: httpx.AsyncClient) -> str:
        assert (await client.get("/")).status_code == 200
        forged = {"X-Forwarded-For": f"198.51.{i // 200}.{i % 200 + 1}"}
        response = await client.post("/chat/send", json={"message": message}, headers=forged)
        assert response.status_code == 200, response.text
        return " ".join(r["text"] for r in response.json()["replies"])

    async def all_of_them() -> list[str]:
        gate = asyncio.Semaphore(8)

        async def fresh(i: int) -> str:
            async with gate, httpx.AsyncClient(base_url=web, timeout=60) as client:  # a new cookie jar each
                return await one(i, client)

        return list(await asyncio.gather(*(fresh(i) for i in range(n))))

    return asyncio.run(all_of_them())


def test_a_hundred_forged_still_broken_reports_move_the_staff_figure_by_at_most_ten(
    demo_assistant: Assistant, web_app: str
) -> None:
    with make_session_factory(demo_assistant.engine)() as session:
        before = session.scalar(select(func.max(RestoreReport.id))) or 0
    answers = fresh_conversations(web_app, "my voicemail still doesn't work even though you say it's fixed", 100)
    assert all("working again for most customers" in a for a in answers)  # every customer is still answered
    with make_session_factory(demo_assistant.engine)() as session:
        rows = session.execute(
            select(RestoreReport.counted, func.count(RestoreReport.id))
            .where(RestoreReport.id > before, RestoreReport.service_key == "voicemail")
            .group_by(RestoreReport.counted)
        ).all()
    stored = dict(rows)
    assert stored.get(True, 0) == COUNTED_PER_CLIENT <= 10
    assert stored.get(False, 0) == 100 - COUNTED_PER_CLIENT  # kept, marked, not counted


def test_a_report_about_a_service_never_down_is_not_counted(demo_assistant: Assistant, web_app: str) -> None:
    with make_session_factory(demo_assistant.engine)() as session:
        before = session.scalar(select(func.count(RestoreReport.id))) or 0
    (answer,) = fresh_conversations(web_app, "my broadband still doesn't work even though you say it's fixed", 1)
    assert "working again" not in answer and "not part of any outage" in answer
    with make_session_factory(demo_assistant.engine)() as session:
        assert (session.scalar(select(func.count(RestoreReport.id))) or 0) == before


def test_a_hundred_forged_subscriptions_store_at_most_ten(demo_assistant: Assistant, web_app: str) -> None:
    with make_session_factory(demo_assistant.engine)() as session:
        before = session.scalar(select(func.count(Subscription.id))) or 0
    answers = fresh_conversations(web_app, "tell me when top up is fixed", 100)
    with make_session_factory(demo_assistant.engine)() as session:
        made = (session.scalar(select(func.count(Subscription.id))) or 0) - before
    assert made == SUBSCRIPTIONS_PER_CLIENT <= 10
    assert sum("I'll message you here" in a for a in answers) == made
    assert sum("can't take more update requests" in a for a in answers) == 100 - made
