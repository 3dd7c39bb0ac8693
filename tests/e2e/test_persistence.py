"""Restarting Rasa loses no conversation: the SQL tracker store keeps it."""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.conftest import Assistant

pytestmark = pytest.mark.e2e


def test_conversation_survives_a_rasa_restart(demo_assistant: Assistant) -> None:
    me = f"e2e-restart-{uuid.uuid4().hex[:8]}"
    assert "Prepaid top-up: not working" in demo_assistant.say(me, "I can't top up my phone")

    demo_assistant.stop("rasa")
    demo_assistant.start_rasa()

    events = demo_assistant.tracker(me)["events"]
    assert "I can't top up my phone" in [e.get("text") for e in events if e.get("event") == "user"]
    # The slot the first turn set is still there, so the follow-up is about top-up.
    assert "There's no ETA for Prepaid top-up yet" in demo_assistant.say(me, "when will it be fixed?")
