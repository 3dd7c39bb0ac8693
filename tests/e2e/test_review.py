"""From a real conversation to training data: an unclear message the real Rasa server stored is listed,
labelled, exported, and read back by Rasa's own training-data loader."""

from __future__ import annotations

import subprocess
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from bot.db import make_engine, make_session_factory
from bot.review import REVIEW_CONFIDENCE, export_yaml, label_message, uncertain_messages
from bot.settings import PROJECT_ROOT
from bot.store import utcnow
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


def test_an_unclear_message_becomes_rasa_training_data(assistant: Assistant, tmp_path: Path) -> None:
    sender = f"e2e-{uuid.uuid4().hex[:10]}"
    unclear = "🙃🙃 [roaming](service) call 021 555 1234"
    assistant.say(sender, "hello")
    assistant.say(sender, unclear)
    events = [e for e in assistant.tracker(sender)["events"] if e["event"] == "user"]
    greeting = events[0]["parse_data"]["intent"]

    tracker = make_engine(assistant.servers.settings.tracker_store_url)
    with make_session_factory(assistant.engine).begin() as session:
        items = [
            i
            for i in uncertain_messages(tracker, session, utcnow() - timedelta(hours=1))
            if i.conversation_id == sender
        ]
        listed = {i.text: i for i in items}
        assert unclear in listed, listed
        assert ("hello" in listed) == (greeting["confidence"] < REVIEW_CONFIDENCE)
        label_message(session, tracker, listed[unclear].event_id, "request_human", actor="e2e", now=utcnow())
        exported = export_yaml(session)
    tracker.dispose()

    path = tmp_path / "reviewed.yml"
    path.write_text(exported, encoding="utf-8")
    result = subprocess.run([str(RASA_PYTHON), "-c", LOAD, str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    # Brackets no longer make an entity annotation, and the phone number is masked.
    assert "request_human\t🙃🙃 (roaming)(service) call 021 000 0000\t0" in result.stdout.splitlines()
