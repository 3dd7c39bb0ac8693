"""Normalise what customers call a service to the canonical service keys."""

from __future__ import annotations

import re

from bot.knowledge.catalogue import CONNECTIVITY, CONNECTIVITY_SERVICES, INTENT_SERVICE, SERVICE_KEYS, SERVICES

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


def service_for(intent: str | None, entity_values: list[object]) -> str | None:
    """The service a message is about: the entity if it names one, else the intent's own service.

    A service intent wins over a stray entity ("top up my mobile" is about top-up); the
    connectivity intent takes its service from the entity.
    """
    entities = [k for k in (normalise_service(v) for v in entity_values) if k]
    if intent in INTENT_SERVICE:
        return INTENT_SERVICE[intent]
    if intent == CONNECTIVITY:
        return next((k for k in entities if k in CONNECTIVITY_SERVICES), None)
    return entities[0] if entities else None
