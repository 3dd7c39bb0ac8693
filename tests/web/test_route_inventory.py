"""Every route of the web app and the action server, called with no credential over real HTTP.

The lists below are the inventory: a route that is added without being put on one of them
fails here, and so does a route that answers a write (or a private read) to a stranger.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from bot.core.settings import load_settings
from bot.web.app import create_app
from tests.conftest import NOW, serve_in_thread

# Open to anyone, on purpose, with what makes each safe.
PUBLIC = {
    ("GET", "/openapi.json"): "the schema",
    ("GET", "/docs"): "the schema, rendered",
    ("GET", "/docs/oauth2-redirect"): "FastAPI's docs helper",
    ("GET", "/redoc"): "the schema, rendered",
    ("GET", "/health"): "source states and ages, nothing private",
    ("GET", "/"): "the chat page; issues a signed conversation id",
    ("GET", "/chat/history"): "the history of the conversation in the caller's own signed cookie",
    ("GET", "/chat/banner"): "the current outage banner, public like the status page it repeats",
    ("GET", "/banner"): "the banner alone, for a status page to embed; read-only",
    ("GET", "/console/login"): "the login form",
}
# Take a credential that is not a bearer token: what a stranger gets.
GATED = {
    ("POST", "/console/login"): {403, 422},  # a username, a password and the form's CSRF token
    ("POST", "/chat/send"): {403},  # a signed conversation cookie
    ("GET", "/chat/stream"): {403},  # likewise: the new messages of the caller's own conversation
}


def routes(app: Any) -> Iterator[tuple[str, str]]:
    """(method, path) for every route, through included routers; mounts (static files) aside."""
    for route in app.routes:
        if hasattr(route, "original_router"):
            yield from routes(route.original_router)
        elif getattr(route, "methods", None):
            for method in sorted(route.methods - {"HEAD"}):
                yield method, route.path


@pytest.fixture
def served(tmp_path: Path, engine: Engine, demo: int) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    settings = load_settings(
        {"VAR_DIR": str(tmp_path), "STATUSPAGE_WEBHOOK_SECRET": "hook-" + "q" * 30}, dotenv_path=Path("/x")
    )
    app = create_app(settings, engine, clock=lambda: NOW, run_sync=False)
    with serve_in_thread(app) as url:
        yield url, list(routes(app))


def test_the_inventory_is_complete(served: tuple[str, list[tuple[str, str]]]) -> None:
    _, found = served
    assert len(found) >= 39
    for method, path in found:
        known = (method, path) in PUBLIC or (method, path) in GATED
        assert known or path.startswith(("/api/", "/console", "/hooks/")), f"{method} {path} is on no list"


def test_no_route_serves_a_stranger_more_than_it_should(served: tuple[str, list[tuple[str, str]]]) -> None:
    url, found = served
    for method, path in found:
        concrete = re.sub(r"\{[^}]+\}", "1", path)
        with httpx.Client(base_url=url, timeout=10) as stranger:  # no cookie from an earlier call
            response = stranger.request(method, concrete, content=b"{}", headers={"Content-Type": "application/json"})
        where = f"{method} {path}: {response.status_code}"
        if (method, path) in PUBLIC:
            assert response.status_code == 200, where
        elif (method, path) in GATED:
            assert response.status_code in GATED[(method, path)], where
        elif path.startswith("/console") and method == "GET":
            assert response.status_code == 303 and response.headers["location"] == "/console/login", where
        else:  # every write, and every private read of the API
            assert response.status_code in (401, 403), where


def test_action_server_inventory() -> None:
    """Only /health answers without Rasa's secret; the list fails when rasa-sdk adds a route."""
    from bot.ops.action_server import PUBLIC_PATHS, create_action_app

    app = create_action_app("s" * 32)
    found = {(method, route.path) for route in app.router.routes for method in route.methods}
    assert {path for _, path in found} == {"health", "webhook", "actions"}
    assert {"/health"} == set(PUBLIC_PATHS)
