"""Start the real action server and the real Rasa server on loopback, on a throwaway database."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, delete, func, select

from bot.core.clock import utcnow
from bot.core.devsecrets import rasa_token
from bot.core.settings import Settings, load_settings
from bot.db.engine import make_engine, make_session_factory
from bot.db.models import RestoreReport, Subscription
from bot.incidents.seed import load_scenario, scenario_path
from bot.knowledge.file import load_knowledge
from bot.ops.run import prepare_store
from bot.ops.servers import Servers
from bot.rasa_api import RasaAuth
from tests.support.servers import isolated_env, post


@dataclass
class Assistant:
    servers: Servers
    engine: Engine

    @property
    def rasa_url(self) -> str:
        return self.servers.rasa_url

    @property
    def token(self) -> str:
        return self.servers.token

    def stop(self, name: str) -> None:
        self.servers.stop(name)

    def start_rasa(self) -> None:
        self.servers.start_rasa()

    def say(self, sender: str, message: str) -> str:
        """Send one message; return every reply text joined, buttons as '[title]'."""
        return "\n".join(self.bubbles(sender, message))

    def bubbles(self, sender: str, message: str) -> list[str]:
        """Send one message; return each reply message's text, its buttons as '[title]'."""
        return [
            "\n".join([reply.get("text", ""), *(f"[{b['title']}]" for b in reply.get("buttons") or [])]).strip()
            for reply in self.messages(sender, message)
        ]

    def messages(self, sender: str, message: str) -> list[dict[str, Any]]:
        """Send one message; return the reply messages as the REST channel gives them."""
        response = post(self.servers, sender, message)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def tracker(self, sender: str) -> dict[str, Any]:
        response = httpx.get(f"{self.rasa_url}/conversations/{sender}/tracker", auth=RasaAuth(self.token), timeout=30)
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def reload_demo(self, scenario: str = "outage_day_two") -> None:
        load_now(self.engine, self.servers.settings, scenario)


def phone() -> str:
    """A phone number no other test uses: one contact has at most one open escalation."""
    return f"021 {uuid.uuid4().int % 10**7:07d}"


def load_now(engine: Engine, settings: Settings, scenario: str = "outage_day_two") -> None:
    """Replace every incident in `engine`'s store with `scenario`, timed from now."""
    with make_session_factory(engine).begin() as session:
        load_scenario(
            session,
            scenario_path(scenario),
            load_knowledge(settings.knowledge_file),
            now=utcnow(),
            tz=settings.tz,
            actor="test",
        )


def start_assistant(env: dict[str, str], logs: Path) -> Assistant:
    settings = load_settings(env)
    prepare_store(settings)
    servers = Servers(settings=settings, env=env, token=rasa_token(settings), logs=logs)
    assistant = Assistant(servers=servers, engine=make_engine(settings.database_url))
    try:
        servers.start_actions()
        servers.start_rasa()
    except Exception:
        servers.stop_all()
        raise
    return assistant


@pytest.fixture(scope="session")
def assistant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Assistant]:
    var = tmp_path_factory.mktemp("e2e-var")
    harness = start_assistant(isolated_env(var), var)
    try:
        yield harness
    finally:
        harness.servers.stop_all()
        harness.engine.dispose()
        sys.stderr.write(f"\ne2e server logs: {var}\n")


@pytest.fixture
def demo_assistant(assistant: Assistant) -> Assistant:
    """The running assistant with the demo outage freshly loaded (tests may change it)."""
    assistant.reload_demo()
    return assistant


@pytest.fixture
def web_app(assistant: Assistant) -> Iterator[str]:
    """The web app (chat gateway, console, /health) beside the running assistant; its URL."""
    assistant.servers.start_web()
    try:
        yield assistant.servers.web_url
    finally:
        assistant.servers.stop("web")


@pytest.fixture
def leaves_no_trace(demo_assistant: Assistant) -> Iterator[None]:
    """The assistant is shared by the e2e tests: the subscriptions and reports a test makes would
    otherwise be notified and counted in others'."""
    sessions = make_session_factory(demo_assistant.engine)
    with sessions() as session:
        subscriptions = session.scalar(select(func.max(Subscription.id))) or 0
        reports = session.scalar(select(func.max(RestoreReport.id))) or 0
    yield
    with sessions.begin() as session:
        session.execute(delete(Subscription).where(Subscription.id > subscriptions))
        session.execute(delete(RestoreReport).where(RestoreReport.id > reports))
