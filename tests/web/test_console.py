"""The staff console over real HTTP: login, CSRF, roles, brute force, escaping, and the work itself.
Rasa's HTTP API is replaced by an httpx.MockTransport here; the browser test uses the real one."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from bot.core.settings import Settings, load_settings
from bot.db.engine import make_session_factory
from bot.db.models import Escalation, EscalationStatus, Incident, StaffRole, Urgency
from bot.people.escalations import create_escalation
from bot.people.staff import MAX_FAILURES, create_user
from bot.rasa_api import RasaApi
from bot.web.app import create_app
from tests.conftest import NOW, serve_in_thread
from tests.escalation_rows import escalate

PASSWORD = "correct horse battery"
XSS = "<script>alert('pwned')</script><img src=x onerror=alert(1)>"


class FakeRasa:
    """Records what the console asked of Rasa's API and answers like Rasa would."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []
        self.down = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("down", request=request)
        body = json.loads(request.content) if request.content else None
        self.calls.append((request.method, request.url.path, body))
        if request.method == "GET":
            return httpx.Response(
                200,
                json={
                    "events": [
                        {
                            "event": "user",
                            "text": XSS,
                            "timestamp": 1.0,
                            "parse_data": {"intent": {"name": "request_human"}, "entities": []},
                        },
                        {"event": "bot", "text": "I'll pass this to a person", "timestamp": 2.0},
                    ]
                },
            )
        return httpx.Response(200, json={})


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        {
            "VAR_DIR": str(tmp_path),
            "NOTIFY_PUSH_CHANNELS": "telegram",
            "TRACKER_STORE_URL": f"sqlite:///{tmp_path / 'no-tracker.db'}",
        },
        dotenv_path=Path("/nonexistent"),
    )


@pytest.fixture
def rasa() -> FakeRasa:
    return FakeRasa()


@pytest.fixture
def console(settings: Settings, engine: Engine, demo: int, rasa: FakeRasa) -> Iterator[str]:
    with make_session_factory(engine).begin() as s:
        create_user(s, "admin", PASSWORD, StaffRole.ADMIN, NOW, actor="test")
        create_user(s, "agent", PASSWORD, StaffRole.AGENT, NOW, actor="test", display_name="Tama")
        for conversation, channel, contact in (("web-1", "rest", "021 123 4567"), ("tg-1", "telegram", "021 765 4321")):
            create_escalation(
                s,
                conversation_id=conversation,
                channel=channel,
                contact=contact,
                need=f"Need calls diverted {XSS}",
                urgency=Urgency.TIME_CRITICAL,
                trigger="request_human",
                now=NOW,
                snapshot={"transcript": [{"who": "customer", "text": "snapshot text"}], "incidents": []},
            )
    app = create_app(
        settings,
        engine,
        clock=lambda: NOW,
        run_sync=False,
        rasa=RasaApi("http://rasa.test", "rasa-test-token-" + "t" * 24, httpx.MockTransport(rasa)),
    )
    with serve_in_thread(app) as url:
        yield url


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def login(url: str, username: str, password: str = PASSWORD) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=10)
    form = client.get("/console/login")
    response = client.post(
        "/console/login", data={"username": username, "password": password, "csrf": csrf_of(form.text)}
    )
    assert response.status_code == 303, response.text
    return client


def escalation_id(engine: Engine, conversation: str) -> int:
    with make_session_factory(engine)() as s:
        return s.scalars(select(Escalation.id).where(Escalation.conversation_id == conversation)).one()


def test_pages_need_a_login(console: str) -> None:
    for path in ("/console", "/console/overview", "/console/escalations/1", "/console/incidents", "/console/staff"):
        response = httpx.get(console + path)
        assert response.status_code == 303 and response.headers["location"] == "/console/login", path
    assert httpx.post(console + "/console/escalations/1/note", data={"text": "x"}).status_code == 401


def test_login_cookie_is_httponly_and_strict(console: str) -> None:
    client = httpx.Client(base_url=console)
    form = client.get("/console/login")
    response = client.post(
        "/console/login", data={"username": "agent", "password": PASSWORD, "csrf": csrf_of(form.text)}
    )
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert response.headers["content-security-policy"].startswith("default-src 'self'")


