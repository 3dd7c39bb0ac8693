"""What a conversation needs from our database, for async code that must never block its loop:
the live incident state through a short cache (surviving the database failing), the set of
conversations with notices waiting, and short transactions on a worker thread for the writes
(escalations, subscriptions) that bot.people and bot.conversation.notify define."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.conversation.notify import conversations_with_pending
from bot.core.clock import Clock, utcnow
from bot.core.errors import IncidentSourceError
from bot.db.engine import make_session_factory
from bot.incidents.reads import Overview, read_overview

logger = logging.getLogger(__name__)
T = TypeVar("T")


class TTLCache(Generic[T]):
    """One value, reloaded at most once per `ttl` seconds; concurrent readers share one load."""

    def __init__(self, ttl: float, clock: Clock) -> None:
        self.ttl, self.clock = ttl, clock
        self._value: tuple[datetime, T] | None = None
        self._lock: asyncio.Lock | None = None

    def _fresh(self) -> tuple[datetime, T] | None:
        if self._value is not None and (self.clock() - self._value[0]).total_seconds() < self.ttl:
            return self._value
        return None

    async def get(self, load: Callable[[], Awaitable[T]]) -> T:
        if (hit := self._fresh()) is not None:
            return hit[1]
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if (hit := self._fresh()) is not None:  # another reader loaded it while we waited
                return hit[1]
            loaded_at = self.clock()
            value = await load()
            self._value = (loaded_at, value)
            return value


class Backend:
    """Reads the incident state through a short-lived cache, and survives the database failing.

    Within `ttl` seconds every reader gets the same snapshot, and concurrent readers share one
    query, so a spike of questions is not a spike of database load. If a read fails, readers
    get the last state that was read successfully, marked stale, and for `retry_after`
    seconds nobody waits on the database again (a locked SQLite file or a stopped server
    can take 10 s to fail each read, and on an outage day every message would pay it); the
    first read after that tries again, so recovery needs no restart.
    """

    def __init__(self, engine: Engine, clock: Clock = utcnow, ttl: float = 0.0, retry_after: float = 5.0) -> None:
        self.engine = engine
        self.sessions: sessionmaker[Session] = make_session_factory(engine)
        self.clock = clock
        self.ttl = ttl
        self.reads = 0  # database reads of the overview attempted; tests watch the cache with it
        self._overview: TTLCache[Overview] = TTLCache(ttl, clock)
        self._waiting: TTLCache[frozenset[str]] = TTLCache(ttl, clock)
        self._last_good: Overview | None = None
        self.retry_after = retry_after
        self._failing_until: datetime | None = None

    @property
    def failing(self) -> bool:
        """Whether the last read failed less than `retry_after` seconds ago."""
        return self._failing_until is not None and self.clock() < self._failing_until

    def overview_sync(self) -> Overview:
        try:
            with self.sessions() as session:
                return read_overview(session, self.clock())
        except SQLAlchemyError as exc:
            raise IncidentSourceError(f"incident store unavailable: {exc.__class__.__name__}") from exc

    async def transaction(self, work: Callable[[Session], T]) -> T:
        """Run `work` in one transaction on a worker thread; store failures become IncidentSourceError."""

        def run() -> T:
            try:
                with self.sessions.begin() as session:
                    return work(session)
            except SQLAlchemyError as exc:
                raise IncidentSourceError(f"incident store unavailable: {exc.__class__.__name__}") from exc

        return await asyncio.to_thread(run)

    async def overview(self) -> Overview:
        """The current state; raises IncidentSourceError only if no read has ever succeeded."""
        return await self._overview.get(self._load_overview)

    async def _load_overview(self) -> Overview:
        if self._last_good is not None and self.failing:
            return dataclasses.replace(self._last_good, stale=True)
        self.reads += 1
        try:
            # SQLAlchemy's sync engine blocks; a thread keeps other conversations moving.
            overview = await asyncio.to_thread(self.overview_sync)
        except IncidentSourceError:
            self._failing_until = self.clock() + timedelta(seconds=self.retry_after)
            if self._last_good is None:
                raise
            logger.warning("incident store unreadable; answering from the state of %s", self._last_good.as_of)
            return dataclasses.replace(self._last_good, stale=True)
        self._failing_until = None
        self._last_good = overview
        return overview

    async def waiting_for_news(self, push_channels: frozenset[str]) -> frozenset[str]:
        """Conversations with notices to show at their next message (cached like the overview,
        so that most messages cost no query for it)."""

        async def load() -> frozenset[str]:
            if self.failing:
                return frozenset()  # shown with a later answer, once the store is back
            try:
                return await self.transaction(lambda session: conversations_with_pending(session, push_channels))
            except IncidentSourceError as exc:
                logger.warning("cannot check for pending notices: %s", exc)
                return frozenset()

        return await self._waiting.get(load)
