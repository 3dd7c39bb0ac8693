"""The status-page sync: conditional requests, faults, backoff, and what a failed poll leaves behind."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from bot.core.errors import StatusPageError
from bot.core.settings import load_settings
from bot.db.engine import make_session_factory
from bot.db.models import Incident, ServiceStatus, SourceHealth
from bot.incidents.reads import read_overview
from bot.incidents.statuspage.localpage import PageState
from bot.incidents.statuspage.sync import MAX_BACKOFF, PATHS, StatusPageClient, StatusPageSync
from bot.incidents.writes import sync_catalogue
from bot.knowledge.file import Knowledge
from tests.conftest import NOW, serve_in_thread
from tests.support.faulty_page import faulty_page_app, set_fault

EMPTY = {
    PATHS["summary"]: {"page": {"id": "p"}, "components": [], "incidents": [], "status": {"description": "ok"}},
    PATHS["unresolved"]: {"incidents": []},
    PATHS["incidents"]: {"incidents": []},
    PATHS["maintenances"]: {"scheduled_maintenances": []},
}


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_conditional_requests_reuse_the_body_on_304() -> None:
    seen: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(dict(request.headers))
        if request.headers.get("if-none-match") == '"v1"':
            return httpx.Response(304)
        return httpx.Response(
            200,
            json=EMPTY[request.url.path],
            headers={"ETag": '"v1"', "Last-Modified": "Wed, 25 Nov 2026 00:00:00 GMT"},
        )

    client = StatusPageClient("http://page.test", transport=httpx.MockTransport(handler))
    first = run(client.snapshot())
    second = run(client.snapshot())
    assert first == second
    assert client.requests == 8 and client.not_modified == 4
    later = seen[4:]
    assert all(h.get("if-none-match") == '"v1"' for h in later)
    assert all(h.get("if-modified-since") == "Wed, 25 Nov 2026 00:00:00 GMT" for h in later)


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(500, text="oops"), "HTTP 500"),
        (httpx.Response(200, content=b'{"components": ['), "not JSON"),
        (httpx.Response(200, content=b"\xff\xfe\x00binary"), "not JSON"),
        (httpx.Response(200, content=b"x" * 1_500_000), "too large"),
        (httpx.Response(200, json=[1, 2, 3]), "not a JSON object"),
        (httpx.Response(200, json={"page": {}}), "neither components nor incidents"),
    ],
)
def test_bad_responses_raise_statuspage_error(response: httpx.Response, message: str) -> None:
    client = StatusPageClient("http://page.test", transport=httpx.MockTransport(lambda _: response))
    with pytest.raises(StatusPageError, match=message):
        run(client.snapshot())


def test_a_streamed_body_without_length_is_cut_off_at_the_limit() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b"x" * 100_000

    client = StatusPageClient(
        "http://page.test", transport=httpx.MockTransport(lambda _: httpx.Response(200, content=chunks()))
    )
    with pytest.raises(StatusPageError, match="larger than"):
        run(client.snapshot())


def test_timeout_raises_statuspage_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    client = StatusPageClient("http://page.test", timeout=0.5, transport=httpx.MockTransport(handler))
    with pytest.raises(StatusPageError, match="timed out"):
        run(client.snapshot())


@pytest.fixture
def store(engine: Engine, knowledge: Knowledge) -> Engine:
    with make_session_factory(engine).begin() as session:
        sync_catalogue(session, knowledge)
    return engine


def make_sync(engine: Engine, url: str, timeout: float = 2.0, clock: object = None) -> StatusPageSync:
    settings = load_settings(
        {"STATUSPAGE_URL": url, "STATUSPAGE_TIMEOUT_SECONDS": str(timeout), "STATUSPAGE_POLL_SECONDS": "10"},
        dotenv_path=Path("/nonexistent"),
    )
    return StatusPageSync(settings, engine, clock=clock or (lambda: NOW))  # type: ignore[arg-type]


def test_backoff_grows_with_jitter_and_is_capped(store: Engine) -> None:
    sync = make_sync(store, "http://page.test")
    assert sync.delay() == 10
    for failures, ceiling in [(1, 20), (2, 40), (3, 80), (8, MAX_BACKOFF), (50, MAX_BACKOFF)]:
        sync.failures = failures
        delays = {sync.delay() for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # jittered


@pytest.fixture
def page(tmp_path: Path) -> Iterator[tuple[PageState, str]]:
    state = PageState(tmp_path / "page", components={"Broadband": "operational"})
    state.write()
    with serve_in_thread(faulty_page_app(state.folder)) as url:
        yield state, url


def test_sync_over_http_follows_the_page_and_survives_its_faults(store: Engine, page: tuple[PageState, str]) -> None:
    """Against the local page on loopback: an incident appears; every fault keeps the last state
    and marks it stale with the time of the last good poll; recovery needs no restart."""
    state, url = page
    clock = {"now": NOW}
    sync = make_sync(store, url, timeout=0.5, clock=lambda: clock["now"])
    sessions = make_session_factory(store)

    state.open_incident("Top-ups failing", "We are investigating.", {"Prepaid top-up": "major_outage"}, now=NOW)
    state.write()
    assert run(sync.poll_once()) is True
    with sessions() as session:
        overview = read_overview(session, clock["now"])
    assert overview.service("top_up").status is ServiceStatus.MAJOR_OUTAGE
    assert not overview.stale
    good = clock["now"]

    for fault in ("timeout", "500", "malformed", "huge"):
        clock["now"] += timedelta(minutes=1)
        set_fault(state.folder, fault)
        assert run(sync.poll_once()) is False, fault
        with sessions() as session:
            overview = read_overview(session, clock["now"])
            health = session.get(SourceHealth, "statuspage")
        assert overview.stale and overview.as_of == good, fault
        assert overview.service("top_up").status is ServiceStatus.MAJOR_OUTAGE, fault
        assert health is not None and health.failing and health.last_error

    set_fault(state.folder, None)
    clock["now"] += timedelta(minutes=1)
    assert run(sync.poll_once()) is True
    with sessions() as session:
        overview = read_overview(session, clock["now"])
    assert not overview.stale and overview.as_of == clock["now"]
    assert sync.failures == 0


def test_unknown_values_on_the_page_are_applied_conservatively(store: Engine, page: tuple[PageState, str]) -> None:
    state, url = page
    incident_id = state.open_incident("Odd", "Something.", {"Roaming": "major_outage"}, now=NOW)
    state.components["Roaming"] = "sparkling"
    state.incidents[incident_id]["status"] = "pondering"
    state.write()
    assert run(make_sync(store, url).poll_once()) is True
    with make_session_factory(store)() as session:
        roaming = read_overview(session, NOW).service("roaming")
    assert roaming.status is ServiceStatus.DEGRADED_PERFORMANCE  # still shown as affected
    assert roaming.incident is not None and roaming.incident.is_active


def test_a_poll_stores_the_incident_and_the_health_record(
    store: Engine, page: tuple[PageState, str], session: Session
) -> None:
    state, url = page
    state.open_incident("Email slow", "Slow.", {"Email": "degraded_performance"}, now=NOW)
    state.write()
    assert run(make_sync(store, url).poll_once()) is True
    rows = session.scalars(select(Incident)).all()
    health = session.get(SourceHealth, "statuspage")
    assert len(rows) == 1 and health is not None and health.last_success_at == NOW


def test_local_page_answers_304_to_a_matching_etag(page: tuple[PageState, str]) -> None:
    _, url = page
    first = httpx.get(f"{url}/api/v2/summary.json")
    assert first.status_code == 200 and json.loads(first.content)["components"]
    again = httpx.get(f"{url}/api/v2/summary.json", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
