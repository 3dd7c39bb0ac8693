"""check_outage, ask_eta and check_again: what is affected, what works, when it will be fixed,
and what changed since the conversation last asked."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.turn import IncidentStateMixin
from bot.conversation.answers import Context, eta_answer, outage_summary, recheck_answer, service_answer
from bot.conversation.entities import named_services, service_in_context
from bot.conversation.reply import Reply


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
        return await in_context(self, dispatcher, tracker, domain, eta_answer)


class ActionCheckAgain(IncidentStateMixin, Action):
    """A follow-up with no topic of its own ("and now?", "any change?"): the service under
    discussion as it stands, and what changed; with none, the whole outage."""

    def name(self) -> str:
        return "action_check_again"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        return await in_context(self, dispatcher, tracker, domain, recheck_answer)


async def in_context(
    action: IncidentStateMixin,
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    domain: dict[str, Any],
    answer: Callable[[Context, str | None], list[Reply]],
) -> list[dict[str, Any]]:
    """Answer about the service the message names, else the one under discussion, and keep it
    as the topic; with neither, about every active incident."""
    key = service_in_context(tracker.latest_message, tracker.get_slot("service"))
    extra = await action.respond(dispatcher, tracker, lambda ctx: answer(ctx, key), domain)
    if extra is None:
        return []
    return [SlotSet("service", key), *extra] if key else extra
