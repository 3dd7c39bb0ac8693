"""Rasa's scale-out path on real servers: PostgreSQL tracker and incident store, Redis lock store,
two Rasa servers (each with its own action server) serving one conversation in turns."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.db import make_engine
from bot.servers import free_port, isolated_env
from tests.conftest import POSTGRES_URL
from tests.e2e.conftest import Assistant, start_assistant

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]
REDIS_HOST = os.environ.get("TEST_REDIS_HOST", "127.0.0.1")


def _redis_reason() -> str | None:
    try:
        with socket.create_connection((REDIS_HOST, 6379), timeout=3) as s:
            s.sendall(b"PING\r\n")
            if not s.recv(16).startswith(b"+PONG"):
                return f"Redis at {REDIS_HOST}:6379 did not answer PING"
    except OSError as exc:
        return f"Redis not reachable at {REDIS_HOST}:6379 ({exc.__class__.__name__}); set TEST_REDIS_HOST"
    return None


@pytest.fixture
def scale_out_db() -> Iterator[str]:
    """A fresh PostgreSQL database for this test, dropped afterwards."""
    from tests.conftest import _postgres_available

    reason = _postgres_available() or _redis_reason()
    if reason:
        pytest.skip(reason)
    name = f"outage_e2e_{uuid.uuid4().hex[:10]}"
    admin = make_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = POSTGRES_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_two_rasa_servers_share_one_conversation(scale_out_db: str, tmp_path: Path) -> None:
    shared = {
        "DATABASE_URL": scale_out_db,
        "TRACKER_STORE_URL": scale_out_db,
        "LOCK_STORE": "redis",
        "LOCK_STORE_HOST": REDIS_HOST,
        "RASA_AUTH_TOKEN": "scale-" + os.urandom(16).hex(),
    }
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = start_assistant(isolated_env(tmp_path / "a", **shared), tmp_path / "a")
    second: Assistant | None = None
    try:
        second = start_assistant(
            isolated_env(tmp_path / "b", **shared, RASA_PORT=str(free_port()), ACTION_PORT=str(free_port())),
            tmp_path / "b",
        )
        me = f"scale-{uuid.uuid4().hex[:8]}"
        assert "Prepaid top-up is down" in first.say(me, "I can't top up my phone")
        # The other server reads the same tracker: the service in context carries over.
        assert "There's no ETA for Prepaid top-up yet" in second.say(me, "when will it be fixed?")
        first.stop("rasa")
        assert "Roaming is down" in second.say(me, "and how do I turn on roaming")
        users = [e["text"] for e in second.tracker(me)["events"] if e.get("event") == "user"]
        assert users == ["I can't top up my phone", "when will it be fixed?", "and how do I turn on roaming"]
    finally:
        first.servers.stop_all()
        first.engine.dispose()
        if second is not None:
            second.servers.stop_all()
            second.engine.dispose()
