"""notify_me and the delivery of what notify_me subscribed to."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.turn import IncidentStateMixin, send
from bot.conversation.answers import notify_answer, notify_target, stale_note
from bot.conversation.clients import client_key_in
from bot.conversation.entities import entity_values, service_in_context
from bot.conversation.notify import claim_shown as claim_notice
from bot.conversation.notify import subscribe
from bot.conversation.receipts import closing_replies, notice_replies
from bot.core.errors import IncidentSourceError, KnowledgeError, LimitError, ValidationError
from bot.people.closing import claim_shown as claim_closing
from bot.people.closing import parse_key

logger = logging.getLogger(__name__)


class ActionNotifyMe(IncidentStateMixin, Action):
    def name(self) -> str:
        return "action_notify_me"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        key = service_in_context(tracker.latest_message, tracker.get_slot("service"))
        await self.pending_notices(dispatcher, tracker)
        try:
            ctx = await self.context()
            incident = notify_target(ctx, key)
            subscribed = False
            if incident is not None:
                channel = tracker.get_latest_input_channel() or "unknown"
                client = client_key_in(tracker.latest_message)
                now = self.store.clock()
                subscribed = await self.store.transaction(
                    lambda session: subscribe(session, tracker.sender_id, channel, key, now, client)
                )
        except LimitError:
            dispatcher.utter_message(response="utter_notify_limited")
            return []
        except (IncidentSourceError, KnowledgeError, ValidationError) as exc:
            # Say plainly that nothing was stored: the customer must not wait for a message.
            logger.warning("could not subscribe %s: %s", tracker.sender_id, exc)
            dispatcher.utter_message(response="utter_notify_failed")
            return []
        send(dispatcher, notify_answer(ctx, key, incident, subscribed) + stale_note(ctx))
        return []


class ActionDeliverNotification(IncidentStateMixin, Action):
    """Runs when the notifier triggers EXTERNAL_incident_update; shows each notification once."""

    def name(self) -> str:
        return "action_deliver_notification"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        raw = next(iter(entity_values(tracker.latest_message, "notification_id")), None)
        key = str(raw) if isinstance(raw, (str, int)) else ""
        closing_id = parse_key(key)
        if not (key.isdigit() or closing_id is not None):
            return []
        # Update notices are kept as ints (as before), closing notices as "c<id>".
        delivered = [x for x in tracker.get_slot("delivered_notifications") or [] if isinstance(x, (int, str))]
        seen = int(key) if key.isdigit() else key
        if seen in delivered or str(seen) in map(str, delivered):
            return []  # a retry after a crash: the customer has seen it already
        try:
            now = self.store.clock()
            if closing_id is not None:
                found = await self.store.transaction(lambda session: claim_closing(session, closing_id, now))
                replies = closing_replies([found]) if found else []
                slots = [SlotSet("service", found.service_key)] if found and found.service_key else []
            else:
                view = await self.store.transaction(lambda session: claim_notice(session, int(key), now))
                replies = notice_replies([view], self.settings.tz, self.store.clock()) if view else []
                slots = []
        except IncidentSourceError as exc:
            logger.warning("cannot load notice %s: %s", key, exc)
            raise  # the notifier sees Rasa fail and retries later
        if not replies:
            return []
        send(dispatcher, replies)
        # Keep the newest ids only; a conversation never waits on more than a few incidents at once.
        return [*slots, SlotSet("delivered_notifications", [*delivered, seen][-100:])]
