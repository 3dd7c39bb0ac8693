"""The customer-level measure's judgement: by the action Rasa chose and the service it set."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from bot.core.settings import PROJECT_ROOT


def load() -> ModuleType:
    sys.path.insert(0, str(PROJECT_ROOT / "scripts"))  # it imports bench_surge beside it
    spec = importlib.util.spec_from_file_location("eval_customers", PROJECT_ROOT / "scripts" / "eval_customers.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def turn(action: str, service: str | None = None, buttons: tuple[str, ...] = ()) -> list[dict[str, object]]:
    events: list[dict[str, object]] = [
        {"event": "action", "name": "action_session_start"},
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": "x"},
        {"event": "action", "name": action},
    ]
    if service:
        events.append({"event": "slot", "name": "service", "value": service})
    events.append({"event": "bot", "text": "y", "data": {"buttons": [{"payload": b} for b in buttons]}})
    return [*events, {"event": "action", "name": "action_listen"}, {"event": "user", "text": "later"}]


def test_the_rules_give_each_intent_its_action() -> None:
    rules = load().rule_actions()
    assert rules["top_up"] == "action_service_status" and rules["out_of_scope"] == "action_out_of_scope"
    assert rules["queue_wait"] == "action_queue_wait"


def test_a_reply_is_judged_by_action_and_service_not_wording() -> None:
    m = load()
    rules = m.rule_actions()
    assert m.judge("top_up", *m.first_turn(turn("action_service_status", "top_up")), rules) == m.KINDS[0]
    assert m.judge("top_up", *m.first_turn(turn("action_service_status", "roaming")), rules) == m.KINDS[2]
    assert m.judge("connectivity", *m.first_turn(turn("action_service_status", "broadband")), rules) == m.KINDS[0]
    offered = turn("action_clarify", buttons=("/top_up", "/roaming"))
    assert m.judge("roaming", *m.first_turn(offered), rules) == m.KINDS[1]
    assert m.judge("email", *m.first_turn(offered), rules) == m.KINDS[2]
    assert m.judge("greet", *m.first_turn(turn("action_out_of_scope")), rules) == m.KINDS[2]
    assert m.judge("greet", None, None, [], rules) == m.KINDS[2]  # no action at all
