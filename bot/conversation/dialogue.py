"""How the assistant keeps a conversation going, whatever the incident state: asking which
topic was meant, emergency advice and an offer of a person for urgent messages, and never
more than one offer in a reply."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.conversation.reply import OFFERS, Reply
from bot.db.models import Urgency
from bot.knowledge.catalogue import TOPIC_INTENTS
from bot.knowledge.file import Knowledge


def consecutive_fallbacks(intents: Sequence[str | None]) -> int:
    """How many of the latest user messages in a row fell below the confidence threshold."""
    count = 0
    for intent in reversed(intents):
        if intent != "nlu_fallback":
            break
        count += 1
    return count


def clarify(ranking: Sequence[Mapping[str, Any]], fallbacks_in_a_row: int, titles: Mapping[str, str]) -> list[Reply]:
    """Offer the two likeliest topics as buttons; on the second miss in a row, offer a person."""
    if fallbacks_in_a_row >= 2:
        return [Reply("utter_clarify_failed")]
    options = [
        str(item.get("name")) for item in ranking if item.get("name") in TOPIC_INTENTS and item.get("name") in titles
    ][:2]
    if not options:
        return [Reply("utter_clarify_generic")]
    return [Reply("utter_clarify", buttons=[{"title": titles[i], "payload": f"/{i}"} for i in options])]


def emergency_help(urgency: Urgency | None, knowledge: Knowledge, told_already: bool = False) -> list[Reply]:
    """The emergency advice, when a message is about safety and this conversation has not just
    been given it. Every path that hears a safety need asks here (answers, the hand-over to a
    person, the escalation form), so the advice and its conditions are one rule."""
    if urgency is not Urgency.SAFETY or told_already:
        return []
    return [Reply("utter_emergency_help", {"emergency": knowledge.emergency})]


def with_urgency(replies: Sequence[Reply], urgency: Urgency | None, knowledge: Knowledge) -> list[Reply]:
    """An urgent message is never answered as if it could wait: emergency advice before
    anything else when safety is at stake, and an offer of a person after the answer."""
    if urgency is None or urgency is Urgency.NORMAL:
        return list(replies)
    return single_offer([*emergency_help(urgency, knowledge), *replies, Reply("utter_offer_escalation")])


def single_offer(replies: Sequence[Reply]) -> list[Reply]:
    """At most one offer of a person per reply: the last one made (the more specific)."""
    offers = [i for i, r in enumerate(replies) if r.response in OFFERS]
    return [r for i, r in enumerate(replies) if r.response not in OFFERS or i == offers[-1]]