def test_login_without_its_csrf_token_is_refused(console: str) -> None:
    response = httpx.post(console + "/console/login", data={"username": "agent", "password": PASSWORD})
    assert response.status_code == 403


def test_brute_force_is_locked_out(console: str) -> None:
    client = httpx.Client(base_url=console)
    token = csrf_of(client.get("/console/login").text)
    for _ in range(MAX_FAILURES):
        wrong = client.post("/console/login", data={"username": "agent", "password": "guess" * 3, "csrf": token})
        assert wrong.status_code == 401 and "Wrong username or password" in wrong.text
    locked = client.post("/console/login", data={"username": "agent", "password": PASSWORD, "csrf": token})
    assert locked.status_code == 429 and "too many failed logins" in locked.text


def test_queue_and_transcript_escape_customer_text(console: str, engine: Engine) -> None:
    client = login(console, "agent")
    queue = client.get("/console")
    assert queue.status_code == 200 and "ESC-" in queue.text and "time_critical" in queue.text
    assert "<script>alert" not in queue.text and "&lt;script&gt;" in queue.text
    page = client.get(f"/console/escalations/{escalation_id(engine, 'web-1')}")
    assert page.status_code == 200
    assert "<script>alert" not in page.text and "<img src=x" not in page.text
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in page.text
    assert "live from Rasa" in page.text and "intent request_human" in page.text
    assert "0211234567" in page.text  # contact details: logged-in staff only
    assert 'href="tel:0211234567"' in page.text  # one tap to call the customer back


def test_transcript_falls_back_to_the_snapshot_when_rasa_is_down(console: str, engine: Engine, rasa: FakeRasa) -> None:
    rasa.down = True
    page = login(console, "agent").get(f"/console/escalations/{escalation_id(engine, 'web-1')}")
    assert "snapshot text" in page.text and "Rasa unreachable" in page.text


def test_forms_without_a_csrf_token_are_refused(console: str, engine: Engine) -> None:
    client = login(console, "agent")
    eid = escalation_id(engine, "web-1")
    assert client.post(f"/console/escalations/{eid}/note", data={"text": "hi"}).status_code == 403
    assert client.post(f"/console/escalations/{eid}/note", data={"text": "hi", "csrf": "forged"}).status_code == 403


def test_a_customer_reply_no_one_has_read_is_marked_until_someone_opens_it(
    console: str, engine: Engine, tmp_path: Path
) -> None:
    from datetime import timedelta

    from tests.tracker_table import TrackerTable

    tracker = TrackerTable(tmp_path / "no-tracker.db")
    with make_session_factory(engine).begin() as s:
        for e in s.scalars(select(Escalation)):
            e.created_at = NOW - timedelta(minutes=10)
    tracker.insert("web-1", "user", {"event": "user", "text": "any news?"}, at=(NOW - timedelta(minutes=5)).timestamp())
    notice = {"event": "user", "text": "EXTERNAL: EXTERNAL_incident_update"}  # the notifier, not the customer
    tracker.insert(
        "tg-1", "user", notice, at=(NOW - timedelta(minutes=5)).timestamp(), intent="EXTERNAL_incident_update"
    )
    client = login(console, "agent")
    rows = {
        r.split('href="/console/escalations/')[1].split('"')[0]: r for r in client.get("/console").text.split("<tr")[2:]
    }
    web, tg = escalation_id(engine, "web-1"), escalation_id(engine, "tg-1")
    assert "new reply" in rows[str(web)] and "new reply" not in rows[str(tg)]
    page = client.get(f"/console/escalations/{web}").text
    assert "New reply from the customer" in page
    assert "New reply from the customer" not in client.get(f"/console/escalations/{web}").text  # now read
    assert "new reply" not in client.get("/console").text


