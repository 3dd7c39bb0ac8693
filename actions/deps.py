"""The action server's process-wide singletons: settings, the incident store, the knowledge
file and the escalation limits, each built on first use and shared by every action. Tests
pass their own to an action's constructor instead (`actions.turn.IncidentStateMixin`)."""

from __future__ import annotations

import functools

from bot.conversation.backend import Backend
from bot.core.limits import Limiter, escalation_limiters
from bot.core.settings import Settings, load_settings
from bot.db.engine import make_engine
from bot.knowledge.file import KnowledgeSource


# Built on first use, never at import: importing an action must not touch the environment.
@functools.lru_cache(maxsize=1)
def default_settings() -> Settings:
    return load_settings()


@functools.lru_cache(maxsize=1)
def default_store() -> Backend:
    settings = default_settings()
    return Backend(make_engine(settings.database_url), ttl=settings.state_ttl)


@functools.lru_cache(maxsize=1)
def default_knowledge() -> KnowledgeSource:
    return KnowledgeSource(default_settings().knowledge_file)


@functools.lru_cache(maxsize=1)
def default_escalation_limits() -> tuple[Limiter, Limiter]:
    settings = default_settings()
    return escalation_limiters(settings.redis_url, settings.escalation_client_limit, settings.escalation_contact_limit)
