"""Every write route of the console, the admin API and the webhooks leaves an audit row.

The table below is the inventory: a write route added without a row here fails the first
test, and a write that stops recording its audit row fails the second.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select

from bot.core.settings import load_settings
from bot.db.engine import make_session_factory
from bot.db.models import AuditEntry, Escalation, StaffRole, StaffUser, Urgency
from bot.people import operators
from bot.people.escalations import create_escalation
from bot.people.staff import create_user
from bot.rasa_api import RasaApi
from bot.web.app import create_app
from tests.bot.conversation.test_review import TrackerStore
from tests.conftest import NOW, serve_in_thread
from tests.web.test_console import PASSWORD, FakeRasa, csrf_of, login
from tests.web.test_route_inventory import routes

HOOK_SECRET = "hook-" + "q" * 30
COMPONENT_WEBHOOK = {"component": {"id": "x", "name": "Roaming"}, "component_update": {"new_status": "major_outage"}}


class World:
    """A served app with an admin, an agent, a telegram escalation, a tracker event and an API token."""

    def __init__(self, url: str, engine: Engine, demo: int, event_id: int, token: str) -> None:
        self.url, self.engine, self.demo, self.event_id, self.token = url, engine, demo, event_id, token
        self.admin = login(url, "admin")
        self.csrf = csrf_of(self.admin.get("/console/staff").text)

    def escalation(self) -> int:
        with make_session_factory(self.engine)() as s:
            return s.scalars(select(Escalation.id)).one()

    def agent_id(self) -> int:
        with make_session_factory(self.engine)() as s:
            return s.scalars(select(StaffUser.id).where(StaffUser.username == "agent")).one()

    def form(self, path: str, **data: Any) -> httpx.Response:
        return self.admin.post(path, data={"csrf": self.csrf, **data})

    def api(self, method: str, path: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.request(method, self.url + path, json=body, headers={"Authorization": f"Bearer {self.token}"})


def _login(w: World) -> httpx.Response:
    form = httpx.get(w.url + "/console/login")
    data = {"username": "agent", "password": PASSWORD, "csrf": csrf_of(form.text)}
    return httpx.post(w.url + "/console/login", data=data, cookies=form.cookies)


def _logout(w: World) -> httpx.Response:
    agent = login(w.url, "agent")
    return agent.post("/console/logout", data={"csrf": csrf_of(agent.get("/console").text)})


# (method, path) -> how to call it so that it succeeds, and the audit action it must record.
WRITES: dict[tuple[str, str], tuple[Callable[[World], httpx.Response], str]] = {
    ("POST", "/console/login"): (_login, "login"),
    ("POST", "/console/logout"): (_logout, "logout"),
    ("POST", "/console/escalations/{escalation_id}/assign"): (
        lambda w: w.form(f"/console/escalations/{w.escalation()}/assign"),
        "escalation_assign",
    ),
    ("POST", "/console/escalations/{escalation_id}/note"): (
        lambda w: w.form(f"/console/escalations/{w.escalation()}/note", text="Called back."),
        "escalation_note",
    ),
    ("POST", "/console/escalations/{escalation_id}/status"): (
        lambda w: w.form(f"/console/escalations/{w.escalation()}/status", status="resolved"),
        "escalation_status",
    ),
    ("POST", "/console/escalations/{escalation_id}/reply"): (
        lambda w: w.form(f"/console/escalations/{w.escalation()}/reply", text="We are on it."),
        "escalation_reply",
    ),
    ("POST", "/console/escalations/{escalation_id}/handback"): (
        lambda w: w.form(f"/console/escalations/{w.escalation()}/handback"),
        "escalation_handback",
    ),
    ("POST", "/console/escalations/bulk"): (
        lambda w: w.form(
            "/console/escalations/bulk", action="note", token="bulk-1", ids=str(w.escalation()), text="Hi."
        ),
        "escalation_note",
    ),
    ("POST", "/console/incidents/{incident_id}/escalations/close"): (
        lambda w: w.form(f"/console/incidents/{w.demo}/escalations/close", message="Top-ups work again."),
        "escalation_close_with_incident",
    ),
    ("POST", "/console/review"): (
        lambda w: w.form("/console/review", event_id=str(w.event_id), intent="top_up"),
        "nlu.label",
    ),
    ("POST", "/console/incidents"): (
        lambda w: w.form("/console/incidents", title="Email down", message="Looking into it.", services="email"),
        "create",
    ),
    ("POST", "/console/incidents/{incident_id}/update"): (
        lambda w: w.form(f"/console/incidents/{w.demo}/update", message="Still on it.", status="identified"),
        "post_update",
    ),
    ("POST", "/console/incidents/{incident_id}/impact"): (
        lambda w: w.form(f"/console/incidents/{w.demo}/impact", service="top_up", status="degraded_performance"),
        "set_impact",
    ),
    ("POST", "/console/incidents/{incident_id}/resolve"): (
        lambda w: w.form(f"/console/incidents/{w.demo}/resolve", message="All fixed."),
        "resolve",
    ),
    ("POST", "/console/staff"): (
        lambda w: w.form("/console/staff", username="new.agent", password=PASSWORD, role="agent"),
        "staff_create",
    ),
    ("POST", "/console/staff/{user_id}/disable"): (
        lambda w: w.form(f"/console/staff/{w.agent_id()}/disable"),
        "staff_disable",
    ),
    ("POST", "/api/v1/incidents"): (
        lambda w: w.api("POST", "/api/v1/incidents", {"title": "Roaming down", "message": "Investigating."}),
        "create",
    ),
    ("PATCH", "/api/v1/incidents/{incident_id}"): (
        lambda w: w.api("PATCH", f"/api/v1/incidents/{w.demo}", {"cause": "A failed change."}),
        "edit",
    ),
    ("PUT", "/api/v1/incidents/{incident_id}/services/{service_key}"): (
        lambda w: w.api("PUT", f"/api/v1/incidents/{w.demo}/services/email", {"status": "partial_outage"}),
        "set_impact",
    ),
    ("POST", "/api/v1/incidents/{incident_id}/updates"): (
        lambda w: w.api("POST", f"/api/v1/incidents/{w.demo}/updates", {"message": "Progress."}),
        "post_update",
    ),
    ("POST", "/api/v1/incidents/{incident_id}/resolve"): (
        lambda w: w.api("POST", f"/api/v1/incidents/{w.demo}/resolve", {"message": "Fixed."}),
        "resolve",
    ),
    ("POST", "/api/v1/incidents/{incident_id}/escalations/close"): (
        lambda w: w.api("POST", f"/api/v1/incidents/{w.demo}/escalations/close", {"message": "Top-ups work again."}),
        "escalation_close_with_incident",
    ),
    ("POST", "/hooks/statuspage/{secret}"): (
        lambda w: httpx.post(f"{w.url}/hooks/statuspage/{HOOK_SECRET}", json=COMPONENT_WEBHOOK),
        "webhook",
    ),
    ("POST", "/hooks/statuspage"): (
        lambda w: httpx.post(
            f"{w.url}/hooks/statuspage", json=COMPONENT_WEBHOOK, headers={"X-Webhook-Secret": HOOK_SECRET}
        ),
        "webhook",
    ),
}
NOT_WRITES = {("POST", "/chat/send")}  # the conversation is Rasa's to store, not ours


@pytest.fixture
def served(tmp_path: Path, engine: Engine, demo: int) -> Iterator[tuple[Any, World]]:
    tracker = TrackerStore(tmp_path / "tracker.db")
    event_id = tracker.user("cant recharge my prepay", "check_outage", 0.3)
    settings = load_settings(
        {
            "VAR_DIR": str(tmp_path),
            "NOTIFY_PUSH_CHANNELS": "telegram",
            "TRACKER_STORE_URL": f"sqlite:///{tmp_path / 'tracker.db'}",
            "STATUSPAGE_WEBHOOK_SECRET": HOOK_SECRET,
        },
        dotenv_path=Path("/nonexistent"),
    )
    with make_session_factory(engine).begin() as s:
        create_user(s, "admin", PASSWORD, StaffRole.ADMIN, NOW, actor="test")
        create_user(s, "agent", PASSWORD, StaffRole.AGENT, NOW, actor="test")
        create_escalation(
            s,
            conversation_id="tg-1",
            channel="telegram",
            contact="021 123 4567",
            need="Need calls diverted",
            urgency=Urgency.TIME_CRITICAL,
            trigger="request_human",
            now=NOW,
            service_keys=["top_up"],  # linked to the demo incident, which has top-ups down
        )
        token = operators.create_token(s, "Aroha (ops)", NOW, actor="test")
    rasa = RasaApi("http://rasa.test", "rasa-test-token-" + "t" * 24, httpx.MockTransport(FakeRasa()))
    app = create_app(settings, engine, clock=lambda: NOW, run_sync=False, rasa=rasa)
    with serve_in_thread(app) as url:
        yield app, World(url, engine, demo, event_id, token)
    tracker.engine.dispose()


def audit_rows(engine: Engine, action: str) -> int:
    with make_session_factory(engine)() as s:
        return int(s.scalar(select(func.count(AuditEntry.id)).where(AuditEntry.action == action)) or 0)


def test_every_write_route_is_on_the_list(served: tuple[Any, World]) -> None:
    app, _ = served
    writes = {(m, p) for m, p in routes(app) if m in ("POST", "PUT", "PATCH", "DELETE")}
    assert writes - NOT_WRITES == set(WRITES)


@pytest.mark.parametrize("route", list(WRITES), ids=lambda r: f"{r[0]} {r[1]}")
def test_each_write_route_records_its_audit_row(served: tuple[Any, World], route: tuple[str, str]) -> None:
    _, world = served
    call, action = WRITES[route]
    before = audit_rows(world.engine, action)
    response = call(world)
    assert response.status_code in (200, 201, 202, 303), f"{route}: {response.status_code} {response.text[:200]}"
    assert "err=1" not in response.headers.get("location", ""), f"{route}: {response.headers.get('location')}"
    assert audit_rows(world.engine, action) == before + 1, f"{route} left no {action!r} audit row"
