"""Normalise what customers call a service to the canonical service keys."""

from __future__ import annotations

import re

from bot.knowledge import SERVICE_KEYS

# Keys are matched after lower-casing and collapsing punctuation to spaces.
ALIASES: dict[str, tuple[str, ...]] = {
    "top_up": ("top up", "topup", "top-up", "recharge", "credit", "prepaid", "prepay", "data pack", "voucher"),
    "roaming": ("roaming", "roam", "travel pack", "international roaming", "overseas"),
    "call_diversion": ("call diversion", "divert", "diversion", "call forwarding", "forwarding", "forward calls"),
    "email": ("email", "e-mail", "xtra mail", "xtra email", "webmail", "mail", "inbox"),
    "voicemail": ("voicemail", "voice mail", "voice messages", "answerphone"),
    "account": ("account", "login", "log in", "sign in", "website", "app", "my account", "online account"),
    "billing": ("bill", "billing", "payment", "invoice", "pay"),
    "store": ("store", "shop", "stores", "shops", "retail"),
    "mobile": ("mobile", "cell", "cellphone", "phone", "4g", "5g", "mobile data", "texts", "txt", "sms", "calls"),
    "broadband": ("broadband", "internet", "wifi", "wi-fi", "fibre", "fiber", "modem", "router", "adsl", "vdsl"),
    "landline": ("landline", "home phone", "land line"),
}
_LOOKUP = {alias: key for key, aliases in ALIASES.items() for alias in aliases}
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


INTENT_SERVICE = {
    "top_up": "top_up",
    "roaming": "roaming",
    "call_diversion": "call_diversion",
    "email": "email",
    "voicemail": "voicemail",
    "account_access": "account",
    "pay_bill": "billing",
    "store_service": "store",
}
CONNECTIVITY_SERVICES = ("mobile", "broadband", "landline")


def service_for(intent: str | None, entity_values: list[object]) -> str | None:
    """The service a message is about: the entity if it names one, else the intent's own service.

    A service intent wins over a stray entity ("top up my mobile" is about top-up); the
    connectivity intent takes its service from the entity.
    """
    entities = [k for k in (normalise_service(v) for v in entity_values) if k]
    if intent in INTENT_SERVICE:
        return INTENT_SERVICE[intent]
    if intent == "connectivity":
        return next((k for k in entities if k in CONNECTIVITY_SERVICES), None)
    return entities[0] if entities else None
