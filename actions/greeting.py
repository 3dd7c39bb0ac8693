"""greet: a plain welcome, or one that opens with a notice during a major incident."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.turn import IncidentStateMixin, send
from bot.conversation.answers import greeting
from bot.core.errors import IncidentSourceError, KnowledgeError


class ActionGreet(IncidentStateMixin, Action):
    def name(self) -> str:
        return "action_greet"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        await self.pending_notices(dispatcher, tracker)
        try:
            replies = greeting(await self.context())
        except (IncidentSourceError, KnowledgeError):
            # A greeting needs no incident state; a plain welcome is still right.
            dispatcher.utter_message(response="utter_greet")
            return []
        send(dispatcher, replies)
        return []
