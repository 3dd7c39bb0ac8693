"""Shared plumbing for the actions. Deliberately not an Action subclass: rasa-sdk registers
every concrete Action subclass it finds, and a shared base would crash the server."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.answers import Context, Reply, notice_replies, stale_note
from bot.entities import normalise_service
from bot.errors import IncidentSourceError, KnowledgeError
from bot.knowledge import KnowledgeSource
from bot.notify import take_pending
from bot.settings import Settings
from bot.store import IncidentStore, default_knowledge, default_settings, default_store

logger = logging.getLogger(__name__)


class IncidentStateMixin:
    """Gives an action the store, knowledge and settings; tests pass their own."""

    def __init__(
        self,
        store: IncidentStore | None = None,
        knowledge: KnowledgeSource | None = None,
        settings: Settings | None = None,
    ) -> None:
        self._store = store
        self._knowledge = knowledge
        self._settings = settings

    @property
    def settings(self) -> Settings:
        return self._settings or default_settings()

    @property
    def knowledge(self) -> KnowledgeSource:
        return self._knowledge or default_knowledge()

    @property
    def store(self) -> IncidentStore:
        return self._store or default_store()

    async def context(self) -> Context:
        """Raises IncidentSourceError or KnowledgeError; callers answer with a fallback."""
        overview = await self.store.overview()
        return Context(overview=overview, knowledge=self.knowledge.get(), tz=self.settings.tz, now=self.store.clock())

    async def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, build: Callable[[Context], list[Reply]]
    ) -> bool:
        """Send what `build` makes of the live state; on a source error, the fallback. True if answered.

        News this conversation subscribed to goes first, on channels that cannot push it.
        """
        await self.pending_notices(dispatcher, tracker)
        try:
            ctx = await self.context()
            replies = build(ctx) + stale_note(ctx)
        except (IncidentSourceError, KnowledgeError) as exc:
            source_unavailable(dispatcher, exc)
            return False
        send(dispatcher, replies)
        return True

    async def pending_notices(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
        settings, store = self.settings, self.store
        if tracker.sender_id not in await store.waiting_for_news(settings.notify_push_channels):
            return
        try:
            notices = await store.transaction(
                lambda session: take_pending(session, tracker.sender_id, store.clock(), settings.notify_push_channels)
            )
        except IncidentSourceError as exc:
            logger.warning("could not check for pending notices: %s", exc)
            return
        send(dispatcher, notice_replies(notices, settings.tz, store.clock()))


def send(dispatcher: CollectingDispatcher, replies: Iterable[Reply]) -> None:
    for reply in replies:
        dispatcher.utter_message(response=reply.response, buttons=reply.buttons or None, **reply.variables)


def entity_values(tracker: Tracker, name: str) -> list[Any]:
    return [e.get("value") for e in tracker.latest_message.get("entities", []) if e.get("entity") == name]


def named_service(tracker: Tracker) -> str | None:
    """The first `service` entity in the latest message that is a known service key."""
    return next((k for k in map(normalise_service, entity_values(tracker, "service")) if k), None)


def service_in_context(tracker: Tracker) -> str | None:
    """The service the latest message names, else the one the conversation was last about."""
    return named_service(tracker) or normalise_service(tracker.get_slot("service"))


def latest_intent(tracker: Tracker) -> str | None:
    intent = tracker.latest_message.get("intent") or {}
    name = intent.get("name") if isinstance(intent, dict) else None
    return name if isinstance(name, str) else None


def source_unavailable(dispatcher: CollectingDispatcher, exc: Exception) -> None:
    logger.warning("answering without incident state: %s", exc)
    dispatcher.utter_message(response="utter_state_unavailable")
