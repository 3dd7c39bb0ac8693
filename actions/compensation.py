"""compensation: quote the operator's configured policy and offer to pass the request on."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.turn import IncidentStateMixin
from bot.conversation.answers import compensation_answer


class ActionCompensation(IncidentStateMixin, Action):
    def name(self) -> str:
        return "action_compensation"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        return await self.respond(dispatcher, tracker, compensation_answer, domain) or []
