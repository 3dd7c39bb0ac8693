"""From a real conversation to training data: an unclear message the real Rasa server stored is listed,
labelled, exported, and read back by Rasa's own training-data loader."""

from __future__ import annotations

import json
import subprocess
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from bot.conversation.review import REVIEW_CONFIDENCE, export_yaml, label_message, uncertain_messages
from bot.core.clock import utcnow
from bot.core.settings import PROJECT_ROOT
from bot.db.engine import make_engine, make_session_factory
from tests.e2e.conftest import Assistant

pytestmark = pytest.mark.e2e
RASA_PYTHON = PROJECT_ROOT / ".venv-rasa" / "bin" / "python"
LOAD = """
import sys
from rasa.shared.nlu.training_data.loading import load_data
data = load_data(sys.argv[1])
for m in data.intent_examples:
    print(m.get("intent") + "\\t" + m.get("text") + "\\t" + str(len(m.get("entities") or [])))
"""


def user_events(tracker: Engine, sender: str) -> dict[str, int]:
    with tracker.connect() as conn:
        rows = conn.execute(
            text("SELECT id, data FROM events WHERE sender_id = :s AND type_name = 'user'"), {"s": sender}
        ).all()
    return {json.loads(data)["text"]: int(event_id) for event_id, data in rows}


def test_an_unclear_message_becomes_rasa_training_data(assistant: Assistant, tmp_path: Path) -> None:
    sender = f"e2e-{uuid.uuid4().hex[:10]}"
    unclear = "🙃🙃🙃"  # no known word: the assistant asks to clarify
    awkward = "divert to [021 555 1234](phone_number) pls"  # entity markup and a number, as typed
    for message in ("hello", unclear, awkward):
        assistant.say(sender, message)
    parsed = {e["text"]: e["parse_data"] for e in assistant.tracker(sender)["events"] if e["event"] == "user"}

    tracker = make_engine(assistant.servers.settings.tracker_store_url)
    with make_session_factory(assistant.engine).begin() as session:
        since = utcnow() - timedelta(hours=1)
        listed = {i.text: i for i in uncertain_messages(tracker, session, since) if i.conversation_id == sender}
        assert unclear in listed and listed[unclear].fell_back, listed
        for message, parse in parsed.items():
            unsure = parse["intent"]["name"] == "nlu_fallback" or parse["intent"]["confidence"] < REVIEW_CONFIDENCE
            assert (message in listed) == unsure, (message, parse["intent"])
        events = user_events(tracker, sender)
        label_message(session, tracker, events[unclear], "out_of_scope", actor="e2e", now=utcnow())
        label_message(session, tracker, events[awkward], "call_diversion", actor="e2e", now=utcnow())
        exported = export_yaml(session)
    tracker.dispose()

    path = tmp_path / "reviewed.yml"
    path.write_text(exported, encoding="utf-8")
    result = subprocess.run([str(RASA_PYTHON), "-c", LOAD, str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert "out_of_scope\t🙃🙃🙃\t0" in lines
    # Brackets no longer make an entity annotation, and the number is masked.
    assert "call_diversion\tdivert to (021 000 0000)(phone_number) pls\t0" in lines
