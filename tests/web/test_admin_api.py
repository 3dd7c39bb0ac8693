"""The admin API over real HTTP on loopback: tokens, validation, audit, webhooks and health."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from bot.core.settings import PROJECT_ROOT, Settings, load_settings
from bot.db.engine import make_engine, make_session_factory
from bot.people import operators
from bot.web.app import create_app
from tests.conftest import NOW, serve_in_thread
from tests.escalation_rows import escalate

SAMPLES = PROJECT_ROOT.parent / "shared" / "statuspage-samples" / "webhooks"
SECRET = "hook-" + "s" * 30


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        {"VAR_DIR": str(tmp_path), "STATUSPAGE_WEBHOOK_SECRET": SECRET}, dotenv_path=Path("/nonexistent")
    )


@pytest.fixture
def token(engine: Engine, demo: int) -> str:
    with make_session_factory(engine).begin() as session:
        return operators.create_token(session, "Aroha (ops)", NOW, actor="test")


@pytest.fixture
def api(settings: Settings, engine: Engine, token: str) -> Iterator[httpx.Client]:
    app = create_app(settings, engine, clock=lambda: NOW, run_sync=False)
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=10) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


def new_incident(**overrides: Any) -> dict[str, Any]:
    return {
        "title": "Voicemail down",
        "message": "Voicemail is not answering.",
        "services": {"voicemail": "major_outage"},
        **overrides,
    }


def test_openapi_schema_lists_every_operation(api: httpx.Client) -> None:
    paths = httpx.get(f"{api.base_url}/openapi.json").json()["paths"]
    assert {
        "/api/v1/incidents",
        "/api/v1/incidents/{incident_id}",
        "/api/v1/incidents/{incident_id}/updates",
        "/api/v1/incidents/{incident_id}/resolve",
        "/api/v1/incidents/{incident_id}/services/{service_key}",
        "/api/v1/incidents/{incident_id}/escalations/close",
        "/api/v1/audit",
        "/hooks/statuspage/{secret}",
        "/health",
    } <= set(paths)


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer wrong", "Basic dXNlcjpwYXNz", "Bearer " + "x" * 5000, "Bearer ' OR 1=1 --"],
)
def test_missing_or_wrong_token_gets_401(api: httpx.Client, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    client = httpx.Client(base_url=api.base_url, headers=headers, timeout=10)
    for method, path in [("GET", "/api/v1/incidents"), ("POST", "/api/v1/incidents")]:
        response = client.request(method, path, json=new_incident())
        assert response.status_code == 401, (method, authorization)
        assert response.headers["www-authenticate"] == "Bearer"


def test_revoked_token_gets_401(api: httpx.Client, engine: Engine) -> None:
    with make_session_factory(engine).begin() as session:
        operators.revoke_token(session, "Aroha (ops)", NOW, actor="test")
    assert api.get("/api/v1/incidents").status_code == 401


def test_tokens_are_stored_hashed(engine: Engine, token: str) -> None:
    with make_session_factory(engine)() as session:
        (row,) = operators.list_tokens(session)
    assert token not in row.token_hash and len(row.token_hash) == 64


def test_publish_update_and_resolve_with_audit_trail(api: httpx.Client) -> None:
    created = api.post("/api/v1/incidents", json=new_incident(next_update_at=(NOW + timedelta(hours=1)).isoformat()))
    assert created.status_code == 201, created.text
    incident = created.json()
    assert incident["services"] == {"voicemail": "major_outage"} and incident["status"] == "investigating"
    iid = incident["id"]

    eta = (NOW + timedelta(hours=3)).isoformat()
    updated = api.post(
        f"/api/v1/incidents/{iid}/updates", json={"message": "Cause found.", "status": "identified", "eta": eta}
    )
    assert updated.status_code == 201, updated.text
    assert updated.json()["status"] == "identified" and updated.json()["eta"].startswith("2026-11-25T04:30")

    impact = api.put(f"/api/v1/incidents/{iid}/services/voicemail", json={"status": "degraded_performance"})
    assert impact.json()["services"] == {"voicemail": "degraded_performance"}
    edited = api.patch(f"/api/v1/incidents/{iid}", json={"cause": "A failed software change."})
    assert edited.json()["cause"] == "A failed software change."

    resolved = api.post(f"/api/v1/incidents/{iid}/resolve", json={"message": "Voicemail is back."})
    assert resolved.status_code == 200
    assert resolved.json()["status"] == "resolved" and resolved.json()["services"] == {"voicemail": "operational"}
    assert [u["message"] for u in resolved.json()["updates"]][-1] == "Voicemail is back."

    trail = api.get("/api/v1/audit", params={"incident_id": iid}).json()
    assert [e["action"] for e in trail] == ["resolve", "edit", "set_impact", "post_update", "create"]
    assert {e["actor"] for e in trail} == {"Aroha (ops)"}
    assert all(e["at"].startswith("2026-11-25T01:30") for e in trail)


def test_one_update_call_changes_the_services_states_and_tells_their_subscribers(
    api: httpx.Client, engine: Engine, demo: int
) -> None:
    from bot.conversation.notify import enqueue_due, subscribe
    from bot.incidents.reads import StateKind, read_overview

    with make_session_factory(engine).begin() as session:
        subscribe(session, "waiting-for-top-up", "rest", "top_up", NOW)
    body = {"message": "Top-ups are back.", "status": "monitoring", "service_states": {"top_up": "operational"}}
    updated = api.post(f"/api/v1/incidents/{demo}/updates", json=body)
    assert updated.status_code == 201, updated.text
    assert updated.json()["services"]["top_up"] == "operational" and updated.json()["status"] == "monitoring"
    with make_session_factory(engine).begin() as session:
        assert read_overview(session, NOW).service("top_up").kind is StateKind.RESTORED  # what customers are told
        assert enqueue_due(session, NOW) == 1  # the subscriber hears of it
    trail = api.get("/api/v1/audit", params={"incident_id": demo}).json()
    assert trail[0]["action"] == "post_update" and trail[0]["detail"]["service_states"] == {"top_up": "operational"}
    refused = api.post(f"/api/v1/incidents/{demo}/updates", json={"message": "x", "service_states": {"top_up": "gone"}})
    assert refused.status_code == 422
    unknown = api.post(
        f"/api/v1/incidents/{demo}/updates", json={"message": "x", "service_states": {"teleport": "operational"}}
    )
    assert unknown.status_code == 422 and "teleport" in unknown.text


def test_an_update_that_says_resolved_resolves_the_incident(api: httpx.Client, demo: int) -> None:
    done = api.post(f"/api/v1/incidents/{demo}/updates", json={"message": "All back.", "status": "resolved"})
    assert done.status_code == 201, done.text
    assert done.json()["status"] == "resolved" and set(done.json()["services"].values()) == {"operational"}


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (new_incident(services={"teleport": "major_outage"}), "unknown service: teleport"),
        (new_incident(eta=(NOW - timedelta(hours=2)).isoformat()), "eta is in the past"),
        (new_incident(started_at=(NOW + timedelta(days=1)).isoformat()), "started_at is in the future"),
        (new_incident(status="resolved"), "cannot start resolved"),
    ],
)
def test_rule_breaking_changes_get_422_with_the_reason(api: httpx.Client, body: dict[str, Any], problem: str) -> None:
    response = api.post("/api/v1/incidents", json=body)
    assert response.status_code == 422
    assert problem in response.json()["detail"]


def test_resolved_before_start_gets_422(api: httpx.Client, demo: int) -> None:
    response = api.post(
        f"/api/v1/incidents/{demo}/resolve",
        json={"message": "Done.", "resolved_at": (NOW - timedelta(days=30)).isoformat()},
    )
    assert response.status_code == 422 and "before the incident started" in response.json()["detail"]


@pytest.mark.parametrize(
    ("content", "status"),
    [
        (b"", 422),  # "body: Field required"
        (b"{not json", 400),
        (b"\x00\xff\xfe binary", 400),
        (json.dumps({"title": 5, "message": ["x"]}).encode(), 422),
        (json.dumps({**new_incident(), "admin": True}).encode(), 422),
        (json.dumps(new_incident(services={"voicemail": "on_fire"})).encode(), 422),
        (json.dumps(new_incident(eta="next tuesday")).encode(), 422),
        (json.dumps(new_incident(eta="2026-11-26T10:00:00")).encode(), 422),  # no time zone
        (json.dumps(new_incident(title="x" * 201)).encode(), 422),
        (json.dumps([1, 2]).encode(), 422),
        (b"{" + b'"title": "' + b"x" * 2_000_000 + b'"}', 413),
    ],
)
def test_bad_bodies_get_clear_4xx(api: httpx.Client, content: bytes, status: int) -> None:
    response = api.post("/api/v1/incidents", content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text[:300]
    assert response.json()["detail"]
    assert len(response.content) < 5000  # the input is not echoed back


def test_injection_attempts_are_stored_as_plain_text(api: httpx.Client) -> None:
    title = "'); DROP TABLE incident; -- <script>alert(1)</script>"
    created = api.post("/api/v1/incidents", json=new_incident(title=title, message="Robert\x00'); --"))
    assert created.status_code == 201
    assert created.json()["title"] == title
    assert created.json()["message"] == "Robert'); --"  # NUL dropped, the rest verbatim
    assert len(api.get("/api/v1/incidents").json()) == 2  # the table is still there


def test_unknown_incident_is_404_and_silly_ids_are_422(api: httpx.Client) -> None:
    assert api.get("/api/v1/incidents/9999").status_code == 404
    assert api.post("/api/v1/incidents/9999/updates", json={"message": "x"}).status_code == 404
    assert api.get("/api/v1/incidents/0").status_code == 422
    assert api.get("/api/v1/incidents/99999999999999999999").status_code == 422
    assert api.get("/api/v1/incidents/abc").status_code == 422


def test_health_reports_each_source(api: httpx.Client) -> None:
    body = httpx.get(f"{api.base_url}/health").json()
    assert body["status"] == "ok"
    assert body["sources"]["database"]["ok"] is True
    assert body["sources"]["statuspage"] == {
        "ok": True,
        "configured": False,
        "last_success_at": None,
        "age_seconds": None,
        "last_error": None,
    }


def test_health_is_503_when_the_database_is_gone(settings: Settings, tmp_path: Path) -> None:
    broken = make_engine(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'x.db'}")
    shutil.rmtree(tmp_path / "no")  # make_engine created the folder; without it SQLite cannot open the file
    with serve_in_thread(create_app(settings, broken, run_sync=False)) as url:
        bad = httpx.post(f"{url}/api/v1/incidents", json=new_incident(), headers={"Authorization": "Bearer x"})
        health = httpx.get(f"{url}/health")
    assert bad.status_code == 503
    assert health.status_code == 503 and health.json()["sources"]["database"]["ok"] is False


def test_webhook_needs_the_secret(api: httpx.Client) -> None:
    assert api.post("/hooks/statuspage/wrong", json={}).status_code == 401
    assert api.post("/hooks/statuspage", json={}).status_code == 401
    assert api.post("/hooks/statuspage", json={}, headers={"X-Webhook-Secret": "wrong"}).status_code == 401
    assert api.post("/hooks/statuspage", json={"x": 1}, headers={"X-Webhook-Secret": SECRET}).status_code == 400
    assert api.post("/hooks/statuspage/" + SECRET, content=b"{oops").status_code == 400
    assert api.post("/hooks/statuspage/" + SECRET, json={"hello": "world"}).status_code == 400


def test_webhook_samples_are_applied_and_audited(api: httpx.Client, tmp_path: Path) -> None:
    if not SAMPLES.is_dir():
        pytest.skip(f"the captured Statuspage samples are not beside this checkout ({SAMPLES})")
    for name in ("incident_created.json", "incident_update.json", "component_status_update.json"):
        response = api.post("/hooks/statuspage/" + SECRET, content=(SAMPLES / name).read_bytes())
        assert response.status_code == 202, (name, response.text)
    trail = api.get("/api/v1/audit").json()
    webhooks = [e for e in trail if e["action"] == "webhook"]
    assert len(webhooks) == 3 and {e["actor"] for e in webhooks} == {"statuspage webhook"}
    assert webhooks[0]["detail"] == {"component": "Database component", "status": "under_maintenance"}


def test_close_escalations_tells_and_closes_once_and_refuses_bad_bodies(
    api: httpx.Client, engine: Engine, demo: int
) -> None:
    with make_session_factory(engine).begin() as s:
        for n in range(3):
            escalate(s, f"rest-{n}", f"0218{n:06d}", services=["top_up"])
    url = f"/api/v1/incidents/{demo}/escalations/close"
    done = api.post(url, json={"message": "Top-ups work again."})
    assert done.status_code == 200 and done.json() == {"closed": 3, "queued": 3, "left_open": 0}
    assert api.post(url, json={"message": "Top-ups work again."}).json()["closed"] == 0
    for body in ({}, {"message": ""}, {"message": "x" * 2001}, {"message": 5}, {"message": "x", "extra": 1}):
        assert api.post(url, json=body).status_code == 422, body
    assert api.post(url, json={"message": "x", "service": "nope"}).status_code == 422
    assert api.post("/api/v1/incidents/999999/escalations/close", json={"message": "x"}).status_code == 404
    assert api.post(url, content=b"\xff\xfe", headers={"Content-Type": "application/json"}).status_code in (400, 422)
