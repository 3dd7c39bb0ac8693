"""Which services a customer means: what they call a service, normalised to the catalogue's
keys, read from a message's entities, its intent and the conversation's topic. The one place
that decides it; the actions pass in what Rasa parsed."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from bot.knowledge.catalogue import CONNECTIVITY, CONNECTIVITY_SERVICES, INTENT_SERVICE, SERVICE_KEYS, SERVICES
from common.contact import phone_digits, phone_spans
from common.text import printable

_LOOKUP = {alias: s.key for s in SERVICES for alias in s.aliases}
_LOOKUP.update({key: key for key in SERVICE_KEYS})
_LOOKUP.update({key.replace("_", " "): key for key in SERVICE_KEYS})


def normalise_service(value: object) -> str | None:
    """Map an extracted entity value (any type) to a service key, or None if it is not one."""
    if not isinstance(value, str):
        return None
    text = re.sub(r"[^\w+-]+", " ", value.lower()).strip()
    if text in _LOOKUP:
        return _LOOKUP[text]
    text = text.replace("-", " ")
    return _LOOKUP.get(text)


def entity_values(parse_data: Mapping[str, Any], name: str) -> list[Any]:
    """The values of entity `name` in a parsed message, in the order they stand in the text."""
    entities = parse_data.get("entities") or []
    found = [e for e in entities if isinstance(e, Mapping) and e.get("entity") == name]
    return [e.get("value") for e in sorted(found, key=_start)]


def _start(entity: Mapping[str, Any]) -> int:
    start = entity.get("start")
    return start if isinstance(start, int) else 0


def named_services(parse_data: Mapping[str, Any]) -> list[str]:
    """The known services a parsed message names, in the order named, each once."""
    return list(dict.fromkeys(k for k in map(normalise_service, entity_values(parse_data, "service")) if k))


def service_in_context(parse_data: Mapping[str, Any], topic: object) -> str | None:
    """The first service a message names, else the conversation's topic (its `service` slot)."""
    return next(iter(named_services(parse_data)), None) or normalise_service(topic)


# "to 021 555 0199", "to my mobile 021 555 0199", "onto my new cell number: 021...": up to four
# words between "to" and the number name the phone, but not a verb ("I want to divert 09...")
# and not "from" (that number is where the calls come from).
_TO_NUMBER = re.compile(
    r"\b(?:to|onto)\s+(?!(?:divert|forward|send|redirect|transfer|route|move|switch|set)\b)"
    r"(?:(?!from\b)[\w'’]+[\s,:]+){0,4}$",
    re.IGNORECASE,
)


def diversion_target(text: object) -> str | None:
    """The number a customer asks their calls to go to, as digits: only one they name as the
    destination ("to 021 555 0199", "from my landline 09 123 4567 to my mobile 021 555 0199").
    Never a number they give as their own or as the one to divert from; None without one."""
    if not isinstance(text, str):
        return None
    for start, end in phone_spans(text):
        if _TO_NUMBER.search(text[max(0, start - 60) : start]):
            return phone_digits(text[start:end])
    return None


def services_for(intent: str | None, entity_values: list[object]) -> list[str]:
    """Every service a message is about, in the order named, each once ("can't top up and can't
    log in either" is about top-up and the account).

    A service intent's own service comes first. Beside it, "mobile" is left out: its words
    (phone, calls, texts) name the device more often than the service ("top up my phone").
    """
    named = list(dict.fromkeys(k for k in (normalise_service(v) for v in entity_values) if k))
    if intent in INTENT_SERVICE:
        own = INTENT_SERVICE[intent]
        return [own, *(k for k in named if k not in (own, "mobile"))]
    if intent == CONNECTIVITY and not any(k in CONNECTIVITY_SERVICES for k in named):
        return []
    return named


def services_in_conversation(events: Iterable[Mapping[str, Any]], need: str | None = None) -> list[str]:
    """Every service a conversation's customer messages are about, for filing an escalation:
    those of the message that stated the need first, then the others, newest first.

    From the whole conversation rather than the `service` slot, which holds only the last topic:
    a roaming escalation after a question about broadband was filed under broadband (issue 21).
    """
    said: list[tuple[str, list[str]]] = []
    for event in events:
        if event.get("event") != "user":
            continue
        parse = event.get("parse_data") or {}
        intent = (parse.get("intent") or {}).get("name") if isinstance(parse, Mapping) else None
        values = entity_values(parse, "service") if isinstance(parse, Mapping) else []
        said.append(
            (printable(str(event.get("text") or "")), services_for(intent if isinstance(intent, str) else None, values))
        )
    stated = [keys for text, keys in said if need and text and need.startswith(text[:100])]
    ordered = [k for keys in stated for k in keys] + [k for _, keys in reversed(said) for k in keys]
    return list(dict.fromkeys(ordered))
