"""Handing the customer to a person: start the escalation form, validate it, commit it."""

from __future__ import annotations

import logging
import re
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from actions.latest import latest_intent, latest_text
from actions.turn import IncidentStateMixin, send
from bot.conversation.clients import client_key_in
from bot.conversation.dialogue import emergency_help
from bot.conversation.entities import named_services, service_in_context, services_in_conversation
from bot.conversation.receipts import escalation_receipt, refile_replies, wait_replies
from bot.core.errors import IncidentSourceError, KnowledgeError, ValidationError
from bot.db.models import Urgency
from bot.people.escalations import (
    Receipt,
    check_need,
    create_escalation,
    normalise_contact,
    open_escalation,
    open_for_contact,
    receipt,
    refile,
    snapshot_of,
)
from bot.people.queue import Wait, estimate_wait
from bot.people.urgency import answer_is_urgent, urgency_of
from common.contact import mask_contact
from common.text import MAX_CHAT_MESSAGE

logger = logging.getLogger(__name__)

FORM = "escalation_form"
FORM_SLOTS = ("escalation_contact", "escalation_need", "escalation_urgency")
_CANCEL = re.compile(r"^\s*(cancel|stop|never ?mind|forget it|don'?t bother|quit)\b", re.IGNORECASE)
TRIGGERS = {"request_human": "request_human", "affirm": "offer_accepted", "nlu_fallback": "clarification"}


class ActionHumanContact(IncidentStateMixin, Action):
    """request_human, an accepted offer, or a second failed clarification: the form (which the
    rules start when `escalation_open` is false), or the escalation this conversation has."""

    def name(self) -> str:
        return "action_human_contact"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        try:
            knowledge = self.knowledge.get()
        except KnowledgeError as exc:
            logger.warning("no knowledge file: %s", exc)
            dispatcher.utter_message(response="utter_state_unavailable")
            return []
        urgency = urgency_of(latest_text(tracker), knowledge, tracker.latest_message)
        safety = urgency is Urgency.SAFETY
        send(dispatcher, emergency_help(urgency, knowledge))

        now = self.store.clock()

        def existing_receipt(session: Session) -> Receipt | None:
            found = open_escalation(session, tracker.sender_id)
            return receipt(session, found, created=False, now=now) if found else None

        try:
            existing = await self.store.transaction(existing_receipt)
        except IncidentSourceError as exc:
            logger.warning("escalations unavailable: %s", exc)
            dispatcher.utter_message(response="utter_escalation_failed", contact=knowledge.contact)
            return [SlotSet("escalation_open", None)]
        if existing is not None:
            send(dispatcher, escalation_receipt(existing, knowledge))
            return [SlotSet("escalation_open", True)]
        dispatcher.utter_message(response="utter_escalation_intro")
        trigger = TRIGGERS.get(latest_intent(tracker) or "", latest_intent(tracker) or "unknown")
        if tracker.get_slot("escalation_urgency") == Urgency.SAFETY.value:
            safety = True
        events = [SlotSet("escalation_trigger", "safety" if safety else trigger), SlotSet("offered_escalation", False)]
        if safety:
            events.append(SlotSet("escalation_urgency", Urgency.SAFETY.value))  # the form will not ask
        elif urgency is Urgency.TIME_CRITICAL:
            # Why it can't wait, in the customer's words; the form still asks whether it can.
            events.append(SlotSet("escalation_reason", latest_text(tracker)[:MAX_CHAT_MESSAGE]))
        # The rules start escalation_form when this slot says there is no open escalation.
        return [*events, SlotSet("escalation_open", False)]


