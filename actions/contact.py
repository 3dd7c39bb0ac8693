"""request_human and notify_me: how to reach people, and when the next update is due."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions._support import IncidentStateMixin, send, service_in_context, source_unavailable
from bot.answers import human_contact, notify_answer
from bot.errors import KnowledgeError


class ActionHumanContact(IncidentStateMixin, Action):
    def name(self) -> str:
        return "action_human_contact"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        try:
            send(dispatcher, human_contact(self.knowledge.get()))
        except KnowledgeError as exc:
            source_unavailable(dispatcher, exc)
        return []


class ActionNotifyMe(IncidentStateMixin, Action):
    def name(self) -> str:
        return "action_notify_me"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        key = service_in_context(tracker)
        await self.respond(dispatcher, lambda ctx: notify_answer(ctx, key))
        return []
