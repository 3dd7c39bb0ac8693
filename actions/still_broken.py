"""still_broken: "you say it's fixed, but it still doesn't work for me"."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.latest import latest_intent
from actions.turn import IncidentStateMixin
from bot.conversation.answers import Context, restored_by, still_broken_answer
from bot.conversation.clients import client_key_in
from bot.conversation.entities import entity_values, service_in_context, services_for
from bot.conversation.reply import Reply
from bot.core.errors import IncidentSourceError
from bot.incidents.reports import report_still_broken

logger = logging.getLogger(__name__)
# What the escalation form records as the reason when the customer takes up the offer.
REASON = "still failing after restore"


class ActionStillBroken(IncidentStateMixin, Action):
    """Troubleshooting from the knowledge file and the offer of a person for a service that is back
    for everyone else; the service's answer if it is still affected. Each report is counted."""

    def name(self) -> str:
        return "action_still_broken"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        named = services_for(latest_intent(tracker), entity_values(tracker.latest_message, "service"))
        key = named[-1] if named else service_in_context(tracker.latest_message, tracker.get_slot("service"))
        if key is None:
            dispatcher.utter_message(response="utter_still_broken_which")
            return []
        # Only a service back after an incident makes this a report that a fix failed.
        back_after: list[int | None] = []

        def build(ctx: Context) -> list[Reply]:
            incident = restored_by(ctx.overview.service(key))
            back_after.append(incident.id if incident is not None else None)
            # Said after its answer ("tried that, still the same"): follow on, don't repeat it.
            return still_broken_answer(ctx, key, answered=tracker.get_slot("service") == key)

        extra = await self.respond(dispatcher, tracker, build, domain)
        if extra is None:
            return []
        events = [SlotSet("service", key), *extra]
        incident_id = back_after[0] if back_after else None
        if incident_id is None:
            return events
        channel = tracker.get_latest_input_channel() or "unknown"
        client = client_key_in(tracker.latest_message)
        now = self.store.clock()
        try:
            await self.store.transaction(
                lambda s: report_still_broken(s, tracker.sender_id, channel, key, incident_id, now, client)
            )
        except IncidentSourceError as exc:  # the customer's answer matters more than the count
            logger.warning("could not count a report after restore: %s", exc)
        return [*events, SlotSet("offered_escalation", True), SlotSet("escalation_reason", REASON)]
