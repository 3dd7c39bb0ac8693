"""The console review page over real HTTP: uncertain messages shown escaped, labelled with CSRF, bad input refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select

from bot.core.settings import load_settings
from bot.db.engine import make_session_factory
from bot.db.models import NluLabel, StaffRole
from bot.people.staff import create_user
from bot.rasa_api import RasaApi
from bot.web.app import create_app
from tests.bot.conversation.test_review import TrackerStore
from tests.conftest import NOW, serve_in_thread
from tests.web.test_console import PASSWORD, XSS, FakeRasa, csrf_of, login


@pytest.fixture
def tracker(tmp_path: Path) -> Iterator[TrackerStore]:
    store = TrackerStore(tmp_path / "tracker.db")
    yield store
    store.engine.dispose()


@pytest.fixture
def console(tmp_path: Path, engine: Engine, tracker: TrackerStore) -> Iterator[str]:
    settings = load_settings(
        {"VAR_DIR": str(tmp_path), "TRACKER_STORE_URL": f"sqlite:///{tmp_path / 'tracker.db'}"},
        dotenv_path=Path("/nonexistent"),
    )
    with make_session_factory(engine).begin() as s:
        create_user(s, "agent", PASSWORD, StaffRole.AGENT, NOW, actor="test")
    app = create_app(
        settings,
        engine,
        clock=lambda: NOW,
        run_sync=False,
        rasa=RasaApi("http://rasa.test", "rasa-test-token-" + "t" * 24, httpx.MockTransport(FakeRasa())),
    )
    with serve_in_thread(app) as url:
        yield url


def labels(engine: Engine) -> list[tuple[str, str]]:
    with make_session_factory(engine)() as s:
        return [(r.text, r.intent) for r in s.scalars(select(NluLabel))]


def test_review_needs_a_login(console: str) -> None:
    response = httpx.get(console + "/console/review")
    assert response.status_code == 303 and response.headers["location"] == "/console/login"
    assert httpx.post(console + "/console/review", data={"event_id": "1", "intent": "greet"}).status_code == 401


def test_an_agent_sees_uncertain_messages_escaped_and_labels_one(
    console: str, engine: Engine, tracker: TrackerStore
) -> None:
    tracker.user("all good thanks", "thank", 0.97)
    event = tracker.user(f"fone wont do the thing {XSS}", "top_up", 0.31)
    client = login(console, "agent")
    page = client.get("/console/review")
    assert page.status_code == 200
    assert "fone wont do the thing" in page.text and "all good thanks" not in page.text
    assert "<script>alert" not in page.text and "&lt;script&gt;" in page.text
    assert "top_up (31%)" in page.text
    saved = client.post(
        "/console/review", data={"csrf": csrf_of(page.text), "event_id": str(event), "intent": "connectivity"}
    )
    assert saved.status_code == 303 and "Labelled" in httpx.URL(saved.headers["location"]).query.decode()
    assert [intent for _, intent in labels(engine)] == ["connectivity"]
    after = client.get("/console/review")
    assert "fone wont do the thing" not in after.text and "1 labelled so far (connectivity 1)" in after.text


def test_labelling_without_the_csrf_token_is_refused(console: str, engine: Engine, tracker: TrackerStore) -> None:
    event = tracker.user("hmm", "greet", 0.2)
    client = login(console, "agent")
    for csrf in (None, "forged"):
        data = {"event_id": str(event), "intent": "greet"} | ({"csrf": csrf} if csrf else {})
        assert client.post("/console/review", data=data).status_code == 403
    assert labels(engine) == []


@pytest.mark.parametrize(
    ("event_id", "intent", "status"),
    [
        ("abc", "greet", 422),
        ("-1", "greet", 422),
        ("99999", "greet", 404),
        ("EVENT", "nlu_fallback", 422),
        ("EVENT", "x" * 65, 422),
        ("EVENT", "greet' OR 1=1 --", 422),
    ],
)
def test_bad_labels_get_a_clear_error_and_save_nothing(
    console: str, engine: Engine, tracker: TrackerStore, event_id: str, intent: str, status: int
) -> None:
    event = tracker.user("hmm", "greet", 0.2)
    client = login(console, "agent")
    token = csrf_of(client.get("/console/review").text)
    data = {"csrf": token, "event_id": event_id.replace("EVENT", str(event)), "intent": intent}
    response = client.post("/console/review", data=data)
    assert response.status_code == status, response.text
    assert "Traceback" not in response.text
    assert labels(engine) == []


def test_an_unreadable_conversation_store_is_reported_not_a_500(console: str, tmp_path: Path) -> None:
    (tmp_path / "tracker.db").write_bytes(b"this is not a database" * 100)
    client = login(console, "agent")
    page = client.get("/console/review")
    assert page.status_code == 200 and "cannot be read right now" in page.text
    saved = client.post("/console/review", data={"csrf": csrf_of(page.text), "event_id": "1", "intent": "greet"})
    assert saved.status_code == 303 and "err=1" in saved.headers["location"]


def test_an_agent_ignores_a_message_that_is_not_a_request(console: str, engine: Engine, tracker: TrackerStore) -> None:
    event = tracker.user("asdfghjkl", "greet", 0.2)
    client = login(console, "agent")
    page = client.get("/console/review")
    assert 'value="(ignore)"' in page.text
    saved = client.post(
        "/console/review", data={"csrf": csrf_of(page.text), "event_id": str(event), "intent": "(ignore)"}
    )
    assert saved.status_code == 303 and "Ignored" in httpx.URL(saved.headers["location"]).query.decode()
    assert labels(engine) == [("asdfghjkl", "(ignore)")]
    assert "asdfghjkl" not in client.get("/console/review").text
