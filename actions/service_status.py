"""Service intents (top_up, roaming, ...): live state, latest update, ETA and workaround."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.latest import latest_intent, latest_text
from actions.turn import IncidentStateMixin
from bot.conversation.answers import Context, connectivity_answer, services_answer
from bot.conversation.entities import diversion_target, entity_values, services_for
from bot.conversation.reply import Reply


class ActionServiceStatus(IncidentStateMixin, Action):
    def name(self) -> str:
        return "action_service_status"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        intent = latest_intent(tracker)
        keys = services_for(intent, entity_values(tracker.latest_message, "service"))
        # Only a number named as where calls should go, in this message or an earlier one.
        named_target = diversion_target(latest_text(tracker))
        divert_to = named_target or tracker.get_slot("diversion_number")

        def build(ctx: Context) -> list[Reply]:
            if intent == "connectivity" and len(keys) <= 1:
                return connectivity_answer(ctx, keys[0] if keys else None)
            return services_answer(ctx, keys or ["mobile"], divert_to=divert_to)

        extra = await self.respond(dispatcher, tracker, build, domain)
        # The service in context is the last one named, for a follow-up such as "when?".
        if extra is None:
            return []
        remembered = [SlotSet("diversion_number", named_target)] if named_target else []
        return [SlotSet("service", keys[-1] if keys else None), *remembered, *extra]
