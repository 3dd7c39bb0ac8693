"""Small fixtures: a fresh migrated database per test, the shipped knowledge file, a fixed clock."""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from bot.core.settings import PROJECT_ROOT
from bot.db.engine import make_engine, make_session_factory
from bot.db.migrate import upgrade
from bot.incidents.seed import load_scenario, scenario_path
from bot.knowledge.file import Knowledge, load_knowledge

TZ = ZoneInfo("Pacific/Auckland")
# 2:30 pm on a Wednesday in Auckland: the demo's "last 08:00" is this morning.
NOW = datetime(2026, 11, 25, 1, 30, tzinfo=timezone.utc)
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def tz() -> ZoneInfo:
    return TZ


@pytest.fixture(scope="session")
def knowledge() -> Knowledge:
    return load_knowledge(PROJECT_ROOT / "bot" / "knowledge.yml")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path / 'outage.db'}")
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with make_session_factory(engine)() as s:
        yield s


@pytest.fixture
def demo(session: Session, knowledge: Knowledge) -> int:
    """The demo outage loaded at NOW; returns its incident id."""
    (incident_id,) = load_scenario(session, scenario_path("outage_day_two"), knowledge, now=NOW, tz=TZ, actor="test")
    session.commit()
    return incident_id


def _postgres_available() -> str | None:
    try:
        eng = make_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with eng.connect():
            pass
        eng.dispose()
        return None
    except Exception as exc:  # any failure to connect means "no server here"
        return f"PostgreSQL not reachable at {POSTGRES_URL} ({exc.__class__.__name__}); set TEST_POSTGRES_URL"


@contextlib.contextmanager
def pg_schema(prefix: str = "t") -> Iterator[str]:
    """A fresh schema on the real PostgreSQL server (skips the test without one), dropped afterwards."""
    reason = _postgres_available()
    if reason:
        pytest.skip(reason)
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield schema
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    """A fresh, migrated schema on the real PostgreSQL server."""
    with pg_schema() as schema:
        eng = make_engine(POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"})
        try:
            upgrade(eng)
            yield eng
        finally:
            eng.dispose()


@contextlib.contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on a free loopback port (real HTTP); yields its base URL."""
    import uvicorn

    from bot.ops.servers import free_port

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", ws="none", proxy_headers=False
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = server.force_exit = True
        thread.join(timeout=10)
