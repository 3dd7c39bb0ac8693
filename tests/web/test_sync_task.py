"""The web app runs the status-page sync as a task when a page is configured."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from bot.core.settings import load_settings
from bot.db.engine import make_session_factory
from bot.incidents.reads import read_overview
from bot.incidents.statuspage.localpage import PageState, create_page_app
from bot.incidents.writes import sync_catalogue
from bot.knowledge.file import Knowledge
from bot.web.app import create_app
from tests.conftest import NOW, serve_in_thread


def settings_for(tmp_path: Path, url: str, **extra: str):  # type: ignore[no-untyped-def]
    env = {"VAR_DIR": str(tmp_path), "STATUSPAGE_URL": url, "STATUSPAGE_POLL_SECONDS": "1", **extra}
    return load_settings(env, dotenv_path=Path("/nonexistent"))


def test_the_app_follows_the_page_and_health_reports_its_age(
    tmp_path: Path, engine: Engine, knowledge: Knowledge
) -> None:
    with make_session_factory(engine).begin() as session:
        sync_catalogue(session, knowledge)
    page = PageState(tmp_path / "page", components={"Voicemail": "operational"})
    page.open_incident("Voicemail down", "Investigating.", {"Voicemail": "major_outage"}, now=NOW)
    page.write()
    with serve_in_thread(create_page_app(page.folder)) as page_url:
        app = create_app(settings_for(tmp_path, page_url), engine)
        with serve_in_thread(app) as url:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                health = httpx.get(f"{url}/health").json()["sources"]["statuspage"]
                if health["ok"]:
                    break
                time.sleep(0.2)
            assert health["ok"] and health["configured"] and health["age_seconds"] is not None
    with make_session_factory(engine)() as session:
        assert read_overview(session, NOW).service("voicemail").status.value == "major_outage"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # uvicorn's failed start-up
def test_a_broken_component_map_stops_start_up(tmp_path: Path, engine: Engine) -> None:
    bad = tmp_path / "map.yml"
    bad.write_text("components: nope\n", encoding="utf-8")
    app = create_app(settings_for(tmp_path, "http://127.0.0.1:9", STATUSPAGE_MAP=str(bad)), engine)
    with pytest.raises(RuntimeError, match="did not start"), serve_in_thread(app):
        pass
