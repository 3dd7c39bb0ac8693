"""check_outage and ask_eta: what is affected, what works, and when it will be fixed."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.turn import IncidentStateMixin
from bot.conversation.answers import eta_answer, outage_summary, service_answer
from bot.conversation.entities import named_services, service_in_context


class ActionOutageOverview(IncidentStateMixin, Action):
    def name(self) -> str:
        return "action_outage_overview"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        key = next(iter(named_services(tracker.latest_message)), None)
        # "Is email down?" names a service: answer about it rather than list everything.
        extra = await self.respond(
            dispatcher, tracker, lambda ctx: service_answer(ctx, key) if key else outage_summary(ctx), domain
        )
        if extra is None:
            return []
        return [SlotSet("service", key), *extra] if key else extra


class ActionEta(IncidentStateMixin, Action):
    def name(self) -> str:
        return "action_eta"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        key = service_in_context(tracker.latest_message, tracker.get_slot("service"))
        extra = await self.respond(dispatcher, tracker, lambda ctx: eta_answer(ctx, key), domain)
        if extra is None:
            return []
        return [SlotSet("service", key), *extra] if key else extra