class ValidateEscalationForm(IncidentStateMixin, FormValidationAction):
    def name(self) -> str:
        return "validate_escalation_form"

    def _cancel(self, tracker: Tracker) -> dict[str, Any] | None:
        if _CANCEL.match(latest_text(tracker)):
            # Ending the form with its slots empty: action_submit_escalation says it was cancelled.
            return {slot: None for slot in FORM_SLOTS} | {"requested_slot": None}
        return None

    def _heard(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> Urgency | None:
        """How urgent the latest message is; emergency advice first when it is about safety
        and the conversation had not said so before."""
        try:
            knowledge = self.knowledge.get()
        except KnowledgeError:
            return None
        urgency = urgency_of(latest_text(tracker), knowledge, tracker.latest_message)
        told = tracker.get_slot("escalation_urgency") == Urgency.SAFETY.value
        send(dispatcher, emergency_help(urgency, knowledge, told_already=told))
        return urgency

    async def validate_escalation_contact(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if (cancel := self._cancel(tracker)) is not None:
            return cancel
        try:
            contact = normalise_contact(value)
        except ValidationError:
            dispatcher.utter_message(response="utter_escalation_contact_invalid")
            return {"escalation_contact": None}
        return {"escalation_contact": contact}

    async def validate_escalation_need(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if (cancel := self._cancel(tracker)) is not None:
            return cancel
        try:
            need = check_need(value)
        except ValidationError:
            dispatcher.utter_message(response="utter_escalation_need_invalid")
            return {"escalation_need": None}
        slots: dict[str, Any] = {"escalation_need": need}
        urgency = self._heard(dispatcher, tracker)
        if urgency is Urgency.SAFETY:
            slots["escalation_urgency"] = urgency.value  # no need to ask how urgent it is
        elif urgency is Urgency.TIME_CRITICAL:
            slots["escalation_reason"] = need  # if the customer says it is, this is why
        return slots

    async def validate_escalation_urgency(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None or value == Urgency.SAFETY.value:
            return {"escalation_urgency": value}
        if (cancel := self._cancel(tracker)) is not None:
            return cancel
        text = latest_text(tracker)
        urgency, answer = self._heard(dispatcher, tracker), answer_is_urgent(value)
        if urgency is Urgency.SAFETY:
            return {"escalation_urgency": urgency.value, "escalation_reason": text[:MAX_CHAT_MESSAGE]}
        if answer is False:
            return {"escalation_urgency": Urgency.NORMAL.value, "escalation_reason": None}
        if urgency is None and answer is None:
            dispatcher.utter_message(response="utter_escalation_urgency_unclear")
            return {"escalation_urgency": None}
        # The reason is what the customer said, never a button's "yes": this answer when it
        # says more than that, else the words that made the need urgent earlier, if any.
        says_why = urgency is not None or len(text.split()) > 4
        reason = text[:MAX_CHAT_MESSAGE] if says_why else tracker.get_slot("escalation_reason")
        return {"escalation_urgency": Urgency.TIME_CRITICAL.value, "escalation_reason": reason}


class ActionSubmitEscalation(IncidentStateMixin, Action):
    """Commit first, then confirm: a reference number is only ever shown for a stored row."""

    def name(self) -> str:
        return "action_submit_escalation"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        reset = [SlotSet(slot, None) for slot in (*FORM_SLOTS, "escalation_reason")]
        contact, need, urgency = (tracker.get_slot(s) for s in FORM_SLOTS)
        try:
            knowledge = self.knowledge.get()
        except KnowledgeError:
            dispatcher.utter_message(response="utter_state_unavailable")
            return reset
        if not (contact and need and urgency):
            dispatcher.utter_message(response="utter_escalation_cancelled", contact=knowledge.contact)
            return reset
        try:
            overview = await self.store.overview()
        except IncidentSourceError:
            overview = None
        snapshot = snapshot_of(tracker.events, overview)
        services = services_in_conversation(tracker.events, need)
        if not services and (slot := service_in_context(tracker.latest_message, tracker.get_slot("service"))):
            services = [slot]
        channel = tracker.get_latest_input_channel() or "unknown"
        client = client_key_in(tracker.latest_message)
        now = self.store.clock()

        def existing_for_contact(session: Session) -> Receipt | None:
            found = open_escalation(session, tracker.sender_id) or open_for_contact(session, contact)
            return receipt(session, found, created=False, now=now) if found else None

        try:
            made = await self.store.transaction(existing_for_contact)
            if made is None and not await self._allowed(Urgency(urgency), client, contact):
                dispatcher.utter_message(response="utter_escalation_limited", contact=knowledge.contact)
                return reset
            if made is None:
                made = await self.store.transaction(
                    lambda s: create_escalation(
                        s,
                        conversation_id=tracker.sender_id,
                        channel=channel,
                        contact=contact,
                        need=need,
                        urgency=Urgency(urgency),
                        reason=tracker.get_slot("escalation_reason"),
                        trigger=tracker.get_slot("escalation_trigger") or "request_human",
                        service_keys=services,
                        snapshot=snapshot,
                        now=now,
                        client_key=client,
                    )
                )
        except (IncidentSourceError, ValidationError) as exc:
            logger.warning("escalation not stored for %s: %s", mask_contact(str(contact)), exc)
            dispatcher.utter_message(response="utter_escalation_failed", contact=knowledge.contact)
            return reset
        logger.info("escalation %s stored (%s, %s)", made.reference, made.urgency.value, mask_contact(contact))
        affected = [s.key for s in overview.affected] if overview is not None else []
        send(dispatcher, escalation_receipt(made, knowledge, affected))
        return [*reset, SlotSet("escalation_ref", made.reference)]

    async def _allowed(self, urgency: Urgency, client: str | None, contact: str) -> bool:
        """Whether a new escalation is within the limits per address and per contact. A safety
        case is never refused (nor counted): no limit may stand between it and a person."""
        if urgency is Urgency.SAFETY:
            return True
        per_client, per_contact = self.escalation_limits
        if client is not None and not await per_client.allow(client):
            return False
        return await per_contact.allow(contact)


class ActionQueueWait(IncidentStateMixin, Action):
    """ "How long will I wait?": the request's place in the queue and an honest estimate, or that
    there is no request; never the incident's ETA in its place."""

    def name(self) -> str:
        return "action_queue_wait"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        await self.pending_notices(dispatcher, tracker)
        now = self.store.clock()

        def where(session: Session) -> Wait | None:
            found = open_escalation(session, tracker.sender_id)
            return estimate_wait(session, found, now) if found else None

        try:
            wait = await self.store.transaction(where)
        except IncidentSourceError as exc:
            logger.warning("cannot read the queue: %s", exc)
            dispatcher.utter_message(response="utter_state_unavailable")
            return []
        send(dispatcher, wait_replies(wait))
        return []


class ActionRefileEscalation(IncidentStateMixin, Action):
    """ "My request is about email, not top-ups" (typed, or a button under the receipt): the
    open escalation is filed under the service named, and linked to its incident."""

    def name(self) -> str:
        return "action_refile_escalation"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        try:
            knowledge = self.knowledge.get()
        except KnowledgeError:
            dispatcher.utter_message(response="utter_state_unavailable")
            return []
        named = named_services(tracker.latest_message)
        # "about email, not broadband": the first named is the one meant.
        wanted = named[:1]
        now = self.store.clock()

        def change(session: Session) -> tuple[str | None, list[str]]:
            found = open_escalation(session, tracker.sender_id)
            if found is None:
                return None, []
            return found.reference, refile(session, found, wanted, now, actor=f"customer:{found.channel}")

        try:
            reference, filed = await self.store.transaction(change)
        except IncidentSourceError as exc:
            logger.warning("could not refile an escalation: %s", exc)
            dispatcher.utter_message(response="utter_escalation_failed", contact=knowledge.contact)
            return []
        send(dispatcher, refile_replies(reference, filed, knowledge))
        return [SlotSet("service", filed[0])] if filed else []
