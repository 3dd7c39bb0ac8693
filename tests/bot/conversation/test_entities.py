"""What customers call a service maps to the canonical keys; junk maps to nothing; only a number
named as the destination is where calls are diverted to."""

from __future__ import annotations

import pytest

from bot.conversation.entities import diversion_target, normalise_service, services_for


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


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("how do I divert my landline 09 123 4567 to my mobile 021 555 0199", "0215550199"),  # from X to Y
        ("divert from 09 123 4567 to 021 555 0199", "0215550199"),
        ("forward all calls to +64 21 555 0188", "+64215550188"),  # to Y
        ("please send my calls to my new mobile number: 027 555 0123", "0275550123"),
        ("divert calls from 09 123 4567", None),  # from X: the source, never the target
        ("my number is 09 123 4567, how do I divert my calls", None),  # their own number
        ("I want to divert 09 123 4567", None),
        ("how do I divert my calls", None),  # no number
        (None, None),
    ],
)
def test_only_a_number_named_as_the_destination_is_where_calls_go(text: object, target: str | None) -> None:
    assert diversion_target(text) == target
