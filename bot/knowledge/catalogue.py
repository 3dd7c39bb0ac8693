"""The one catalogue of services and intents. Adding a service means a row here, its entry in
bot/knowledge.yml (name, normal way, workarounds) and its training examples under data/.

Everything else derives from this table: the service keys the knowledge file must cover, the
words customers use for each service, which intent asks about which service, and the intents
staff may label a message with. tests/bot/knowledge/test_catalogue.py holds it against the
domain and the knowledge file.
"""

from __future__ import annotations

from dataclasses import dataclass

CONNECTIVITY = "connectivity"  # the intent shared by the services that still work in an outage


@dataclass(frozen=True)
class ServiceEntry:
    key: str
    intent: str  # the intent that asks about this service (shared by the connectivity services)
    # What customers call it, matched after lower-casing and collapsing punctuation to spaces.
    aliases: tuple[str, ...]


SERVICES: tuple[ServiceEntry, ...] = (
    ServiceEntry(
        "top_up",
        "top_up",
        ("top up", "topup", "top-up", "recharge", "credit", "prepaid", "prepay", "data pack", "voucher"),
    ),
    ServiceEntry("roaming", "roaming", ("roaming", "roam", "travel pack", "international roaming", "overseas")),
    ServiceEntry(
        "call_diversion",
        "call_diversion",
        ("call diversion", "divert", "diversion", "call forwarding", "forwarding", "forward calls"),
    ),
    ServiceEntry("email", "email", ("email", "e-mail", "xtra mail", "xtra email", "webmail", "mail", "inbox")),
    ServiceEntry("voicemail", "voicemail", ("voicemail", "voice mail", "voice messages", "answerphone")),
    ServiceEntry(
        "account",
        "account_access",
        ("account", "login", "log in", "sign in", "website", "app", "my account", "online account"),
    ),
    ServiceEntry("billing", "pay_bill", ("bill", "billing", "payment", "invoice", "pay")),
    ServiceEntry("store", "store_service", ("store", "shop", "stores", "shops", "retail")),
    ServiceEntry(
        "mobile",
        CONNECTIVITY,
        ("mobile", "cell", "cellphone", "phone", "4g", "5g", "mobile data", "texts", "txt", "sms", "calls"),
    ),
    ServiceEntry(
        "broadband",
        CONNECTIVITY,
        ("broadband", "internet", "wifi", "wi-fi", "fibre", "fiber", "modem", "router", "adsl", "vdsl"),
    ),
    ServiceEntry("landline", CONNECTIVITY, ("landline", "home phone", "land line")),
)
SERVICE_KEYS = tuple(s.key for s in SERVICES)
CONNECTIVITY_SERVICES = tuple(s.key for s in SERVICES if s.intent == CONNECTIVITY)
# The intent of each service that has one of its own.
INTENT_SERVICE = {s.intent: s.key for s in SERVICES if s.intent != CONNECTIVITY}
# The groups the knowledge file sorts services into.
GROUPS = ("connectivity", "digital", "retail")

# Intents about the outage, offered as clarifying buttons when the assistant is unsure.
TOPIC_INTENTS = (
    "check_outage",
    "ask_eta",
    *INTENT_SERVICE,
    CONNECTIVITY,
    "security_concern",
    "compensation",
    "request_human",
    "notify_me",
    "still_broken",
    "more",
    "queue_wait",
)
SMALL_TALK_INTENTS = ("greet", "goodbye", "thank", "affirm", "deny", "bot_challenge", "out_of_scope")
# A follow-up with no topic of its own ("and now?"), so never offered as a clarifying topic.
FOLLOW_UP_INTENTS = ("check_again",)
# About a request already made, so never offered as a clarifying topic: moving it to another service.
REQUEST_INTENTS = ("escalation_service",)
# Every intent a customer's message can have: the domain's, without the notifier's EXTERNAL_ trigger.
CUSTOMER_INTENTS = (*SMALL_TALK_INTENTS, *TOPIC_INTENTS, *FOLLOW_UP_INTENTS, *REQUEST_INTENTS)
