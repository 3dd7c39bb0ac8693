"""What customers call a service maps to the canonical keys; junk maps to nothing."""

from __future__ import annotations

import pytest

from bot.conversation.entities import normalise_service, services_for


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("Top-Up", "top_up"),
        ("recharge", "top_up"),
        ("Xtra Mail", "email"),
        ("call forwarding", "call_diversion"),
        ("Wi-Fi", "broadband"),
        ("home phone", "landline"),
        ("top_up", "top_up"),
        ("call diversion", "call_diversion"),
    ],
)
def test_aliases(value: str, key: str) -> None:
    assert normalise_service(value) == key


@pytest.mark.parametrize("value", [None, 42, "", "banana", "x" * 5000, "<script>", ["email"]])
def test_junk_is_none(value: object) -> None:
    assert normalise_service(value) is None


def test_service_intent_wins_over_stray_entity() -> None:
    assert services_for("top_up", ["mobile"]) == ["top_up"]


def test_connectivity_takes_its_service_from_the_entity() -> None:
    assert services_for("connectivity", ["broadband"]) == ["broadband"]
    assert services_for("connectivity", ["email"]) == []
    assert services_for("connectivity", []) == []


def test_other_intents_use_the_named_services() -> None:
    assert services_for("ask_eta", ["nonsense", "roaming"]) == ["roaming"]


def test_every_named_service_is_answered_in_the_order_named_each_once() -> None:
    assert services_for("top_up", ["top up", "log in"]) == ["top_up", "account"]
    assert services_for("check_outage", ["voicemail", "email", "voice mail"]) == ["voicemail", "email"]
    assert services_for("account_access", ["top-up", "my account"]) == ["account", "top_up"]


def user_event(text: str, intent: str, services: list[str]) -> dict[str, object]:
    entities = [{"entity": "service", "value": s} for s in services]
    return {"event": "user", "text": text, "parse_data": {"intent": {"name": intent}, "entities": entities}}


def test_an_escalation_is_filed_under_the_stated_need_first_then_the_rest_newest_first() -> None:
    from bot.conversation.entities import services_in_conversation

    events = [
        user_event("is my broadband ok", "connectivity", ["broadband"]),
        {"event": "bot", "text": "Broadband is working."},
        user_event("and voicemail?", "voicemail", []),
        user_event("I need roaming on for my flight tonight", "roaming", ["roaming"]),
    ]
    assert services_in_conversation(events, "I need roaming on for my flight tonight") == [
        "roaming",
        "voicemail",
        "broadband",
    ]
    assert services_in_conversation([user_event("help", "request_human", [])], "help") == []
    assert services_in_conversation([{"event": "user", "parse_data": "junk"}, {"event": "user"}], None) == []
