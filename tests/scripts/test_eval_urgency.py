"""The urgency measure's reading of a live conversation: what was heard, offered and advised."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType
from typing import Any

from bot.core.settings import PROJECT_ROOT
from bot.knowledge.file import Knowledge


def load() -> ModuleType:
    sys.path.insert(0, str(PROJECT_ROOT / "scripts"))  # it imports bench_surge beside it
    spec = importlib.util.spec_from_file_location("eval_urgency", PROJECT_ROOT / "scripts" / "eval_urgency.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["eval_urgency"] = module  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


def events(urgency: str, *after: dict[str, Any]) -> list[dict[str, Any]]:
    parse = {"intent": {"name": "call_diversion"}, "urgency": {"name": urgency, "confidence": 0.9}}
    return [
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": "x", "parse_data": parse},
        *after,
        {"event": "user", "text": "later", "parse_data": {}},
        {"event": "slot", "name": "offered_escalation", "value": True},  # a later turn: not counted
    ]


def test_the_first_turn_is_read_for_the_offer_and_the_emergency_advice() -> None:
    m = load()
    advice = {"event": "bot", "text": "call 111", "metadata": {"utter_action": "utter_emergency_help"}}
    offer = {"event": "slot", "name": "offered_escalation", "value": True}
    parse, offered, emergency = m.first_turn(events("safety", advice, offer))
    assert parse["urgency"]["name"] == "safety" and offered and emergency
    assert m.first_turn(events("normal", {"event": "action", "name": "action_service_status"}))[1:] == (False, False)
    assert m.first_turn(events("normal", {"event": "action", "name": "action_human_contact"}))[1] is True


def test_the_report_scores_the_decision_against_the_words_alone(knowledge: Knowledge) -> None:
    m = load()
    turn = m.Turn
    heard = {"urgency": {"name": "time_critical", "confidence": 0.9}, "intent": {"name": "call_diversion"}}
    plain = {"urgency": {"name": "normal", "confidence": 0.9}, "intent": {"name": "top_up"}}
    turns = [
        turn("time_critical", m.REQUIRED, heard, True, False),
        turn("safety", "mum's medical alarm is silent", plain, True, True),
        turn("normal", "how do I top up", plain, False, False),
    ]
    text = m.report(turns, knowledge)
    assert (
        "| classifier + knowledge-file words (what the actions use) | 1.00 (1) | 1.00 (1) | 1.00 (1) | 1.00 (1) |"
        in text
    )
    assert "| knowledge-file words alone (before) | 0.00 (0) | 0.00 (1) | 1.00 (1) | 1.00 (1) |" in text
    assert "decided time_critical, offered a person" in text