def test_a_customer_writing_moves_the_live_tokens_of_the_rows_and_the_page_that_show_them(
    console: str, engine: Engine, tmp_path: Path
) -> None:
    from tests.tracker_table import TrackerTable

    tracker = TrackerTable(tmp_path / "no-tracker.db")
    client = login(console, "agent")
    web, tg = escalation_id(engine, "web-1"), escalation_id(engine, "tg-1")
    shown = client.get(f"/console/queue/changes?ids={web},{tg}").json()["version"]
    only_tg = client.get(f"/console/queue/changes?ids={tg}").json()["version"]
    page = client.get(f"/console/escalations/{web}/changes").json()["version"]
    tracker.insert("web-1", "user", {"event": "user", "text": "it's still down"}, at=NOW.timestamp())
    assert client.get(f"/console/queue/changes?ids={web},{tg}").json()["version"] != shown
    assert client.get(f"/console/queue/changes?ids={tg}").json()["version"] == only_tg  # not a row on show
    assert client.get(f"/console/escalations/{web}/changes").json()["version"] != page
    for junk in ("x,,-1", ",".join(["9"] * 5000), "1%00"):  # ignored, never an error
        assert client.get(f"/console/queue/changes?ids={junk}").status_code == 200


def test_the_queue_and_escalation_page_show_names_not_ids(console: str, engine: Engine) -> None:
    with make_session_factory(engine).begin() as s:
        create_escalation(
            s,
            conversation_id="web-top-up",
            channel="webchat",
            contact="021 555 0100",
            need="Top-ups fail",
            urgency=Urgency.NORMAL,
            trigger="request_human",
            now=NOW,
            service_keys=["top_up"],
        )
    client = login(console, "agent")
    linked = client.get(f"/console/escalations/{escalation_id(engine, 'web-top-up')}").text
    assert "Back-end systems outage after failed maintenance</a> (Prepaid top-up" in linked
    assert "service Prepaid top-up" in linked
    assert "Back-end systems outage" in client.get("/console").text  # the incident by its title in the queue
    eid = escalation_id(engine, "web-1")
    token = csrf_of(client.get(f"/console/escalations/{eid}").text)
    client.post(f"/console/escalations/{eid}/assign", data={"csrf": token})
    queue_html, page_html = client.get("/console").text, client.get(f"/console/escalations/{eid}").text
    assert ">#" not in queue_html and ">#" not in page_html  # incidents by title, never by number
    assert "assigned to Tama" in page_html and "web-1" not in page_html  # the staff name, no conversation id
    assert "service not named" in page_html


def test_a_note_over_the_limit_is_refused_in_words_on_a_page(console: str, engine: Engine) -> None:
    client = login(console, "agent")
    eid = escalation_id(engine, "web-1")
    token = csrf_of(client.get(f"/console/escalations/{eid}").text)
    refused = client.post(f"/console/escalations/{eid}/note", data={"csrf": token, "text": "x" * 6000})
    assert refused.status_code == 422
    assert "a note is limited to 5000 characters" in refused.text and "<h1>" in refused.text


def test_agent_works_an_escalation_with_escaped_notes(console: str, engine: Engine) -> None:
    client = login(console, "agent")
    eid = escalation_id(engine, "web-1")
    token = csrf_of(client.get(f"/console/escalations/{eid}").text)
    assert client.post(f"/console/escalations/{eid}/assign", data={"csrf": token}).status_code == 303
    assert (
        client.post(f"/console/escalations/{eid}/note", data={"csrf": token, "text": f"called back {XSS}"}).status_code
        == 303
    )
    assert (
        client.post(f"/console/escalations/{eid}/status", data={"csrf": token, "status": "resolved"}).status_code == 303
    )
    page = client.get(f"/console/escalations/{eid}").text
    assert "called back &lt;script&gt;" in page and "<script>alert" not in page
    with make_session_factory(engine)() as s:
        row = s.get(Escalation, eid)
        assert row is not None and row.status is EscalationStatus.RESOLVED and row.assignee is not None
        assert row.assignee.username == "agent"
    bad = client.post(f"/console/escalations/{eid}/status", data={"csrf": token, "status": "exploded"})
    assert bad.status_code == 422 and "unknown status" in bad.text


