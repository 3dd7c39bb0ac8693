"""security_concern: quote the incident's stated cause, never a guess."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.turn import IncidentStateMixin
from bot.conversation.answers import security_answer


class ActionSecurity(IncidentStateMixin, Action):
    def name(self) -> str:
        return "action_security"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        return await self.respond(dispatcher, tracker, security_answer, domain) or []
