"""400 open chat tabs on the real web app, Rasa and action server, spread over 100 loopback
addresses: customers still talk through /chat/send, every tab stays open and is answered,
and a staff reply reaches the tab it is for. (The timings are in `make bench`.)"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from bot.core.devsecrets import chat_secret
from bot.rasa_api import RasaApi
from bot.web.chat import COOKIE, verify
from tests.e2e.conftest import Assistant
from tests.support.sse import StreamReader

pytestmark = pytest.mark.e2e
TABS = 400
ADDRESSES = [f"127.0.1.{i}" for i in range(1, 101)]


async def open_tab(client: httpx.AsyncClient, opened: list[str], arrived: dict[str, asyncio.Queue[str]]) -> None:
    page = await client.get("/")
    cookie = page.cookies[COOKIE]
    client.cookies.clear()  # the next tab from this address is another customer
    arrived[cookie] = asyncio.Queue()
    async with client.stream("GET", "/chat/stream", cookies={COOKIE: cookie}) as response:
        assert response.status_code == 200
        opened.append(cookie)
        reader = StreamReader()
        async for line in response.aiter_lines():
            event = reader.feed(line)
            if event is not None and event[0] == "message":  # not the banner
                arrived[cookie].put_nowait(event[1])


async def outage_day(web: str, rasa: RasaApi, key: str) -> None:
    clients = [
        httpx.AsyncClient(
            base_url=web,
            timeout=httpx.Timeout(60, read=None),
            transport=httpx.AsyncHTTPTransport(local_address=a, limits=httpx.Limits(max_connections=None)),
        )
        for a in ADDRESSES
    ]
    opened: list[str] = []
    arrived: dict[str, asyncio.Queue[str]] = {}
    tabs = [asyncio.create_task(open_tab(clients[i % len(clients)], opened, arrived)) for i in range(TABS)]
    try:
        for _ in range(600):
            if len(opened) == TABS or any(t.done() for t in tabs):
                break
            await asyncio.sleep(0.1)
        assert len(opened) == TABS, [t.exception() for t in tabs if t.done()][:3]

        async with httpx.AsyncClient(base_url=web, timeout=60) as customer:
            await customer.get("/")
            for question in ("I can't top up my phone", "when will it be fixed?", "is my broadband affected?"):
                response = await customer.post("/chat/send", json={"message": question})
                assert response.status_code == 200 and response.json()["replies"], response.text

        tab = opened[TABS // 2]
        conversation = verify(tab, key)
        assert conversation is not None
        async with httpx.AsyncClient(base_url=web, timeout=60, cookies={COOKIE: tab}) as same_customer:
            said = await same_customer.post("/chat/send", json={"message": "I need a person please"})
            assert said.status_code == 200
        await rasa.reply(conversation, "Kia ora, Aroha from support here.", "Aroha")
        pushed = [await asyncio.wait_for(arrived[tab].get(), 30)]
        while "Aroha from support" not in pushed[-1]:  # first the customer's own turn, then the reply
            pushed.append(await asyncio.wait_for(arrived[tab].get(), 30))
        assert "I need a person please" in pushed[0]
        assert not any(t.done() for t in tabs)  # every tab is still open
        assert all(q.empty() for c, q in arrived.items() if c != tab)  # and nobody else got it
    finally:
        for t in tabs:
            t.cancel()
        await asyncio.gather(*tabs, return_exceptions=True)
        for client in clients:
            await client.aclose()
        await rasa.aclose()


def test_four_hundred_open_tabs_stay_open_while_customers_talk(demo_assistant: Assistant, web_app: str) -> None:
    settings = demo_assistant.servers.settings
    asyncio.run(outage_day(web_app, RasaApi(settings.rasa_url, demo_assistant.token), chat_secret(settings)))