def test_reply_pushes_through_rasa_and_pauses_then_hands_back(console: str, engine: Engine, rasa: FakeRasa) -> None:
    client = login(console, "agent")
    eid = escalation_id(engine, "tg-1")
    token = csrf_of(client.get(f"/console/escalations/{eid}").text)
    assert (
        client.post(f"/console/escalations/{eid}/reply", data={"csrf": token, "text": "Hi, Tama here."}).status_code
        == 303
    )
    posts = [(path, body) for method, path, body in rasa.calls if method == "POST"]
    assert posts == [
        (
            "/conversations/tg-1/tracker/events",
            [
                {"event": "slot", "name": "staff_reply", "value": "Hi, Tama here."},
                {"event": "slot", "name": "staff_name", "value": "Tama"},  # the reply is signed "Tama (support)"
            ],
        ),
        ("/conversations/tg-1/execute", {"name": "utter_staff_reply"}),
        ("/conversations/tg-1/tracker/events", {"event": "pause"}),
    ]
    with make_session_factory(engine)() as s:
        assert s.get(Escalation, eid).paused is True  # type: ignore[union-attr]
    assert client.post(f"/console/escalations/{eid}/handback", data={"csrf": token}).status_code == 303
    assert rasa.calls[-1][1:] == ("/conversations/tg-1/tracker/events", {"event": "resume"})
    rest = escalation_id(engine, "web-1")
    refused = client.post(f"/console/escalations/{rest}/reply", data={"csrf": token, "text": "hello"})
    assert refused.status_code == 422 and "cannot receive messages" in refused.text


def test_agents_cannot_reach_admin_pages(console: str) -> None:
    client = login(console, "agent")
    token = csrf_of(client.get("/console").text)
    assert client.get("/console/incidents").status_code == 403
    assert client.get("/console/staff").status_code == 403
    denied = client.post(
        "/console/staff", data={"csrf": token, "username": "mallory", "password": PASSWORD, "role": "admin"}
    )
    assert denied.status_code == 403
    assert client.get("/api/v1/incidents").status_code == 401  # a console session is not an API token


def test_admin_manages_incidents_through_the_service_functions(console: str, engine: Engine, demo: int) -> None:
    client = login(console, "admin")
    token = csrf_of(client.get("/console/incidents").text)
    posted = client.post(
        f"/console/incidents/{demo}/update",
        data={"csrf": token, "message": "Top-ups back soon.", "status": "monitoring"},
    )
    assert posted.status_code == 303
    assert (
        client.post(
            f"/console/incidents/{demo}/impact", data={"csrf": token, "service": "top_up", "status": "operational"}
        ).status_code
        == 303
    )
    resolved = client.post(f"/console/incidents/{demo}/resolve", data={"csrf": token, "message": "All fixed."})
    assert resolved.status_code == 303
    with make_session_factory(engine)() as s:
        incident = s.get(Incident, demo)
        assert incident is not None and incident.status.value == "resolved"
    trail = [
        row for row in __import__("bot.db.audit", fromlist=["x"]).audit_trail(make_session_factory(engine)(), demo)
    ]
    assert {e.actor for e in trail} == {"console:admin", "test"}  # "test" loaded the demo scenario
    past = client.post(f"/console/incidents/{demo}/update", data={"csrf": token, "message": "x"})
    assert past.status_code == 422 and "resolved" in past.text
    created = client.post(
        "/console/staff", data={"csrf": token, "username": "new.agent", "password": PASSWORD, "role": "agent"}
    )
    assert created.status_code == 303


def test_overview_renders_figures_and_a_chart(console: str) -> None:
    page = login(console, "agent").get("/console/overview")
    assert page.status_code == 200 and "<svg" in page.text and "escalation rate" in page.text


HUGE = "99999999999999999999"


@pytest.mark.parametrize(
    ("method", "path", "form"),
    [
        ("GET", f"/console/escalations/{HUGE}", None),
        ("GET", "/console/escalations/-1", None),
        ("POST", f"/console/escalations/{HUGE}/note", {"text": "x"}),
        ("POST", f"/console/escalations/{HUGE}/assign", {}),
        ("POST", "/console/review", {"event_id": HUGE, "intent": "check_outage"}),
        ("POST", f"/console/incidents/{HUGE}/resolve", {"message": "x"}),
        ("POST", f"/console/staff/{HUGE}/disable", {}),
        ("GET", "/console?older_than=" + HUGE, None),
    ],
)
def test_out_of_range_ids_get_4xx_and_the_connection_lives_on(
    console: str, method: str, path: str, form: dict[str, str] | None
) -> None:
    """A number no row can have is refused (404/422, or the queue's own message), never a 500,
    and the same keep-alive connection answers the next request."""
    client = login(console, "admin")
    data = None if form is None else {**form, "csrf": csrf_of(client.get("/console").text)}
    response = client.request(method, path, data=data)
    assert response.status_code in (200, 404, 422), response.text
    if path.startswith("/console?"):
        assert "Unknown filter value" in response.text
    assert client.get("/console").status_code == 200


