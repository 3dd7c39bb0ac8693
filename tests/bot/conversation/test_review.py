"""Uncertain customer messages from Rasa's tracker store, staff labels, and their export as training data.

The tracker store here is a real SQLite file with the table Rasa's SQLTrackerStore creates;
the end-to-end test in tests/e2e/test_review.py reads the one the real Rasa server writes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from bot.conversation.review import IGNORE, clean, export_yaml, label_counts, label_message, uncertain_messages
from bot.core.errors import ConversationStoreError, NotFoundError, ValidationError
from bot.db.models import AuditEntry, NluLabel
from bot.knowledge.catalogue import CUSTOMER_INTENTS as INTENTS
from tests.conftest import NOW
from tests.tracker_table import TrackerTable

SINCE = NOW - timedelta(days=7)


class TrackerStore(TrackerTable):
    """Rasa's `events` table, with the user messages review reads."""

    def user(self, message: str, intent: str, confidence: float, *, sender: str = "c1", **kwargs: Any) -> int:
        ranking = [{"name": intent, "confidence": confidence}, {"name": "check_outage", "confidence": 0.1}]
        top = {"name": intent, "confidence": confidence}
        if kwargs.pop("fell_back", False):
            top = {"name": "nlu_fallback", "confidence": 0.25}
            ranking = [top, *ranking]
        event = {"event": "user", "text": message, "parse_data": {"intent": top, "intent_ranking": ranking}}
        return self.insert(sender, "user", event, **kwargs)


@pytest.fixture
def tracker(tmp_path: Path) -> Iterator[TrackerStore]:
    store = TrackerStore(tmp_path / "tracker.db")
    yield store
    store.engine.dispose()


def texts(tracker: TrackerStore, session: Session, **kwargs: Any) -> list[str]:
    return [item.text for item in uncertain_messages(tracker.engine, session, SINCE, **kwargs)]


def test_lists_fallbacks_and_low_confidence_messages_newest_first(tracker: TrackerStore, session: Session) -> None:
    tracker.user("cant top up", "top_up", 0.95)
    tracker.user("the thing with the stuff", "check_outage", 0.41, at=NOW.timestamp() - 120)
    tracker.user("zxqv blorp", "greet", 0.2, fell_back=True, at=NOW.timestamp() - 30)
    items = uncertain_messages(tracker.engine, session, SINCE)
    assert [i.text for i in items] == ["zxqv blorp", "the thing with the stuff"]
    assert (items[0].predicted, items[0].fell_back) == ("greet", True)  # the best guess, not nlu_fallback
    assert (items[1].predicted, items[1].confidence, items[1].fell_back) == ("check_outage", 0.41, False)


def test_leaves_out_old_messages_button_payloads_bot_events_and_repeats(
    tracker: TrackerStore, session: Session
) -> None:
    tracker.user("too old to matter", "greet", 0.1, at=(SINCE - timedelta(hours=1)).timestamp())
    tracker.user("/affirm", "affirm", 0.1)
    tracker.insert("c1", "bot", {"event": "bot", "text": "hello"})
    tracker.user("same words", "greet", 0.3, sender="a")
    tracker.user("Same   words", "greet", 0.3, sender="b")
    assert texts(tracker, session) == ["Same   words"]  # the newer of the two, once


def test_answers_to_a_forms_questions_are_not_listed(tracker: TrackerStore, session: Session) -> None:
    start = NOW.timestamp() - 600
    tracker.user("i want a human", "request_human", 0.5, at=start)
    tracker.insert("c1", "active_loop", {"event": "active_loop", "name": "escalation_form"}, at=start + 1)
    tracker.user("021 555 0123", "out_of_scope", 0.27, at=start + 2)
    tracker.user("yes its urgent", "affirm", 0.4, at=start + 3)
    tracker.user("what about me", "greet", 0.3, sender="c2", at=start + 3)  # another conversation, no form
    tracker.insert("c1", "active_loop", {"event": "active_loop", "name": None}, at=start + 4)
    tracker.user("thx but when is it fixed", "thank", 0.45, at=start + 5)
    assert texts(tracker, session) == ["thx but when is it fixed", "what about me", "i want a human"]


def test_looks_only_at_the_newest_messages_and_returns_at_most_the_limit(
    tracker: TrackerStore, session: Session
) -> None:
    for n in range(5):
        tracker.user(f"unsure {n}", "greet", 0.2, at=NOW.timestamp() - 100 + n)
    assert texts(tracker, session, limit=2) == ["unsure 4", "unsure 3"]
    assert texts(tracker, session, scan=3) == ["unsure 4", "unsure 3", "unsure 2"]


@pytest.mark.parametrize(
    "data",
    ["not json", "[1, 2]", json.dumps({"text": 7}), json.dumps({"text": "hi", "parse_data": "x"}), json.dumps({})],
)
def test_skips_events_it_cannot_read_instead_of_failing(tracker: TrackerStore, session: Session, data: str) -> None:
    tracker.insert("c1", "user", data)
    tracker.user("readable one", "greet", 0.2)
    assert texts(tracker, session) == ["readable one"]


def test_an_unreadable_tracker_store_raises_the_projects_error(tmp_path: Path, session: Session) -> None:
    missing = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")  # no events table
    with pytest.raises(ConversationStoreError):
        uncertain_messages(missing, session, SINCE)


