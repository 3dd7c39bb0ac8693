"""The turn policy: what every answer about the incident state does besides its own content.

In order: news this conversation subscribed to goes first, on channels that cannot push it;
emergency advice goes before anything else when the message is about safety; at most one
offer of a person, and one after the answer when the message is time-critical; the reply
is fitted to the channel (at most three messages and 600 characters on the web, one short
message on SMS and messengers, the rest kept for "more"); official updates quoted in full are
remembered, so the next answer refers to them instead;
an offer the customer did not take lapses with their next, unurgent, message.

A mixin rather than a base Action: rasa-sdk registers every concrete Action subclass; the
mixin keeps what an action reads (store, knowledge, settings, limits; `actions.deps`) apart
from what it does."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.deps import default_escalation_limits, default_knowledge, default_settings, default_store
from actions.latest import latest_text
from bot.conversation.answers import Context, stale_note
from bot.conversation.backend import Backend
from bot.conversation.dialogue import single_offer, with_urgency
from bot.conversation.fit import as_stored, fit, fit_web, is_short
from bot.conversation.notify import take_pending
from bot.conversation.receipts import closing_replies, notice_replies
from bot.conversation.reply import Reply
from bot.core.errors import IncidentSourceError, KnowledgeError
from bot.core.limits import Limiter
from bot.core.settings import Settings
from bot.db.models import Urgency
from bot.knowledge.file import KnowledgeSource
from bot.people.closing import take_closings
from bot.people.urgency import urgency_of
from common.text import MAX_CHAT_MESSAGE

logger = logging.getLogger(__name__)

MAX_QUOTED = 20


class IncidentStateMixin:
    """Gives an action the store, knowledge, settings and limits; tests pass their own."""

    def __init__(
        self,
        store: Backend | None = None,
        knowledge: KnowledgeSource | None = None,
        settings: Settings | None = None,
        escalation_limits: tuple[Limiter, Limiter] | None = None,
    ) -> None:
        self._store = store
        self._knowledge = knowledge
        self._settings = settings
        self._escalation_limits = escalation_limits

    @property
    def escalation_limits(self) -> tuple[Limiter, Limiter]:
        """New escalations per address, and per contact."""
        return self._escalation_limits or default_escalation_limits()

    @property
    def settings(self) -> Settings:
        return self._settings or default_settings()

    @property
    def knowledge(self) -> KnowledgeSource:
        return self._knowledge or default_knowledge()

    @property
    def store(self) -> Backend:
        return self._store or default_store()

    async def context(self, tracker: Tracker | None = None) -> Context:
        """Raises IncidentSourceError or KnowledgeError; callers answer with a fallback."""
        overview = await self.store.overview()
        quoted = quoted_updates(tracker) if tracker is not None else []
        return Context(
            overview=overview,
            knowledge=self.knowledge.get(),
            tz=self.settings.tz,
            now=self.store.clock(),
            quoted=frozenset(quoted),
        )

    async def respond(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        build: Callable[[Context], list[Reply]],
        domain: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]] | None:
        """Send what `build` makes of the live state; None on a source error (the fallback was sent).

        News this conversation subscribed to goes first, on channels that cannot push it. A
        message that says the customer's safety depends on their phone gets emergency advice
        first; one that is time-critical gets an offer of a person after the answer. The
        returned events record that offer for the rules.
        """
        await self.pending_notices(dispatcher, tracker)
        try:
            ctx = await self.context(tracker)
            replies = build(ctx) + stale_note(ctx)
        except (IncidentSourceError, KnowledgeError) as exc:
            source_unavailable(dispatcher, exc)
            return None
        urgency = urgency_of(latest_text(tracker), ctx.knowledge, tracker.latest_message)
        replies = single_offer(with_urgency(replies, urgency, ctx.knowledge))
        sent, events = send_for_channel(dispatcher, tracker, replies, domain)
        return quoted_events(tracker, sent) + events + urgency_events(tracker, urgency)

    async def pending_notices(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
        settings, store = self.settings, self.store
        if tracker.sender_id not in await store.waiting_for_news(settings.notify_push_channels):
            return
        try:
            notices, closings = await store.transaction(
                lambda session: (
                    take_pending(session, tracker.sender_id, store.clock(), settings.notify_push_channels),
                    take_closings(session, tracker.sender_id, store.clock(), settings.notify_push_channels),
                )
            )
        except IncidentSourceError as exc:
            logger.warning("could not check for pending notices: %s", exc)
            return
        send(dispatcher, notice_replies(notices, settings.tz, store.clock()) + closing_replies(closings))


def urgency_events(tracker: Tracker, urgency: Urgency | None) -> list[dict[str, Any]]:
    """The slots an answer leaves for the rules and the escalation form.

    Urgent: a person was offered (a "yes" takes it). Safety is settled for the whole
    conversation, so the form will not ask; a time-critical message is kept as the reason
    staff read, in the customer's own words, and the form still asks, since a wrong "urgent"
    costs other customers their place. Not urgent: an earlier offer lapses, and its reason.
    """
    if urgency is None or urgency is Urgency.NORMAL:
        if not tracker.get_slot("offered_escalation"):
            return []
        return [SlotSet("offered_escalation", False), SlotSet("escalation_reason", None)]
    if urgency is Urgency.SAFETY:
        return [SlotSet("offered_escalation", True), SlotSet("escalation_urgency", Urgency.SAFETY.value)]
    return [SlotSet("offered_escalation", True), SlotSet("escalation_reason", latest_text(tracker)[:MAX_CHAT_MESSAGE])]


def quoted_updates(tracker: Tracker) -> list[str]:
    return [q for q in tracker.get_slot("quoted_updates") or () if isinstance(q, str)]


def quoted_events(tracker: Tracker, replies: Iterable[Reply]) -> list[dict[str, Any]]:
    """Remember the official updates quoted in full, so that the next answer refers to them."""
    before = quoted_updates(tracker)
    new = [r.quotes for r in replies if r.quotes and r.quotes not in before]
    # The newest few suffice: only the updates currently in force are ever looked up.
    return [SlotSet("quoted_updates", [*before, *new][-MAX_QUOTED:])] if new else []


def send_for_channel(
    dispatcher: CollectingDispatcher, tracker: Tracker, replies: list[Reply], domain: dict[str, Any] | None
) -> tuple[list[Reply], list[dict[str, Any]]]:
    """At most three short bubbles on the web; one short message on SMS, WhatsApp, Messenger and
    Telegram; the rest kept for "more" (bot.conversation.fit). Returns what went out in full
    (an update quoted in full is remembered), and the events that keep the rest."""
    channel = tracker.get_latest_input_channel()
    if domain is None:
        send(dispatcher, replies)
        return replies, [SlotSet("more_replies", None)] if tracker.get_slot("more_replies") else []
    responses = domain.get("responses") or {}
    if channel is not None and is_short(channel):
        short = fit(responses, replies, channel)
        dispatcher.utter_message(text=short.text, buttons=short.buttons or None)
        return replies, [SlotSet("more_replies", as_stored(short.later) or None)]
    web = fit_web(responses, replies)
    for bubble in web.bubbles:
        # Kept in the event's metadata: which responses a bubble is made of, as Rasa records the
        # response it rendered (utter_action) for the reports and evaluations that read it.
        dispatcher.utter_message(
            text=bubble.text, buttons=bubble.buttons or None, utter_action=bubble.parts[0], responses=bubble.parts
        )
    if web.later or tracker.get_slot("more_replies"):
        return web.shown, [SlotSet("more_replies", as_stored(web.later) or None)]
    return web.shown, []


def send(dispatcher: CollectingDispatcher, replies: Iterable[Reply]) -> None:
    for reply in replies:
        dispatcher.utter_message(response=reply.response, buttons=reply.buttons or None, **reply.variables)


def source_unavailable(dispatcher: CollectingDispatcher, exc: Exception) -> None:
    logger.warning("answering without incident state: %s", exc)
    dispatcher.utter_message(response="utter_state_unavailable")