def test_the_update_form_sets_the_eta_and_promises_the_next_update(console: str, engine: Engine, demo: int) -> None:
    """Times are typed in the assistant's time zone (Pacific/Auckland: 25 Nov 14:30 is 01:30 UTC)."""
    admin = login(console, "admin")
    token = csrf_of(admin.get("/console/incidents").text)
    posted = admin.post(
        f"/console/incidents/{demo}/update",
        data={
            "csrf": token,
            "message": "Fix in testing.",
            "eta": "2026-11-25T18:00",
            "next_update": "2026-11-25T15:30",
        },
    )
    assert posted.status_code == 303 and "err=1" not in posted.headers["location"]
    with make_session_factory(engine)() as s:
        incident = s.get(Incident, demo)
        assert incident is not None and incident.eta is not None and incident.next_update_at is not None
        assert incident.eta.isoformat() == "2026-11-25T05:00:00+00:00"
        assert incident.next_update_at.isoformat() == "2026-11-25T02:30:00+00:00"
    cleared = admin.post(
        f"/console/incidents/{demo}/update", data={"csrf": token, "message": "No time.", "clear_eta": "1"}
    )
    assert cleared.status_code == 303
    with make_session_factory(engine)() as s:
        incident = s.get(Incident, demo)
        assert incident is not None and incident.eta is None and incident.next_update_at is None
    bad = admin.post(f"/console/incidents/{demo}/update", data={"csrf": token, "message": "x", "eta": "tomorrowish"})
    assert bad.status_code == 422 and "the ETA is not a date and time" in bad.text
    past = admin.post(
        f"/console/incidents/{demo}/update", data={"csrf": token, "message": "x", "eta": "2026-11-20T09:00"}
    )
    assert past.status_code == 422 and "eta is in the past" in past.text


def test_incidents_page_shows_an_overdue_update_and_services_failing_after_restore(
    console: str, engine: Engine, demo: int
) -> None:
    from datetime import timedelta

    from bot.incidents.reports import report_still_broken

    with make_session_factory(engine).begin() as s:
        incident = s.get(Incident, demo)
        assert incident is not None
        incident.next_update_at = NOW - timedelta(minutes=40)
        for n in range(6):  # one more than the default limit of 5 an hour, each from its own address
            report_still_broken(s, f"c{n}", "webchat", "voicemail", demo, NOW - timedelta(minutes=n), f"{n:016x}")
        report_still_broken(s, "c0", "webchat", "voicemail", demo, NOW)  # the same customer again: not counted
        for n in range(6, 16):  # ten more from one address: five count, five are held back
            report_still_broken(s, f"c{n}", "webchat", "voicemail", demo, NOW, "f" * 16)
    admin = login(console, "admin")
    page = admin.get("/console/incidents").text
    assert "is overdue" in page and "40 minutes ago" in page
    assert "Voicemail: 11 customers say it still fails after restore in the last 60 minutes" in page
    overview = admin.get("/console/overview").text
    assert "Reports after restore" in overview and "<td>Voicemail</td><td>11</td><td>5</td>" in overview


# --- the queue at outage scale, live, and bulk work (issue 21) --------------------------------


def test_queue_shows_totals_pages_and_a_safety_case_first(console: str, engine: Engine) -> None:
    with make_session_factory(engine).begin() as s:
        for n in range(60):
            escalate(s, f"bulk-{n}", f"0216{n:06d}", services=["top_up"])
        escalate(s, "safe-1", "0217000001", urgency=Urgency.SAFETY, need="Dad's medical alarm runs on this line")
    client = login(console, "agent")
    html = client.get("/console").text
    assert "63</strong> waiting in all" in html and "1 safety" in html and "page 1 of 2" in html
    first_row = re.search(r'<tr data-id="\d+">.*?ESC-(\d+)', html, re.S)
    assert first_row and html.index("Dad&#39;s medical alarm") < html.index("Top-up failed")
    assert "Next page" in html and "Previous page" not in html
    second = client.get("/console?page=2").text
    assert "page 2 of 2" in second and "Dad&#39;s medical alarm" not in second
    rows = client.get("/console/queue/rows?urgency=safety").text
    assert "<html" not in rows and rows.count('<tr data-id="') == 1


