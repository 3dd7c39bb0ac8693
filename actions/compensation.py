"""compensation: quote the operator's configured policy and offer to pass the request on."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions._support import IncidentStateMixin, send, source_unavailable
from bot.answers import compensation_answer
from bot.errors import IncidentSourceError, KnowledgeError


class ActionCompensation(IncidentStateMixin, Action):
    def name(self) -> str:
        return "action_compensation"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        try:
            replies = compensation_answer(await self.context())
        except (IncidentSourceError, KnowledgeError) as exc:
            return source_unavailable(dispatcher, exc)
        send(dispatcher, replies)
        return []
