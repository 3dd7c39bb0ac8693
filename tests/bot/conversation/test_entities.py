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
