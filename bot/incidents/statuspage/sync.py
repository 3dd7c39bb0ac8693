"""Poll a Statuspage v2 page and keep the incident store in step with it.

One poll fetches summary.json, incidents/unresolved.json, incidents.json and
scheduled-maintenances.json with conditional requests (ETag / If-Modified-Since), parses
them, and applies the result in one transaction. A failed poll changes nothing in the
incident tables; it is recorded in `source_health`, which the assistant reads to say that
its state may be out of date. Failures back off exponentially with jitter.

The web process runs it as a task when STATUSPAGE_URL is set; `python -m bot.ops.statuspage_sync`
runs it on its own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from dataclasses import dataclass, field
from datetime import datetime

import httpx
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.core.clock import Clock, utcnow
from bot.core.errors import ConfigurationError, IncidentSourceError, StatusPageError
from bot.core.settings import Settings
from bot.db.engine import make_session_factory
from bot.db.models import SourceHealth
from bot.incidents.statuspage.apply import apply_snapshot
from bot.incidents.statuspage.component_map import ComponentMapFile
from bot.incidents.statuspage.parse import (
    MAX_PAYLOAD_BYTES,
    SOURCE,
    Snapshot,
    parse_incident_list,
    parse_summary,
)

logger = logging.getLogger(__name__)

MAX_BACKOFF = 300.0
PATHS = {
    "summary": "/api/v2/summary.json",
    "unresolved": "/api/v2/incidents/unresolved.json",
    "incidents": "/api/v2/incidents.json",
    "maintenances": "/api/v2/scheduled-maintenances.json",
}


@dataclass
class _Cached:
    etag: str | None = None
    last_modified: str | None = None
    body: object = None


@dataclass
class StatusPageClient:
    """Fetches the page's JSON. `transport` lets unit tests inject httpx.MockTransport."""

    base_url: str
    timeout: float = 5.0
    transport: httpx.AsyncBaseTransport | None = None
    cache: dict[str, _Cached] = field(default_factory=dict)
    requests: int = 0
    not_modified: int = 0

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(self.timeout),
            transport=self.transport,
            headers={"Accept": "application/json", "User-Agent": "outage-assistant-sync"},
            follow_redirects=True,
        )

    async def get_json(self, client: httpx.AsyncClient, path: str) -> object:
        cached = self.cache.get(path, _Cached())
        headers = {}
        if cached.etag:
            headers["If-None-Match"] = cached.etag
        if cached.last_modified:
            headers["If-Modified-Since"] = cached.last_modified
        self.requests += 1
        try:
            async with client.stream("GET", path, headers=headers) as response:
                if response.status_code == 304 and cached.body is not None:
                    self.not_modified += 1
                    return cached.body
                if response.status_code != 200:
                    raise StatusPageError(f"{path}: HTTP {response.status_code}")
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > MAX_PAYLOAD_BYTES:
                    raise StatusPageError(f"{path}: response of {declared} bytes is too large")
                chunks = bytearray()
                async for chunk in response.aiter_bytes():
                    chunks.extend(chunk)
                    if len(chunks) > MAX_PAYLOAD_BYTES:
                        raise StatusPageError(f"{path}: response is larger than {MAX_PAYLOAD_BYTES} bytes")
        except httpx.TimeoutException as exc:
            raise StatusPageError(f"{path}: timed out after {self.timeout:g} s") from exc
        except httpx.HTTPError as exc:
            raise StatusPageError(f"{path}: {exc.__class__.__name__}") from exc
        try:
            body = json.loads(bytes(chunks))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StatusPageError(f"{path}: not JSON") from exc
        self.cache[path] = _Cached(response.headers.get("etag"), response.headers.get("last-modified"), body)
        return body

    async def snapshot(self) -> Snapshot:
        async with self._client() as client:
            bodies = await asyncio.gather(*(self.get_json(client, p) for p in PATHS.values()))
        raw = dict(zip(PATHS, bodies, strict=True))
        summary = parse_summary(raw["summary"])
        by_id = {i.id: i for i in summary.incidents}
        # Later lists win: unresolved is the page's own answer to "what is open now".
        for incident in (
            parse_incident_list(raw["incidents"])
            + parse_incident_list(raw["maintenances"], "scheduled_maintenances")
            + parse_incident_list(raw["unresolved"])
        ):
            by_id[incident.id] = incident
        # incidents.json brings the resolution of incidents that left the unresolved list;
        # resolved ones we never held open are ignored by apply_incident.
        return Snapshot(components=summary.components, incidents=tuple(by_id.values()), page_status=summary.page_status)


def record_health(session: Session, now: datetime, error: str | None) -> None:
    health = session.get(SourceHealth, SOURCE) or SourceHealth(name=SOURCE)
    if error is None:
        health.last_success_at = now
    else:
        health.last_failure_at = now
        health.last_error = error[:300]
    session.merge(health)


class StatusPageSync:
    """One poll at a time, applied in one transaction; `wake()` asks for a poll now (webhooks)."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        client: StatusPageClient | None = None,
        clock: Clock = utcnow,
        component_map: ComponentMapFile | None = None,
    ) -> None:
        if not settings.statuspage_url:
            raise IncidentSourceError("STATUSPAGE_URL is not set")
        self.settings = settings
        self.sessions: sessionmaker[Session] = make_session_factory(engine)
        self.client = client or StatusPageClient(settings.statuspage_url, timeout=settings.statuspage_timeout)
        self.clock = clock
        self.failures = 0
        self.component_map = component_map or ComponentMapFile(settings.statuspage_map)
        self._wake = asyncio.Event()

    def _apply(self, snapshot: Snapshot, now: datetime) -> None:
        with self.sessions.begin() as session:
            apply_snapshot(session, snapshot, self.component_map.get(session), now, actor="statuspage poll")
            record_health(session, now, None)

    def _record_failure(self, error: str, now: datetime) -> None:
        try:
            with self.sessions.begin() as session:
                record_health(session, now, error)
        except SQLAlchemyError:
            logger.exception("could not record the status page failure")

    async def poll_once(self) -> bool:
        """True if the page was read and applied."""
        now = self.clock()
        try:
            snapshot = await self.client.snapshot()
            await asyncio.to_thread(self._apply, snapshot, now)
        except (StatusPageError, ConfigurationError) as exc:
            self.failures += 1
            logger.warning("status page poll failed (%d in a row): %s", self.failures, exc)
            await asyncio.to_thread(self._record_failure, str(exc), now)
            return False
        except SQLAlchemyError as exc:
            self.failures += 1
            logger.warning("could not store the status page state: %s", exc.__class__.__name__)
            return False
        self.failures = 0
        return True

    def delay(self) -> float:
        """The poll interval, or after failures an exponential backoff with jitter."""
        base = self.settings.statuspage_poll
        if self.failures == 0:
            return base
        ceiling: float = min(MAX_BACKOFF, base * 2.0 ** min(self.failures, 10))
        # "Equal jitter": at least half the backoff, so retries from many replicas spread out.
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        while not stop.is_set():
            await self.poll_once()
            self._wake.clear()
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
            _, pending = await asyncio.wait(waiters, timeout=self.delay(), return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