def test_labelling_stores_the_tracker_text_masked_and_audits_it(tracker: TrackerStore, session: Session) -> None:
    event = tracker.user("call me on 021 555 1234 or mo@example.org re [roaming](service)", "roaming", 0.3)
    label = label_message(session, tracker.engine, event, "request_human", actor="staff:agent", now=NOW)
    assert label.text == "call me on 021 000 0000 or someone@example.com re (roaming)(service)"
    assert (label.intent, label.predicted, label.labelled_by) == ("request_human", "roaming", "staff:agent")
    audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "nlu.label")).one()
    assert audit.actor == "staff:agent" and audit.detail["intent"] == "request_human"
    assert "021" not in json.dumps(audit.detail)  # the audit row holds no customer text
    assert texts(tracker, session) == []  # labelled messages leave the review list


def test_relabelling_the_same_text_replaces_the_label(tracker: TrackerStore, session: Session) -> None:
    first = tracker.user("roaming?? in fiji", "roaming", 0.5, sender="a")
    second = tracker.user("Roaming??   in Fiji", "roaming", 0.5, sender="b")
    label_message(session, tracker.engine, first, "connectivity", actor="a", now=NOW)
    label_message(session, tracker.engine, second, "roaming", actor="b", now=NOW)
    rows = session.scalars(select(NluLabel)).all()
    assert [(r.intent, r.labelled_by) for r in rows] == [("roaming", "b")]
    assert label_counts(session) == {"roaming": 1}


@pytest.mark.parametrize("intent", ["", "nlu_fallback", "EXTERNAL_incident_update", "top_up'; DROP TABLE x;--"])
def test_labelling_refuses_an_intent_customers_cannot_have(
    tracker: TrackerStore, session: Session, intent: str
) -> None:
    event = tracker.user("hello there", "greet", 0.3)
    with pytest.raises(ValidationError):
        label_message(session, tracker.engine, event, intent, actor="a", now=NOW)


def test_labelling_refuses_an_event_that_is_not_a_customer_message(tracker: TrackerStore, session: Session) -> None:
    bot_event = tracker.insert("c1", "bot", {"event": "bot", "text": "hi"})
    for event_id in (bot_event, 99999):
        with pytest.raises(NotFoundError):
            label_message(session, tracker.engine, event_id, "greet", actor="a", now=NOW)


def test_export_is_rasa_training_data_with_every_label_under_its_intent(
    tracker: TrackerStore, session: Session
) -> None:
    awkward = {
        "plain": "no signal at the bach",
        "yaml": "key: value # not a comment",
        "dash": "- starts with a dash",
        "quote": 'it\'s "broken"',
        "newline": "line one\nline two\r\n\tline three",
        "control": "nul\x00 and bell\x07",
        "emoji": "📵📵 kia ora",
    }
    for n, message in enumerate(awkward.values()):
        event = tracker.user(message, "greet", 0.2, sender=f"c{n}")
        label_message(session, tracker.engine, event, INTENTS[n], actor="a", now=NOW)
    data = yaml.safe_load(export_yaml(session))
    assert data["version"] == "3.1"
    exported = {item["intent"]: [line[2:] for line in item["examples"].splitlines()] for item in data["nlu"]}
    assert exported == {INTENTS[n]: [clean(m)] for n, m in enumerate(awkward.values())}
    assert exported[INTENTS[4]] == ["line one line two line three"]
    assert exported[INTENTS[5]] == ["nul and bell"]


def test_export_of_no_labels_is_still_valid_training_data(session: Session) -> None:
    assert yaml.safe_load(export_yaml(session)) == {"version": "3.1", "nlu": []}


def test_cli_exports_labels_to_a_file_and_reports_an_unwritable_path(
    tmp_path: Path, tracker: TrackerStore, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.db.engine import make_engine, make_session_factory
    from bot.db.migrate import upgrade
    from bot.ops.cli import main

    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    engine = make_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    upgrade(engine)
    with make_session_factory(engine).begin() as session:
        label_message(
            session, tracker.engine, tracker.user("wifi ded", "greet", 0.2), "connectivity", actor="a", now=NOW
        )
    out = tmp_path / "nlu" / "reviewed.yml"
    assert main(["review", "export", "--out", str(out)]) == 0
    assert yaml.safe_load(out.read_text(encoding="utf-8"))["nlu"] == [
        {"intent": "connectivity", "examples": "- wifi ded\n"}
    ]
    assert main(["review", "stats"]) == 0
    assert "connectivity         1" in capsys.readouterr().out
    blocked = tmp_path / "file"
    blocked.write_text("", encoding="utf-8")
    assert main(["review", "export", "--out", str(blocked / "x.yml")]) == 2  # a file where a folder should be
    assert "cannot write" in capsys.readouterr().err


def test_an_ignored_message_leaves_the_list_and_is_never_exported(tracker: TrackerStore, session: Session) -> None:
    spam = tracker.user("WIN A FREE CRUISE click here", "out_of_scope", 0.4)
    tracker.user("how do i top up from overseas", "top_up", 0.5)
    label_message(session, tracker.engine, spam, IGNORE, actor="a", now=NOW)
    assert texts(tracker, session) == ["how do i top up from overseas"]
    assert yaml.safe_load(export_yaml(session))["nlu"] == []
    assert label_counts(session) == {IGNORE: 1}