def test_the_change_token_moves_when_a_case_arrives(console: str, engine: Engine) -> None:
    client = login(console, "agent")
    before = client.get("/console/queue/changes").json()
    assert before["newest_safety"] is None and before["waiting"] == 2
    with make_session_factory(engine).begin() as s:
        escalate(s, "safe-2", "0217000002", urgency=Urgency.SAFETY, need="I don't feel safe at home")
    after = client.get("/console/queue/changes").json()
    assert after["version"] != before["version"] and after["safety_waiting"] == 1
    assert after["newest_safety"]["reference"].startswith("ESC-")
    eid = escalation_id(engine, "web-1")
    token = client.get(f"/console/escalations/{eid}/changes").json()["version"]
    client.post(f"/console/escalations/{eid}/note", data={"csrf": csrf_of(client.get("/console").text), "text": "x"})
    assert client.get(f"/console/escalations/{eid}/changes").json()["version"] != token


def test_bulk_note_to_all_matching_runs_once_per_token(console: str, engine: Engine) -> None:
    client = login(console, "agent")
    csrf = csrf_of(client.get("/console").text)
    form = {"csrf": csrf, "token": "form-token-1", "action": "note", "scope": "all", "text": "We're on it."}
    first = client.post("/console/escalations/bulk", data=form)
    assert first.status_code == 303 and "2%20changed" in first.headers["location"]
    again = client.post("/console/escalations/bulk", data=form)  # a double click
    assert "already%20carried%20out" in again.headers["location"]
    with make_session_factory(engine)() as s:
        notes = [n.text for e in s.scalars(select(Escalation)) for n in e.notes]
    assert notes == ["We're on it.", "We're on it."]


def test_bulk_reply_goes_only_to_channels_that_can_receive_it(console: str, engine: Engine, rasa: FakeRasa) -> None:
    client = login(console, "agent")
    csrf = csrf_of(client.get("/console").text)
    ids = [str(escalation_id(engine, "web-1")), str(escalation_id(engine, "tg-1"))]
    form = {"csrf": csrf, "token": "form-token-2", "action": "reply", "ids": ids, "text": "Back soon."}
    done = client.post("/console/escalations/bulk", data=form)
    assert "1%20changed" in done.headers["location"] and "1%20could%20not%20be%20sent" in done.headers["location"]
    assert {p.split("/")[2] for m, p, _ in rasa.calls if m == "POST"} == {"tg-1"}  # none to the REST customer


@pytest.mark.parametrize(
    "form",
    [
        {"action": "explode", "ids": "1"},
        {"action": "note", "ids": "not-a-number", "text": "x"},
        {"action": "status", "ids": "1", "new_status": "gone"},
        {"action": "note", "scope": "all", "text": "x", "f_sort": "random"},
    ],
)
def test_bad_bulk_requests_get_a_clear_4xx(console: str, form: dict[str, str]) -> None:
    client = login(console, "agent")
    data = {"csrf": csrf_of(client.get("/console").text), "token": "t-" + form["action"], **form}
    assert client.post("/console/escalations/bulk", data=data).status_code == 422


def test_admin_tells_and_closes_an_incidents_escalations(console: str, engine: Engine, demo: int) -> None:
    with make_session_factory(engine).begin() as s:
        escalate(s, "tg-linked", "0217000003", channel="telegram", services=["top_up"])
    client = login(console, "admin")
    page = client.get("/console/incidents").text
    assert "Tell and close" in page and "1</strong> customers wait" in page
    done = client.post(
        f"/console/incidents/{demo}/escalations/close",
        data={"csrf": csrf_of(page), "message": "Top-ups work again."},
    )
    assert done.status_code == 303 and "Closed%201" in done.headers["location"]
    eid = escalation_id(engine, "tg-linked")
    assert "Customer told:" in client.get(f"/console/escalations/{eid}").text
