"""The incident store as the actions see it: async reads that never block the event loop."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from datetime import datetime, timezone

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.db import make_engine, make_session_factory
from bot.errors import IncidentSourceError
from bot.knowledge import KnowledgeSource
from bot.settings import Settings, load_settings
from bot.status import Overview, read_overview

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class IncidentStore:
    def __init__(self, engine: Engine, clock: Clock = utcnow) -> None:
        self.engine = engine
        self.sessions: sessionmaker[Session] = make_session_factory(engine)
        self.clock = clock

    def overview_sync(self) -> Overview:
        try:
            with self.sessions() as session:
                return read_overview(session, self.clock())
        except SQLAlchemyError as exc:
            raise IncidentSourceError(f"incident store unavailable: {exc.__class__.__name__}") from exc

    async def overview(self) -> Overview:
        # SQLAlchemy's sync engine blocks; a thread keeps other conversations moving.
        return await asyncio.to_thread(self.overview_sync)


@functools.lru_cache(maxsize=1)
def default_settings() -> Settings:
    return load_settings()


@functools.lru_cache(maxsize=1)
def default_store() -> IncidentStore:
    """The process-wide store, built on first use rather than at import."""
    return IncidentStore(make_engine(default_settings().database_url))


@functools.lru_cache(maxsize=1)
def default_knowledge() -> KnowledgeSource:
    return KnowledgeSource(default_settings().knowledge_file)
