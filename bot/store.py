"""The incident store as the actions see it: async reads that never block the event loop."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.db import make_engine, make_session_factory
from bot.errors import IncidentSourceError
from bot.knowledge import KnowledgeSource
from bot.settings import Settings, load_settings
from bot.status import Overview, read_overview

Clock = Callable[[], datetime]
logger = logging.getLogger(__name__)
T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class IncidentStore:
    """Reads the incident state through a short-lived cache, and survives the database failing.

    Within `ttl` seconds every reader gets the same snapshot, and concurrent readers share one
    query, so a spike of questions is not a spike of database load. If a read fails, readers
    get the last state that was read successfully, marked stale; the next read after `ttl`
    tries the database again, so recovery needs no restart.
    """

    def __init__(self, engine: Engine, clock: Clock = utcnow, ttl: float = 0.0) -> None:
        self.engine = engine
        self.sessions: sessionmaker[Session] = make_session_factory(engine)
        self.clock = clock
        self.ttl = ttl
        self.reads = 0  # database reads attempted; the cache's effect is visible in tests and /health
        self._cached: tuple[datetime, Overview] | None = None
        self._last_good: Overview | None = None
        self._lock: asyncio.Lock | None = None

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

    def _fresh(self) -> Overview | None:
        if self._cached is None:
            return None
        read_at, overview = self._cached
        return overview if (self.clock() - read_at).total_seconds() < self.ttl else None

    async def overview(self) -> Overview:
        """The current state; raises IncidentSourceError only if no read has ever succeeded."""
        cached = self._fresh()
        if cached is not None:
            return cached
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            cached = self._fresh()  # another reader may have refreshed it while we waited
            if cached is not None:
                return cached
            read_at = self.clock()
            self.reads += 1
            try:
                # SQLAlchemy's sync engine blocks; a thread keeps other conversations moving.
                overview = await asyncio.to_thread(self.overview_sync)
            except IncidentSourceError:
                if self._last_good is None:
                    raise
                logger.warning("incident store unreadable; answering from the state of %s", self._last_good.as_of)
                overview = dataclasses.replace(self._last_good, stale=True)
            else:
                self._last_good = overview
            self._cached = (read_at, overview)
            return overview


@functools.lru_cache(maxsize=1)
def default_settings() -> Settings:
    return load_settings()


@functools.lru_cache(maxsize=1)
def default_store() -> IncidentStore:
    """The process-wide store, built on first use rather than at import."""
    settings = default_settings()
    return IncidentStore(make_engine(settings.database_url), ttl=settings.state_ttl)


@functools.lru_cache(maxsize=1)
def default_knowledge() -> KnowledgeSource:
    return KnowledgeSource(default_settings().knowledge_file)
