"""The scaled-out assistant (bot.ops.scaled) on the test servers: a new PostgreSQL database of
its own on TEST_POSTGRES_URL's server, dropped afterwards, and Redis at TEST_REDIS_HOST."""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import make_url, text

from bot.ops.scaled import DEFAULT_REDIS_HOST, ScaledAssistant, haproxy_bin, on_server, postgres_problem, redis_problem
from tests.support.servers import isolated_env


def test_servers(environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The PostgreSQL URL and Redis host the tests and the benchmark use (TEST_POSTGRES_URL,
    TEST_REDIS_HOST; both on 127.0.0.1 by default)."""
    env = os.environ if environ is None else environ
    postgres = env.get("TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
    return postgres, env.get("TEST_REDIS_HOST", DEFAULT_REDIS_HOST)


test_servers.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test, to pytest


def scale_out_problem(environ: Mapping[str, str] | None = None) -> str | None:
    """Why the scaled-out setup cannot start on this machine's test servers, or None."""
    if haproxy_bin() is None:
        return "HAProxy is not installed (make run-scaled installs Debian's haproxy when run as root)"
    server, redis = test_servers(environ)
    return postgres_problem(server) or redis_problem(redis)


def throwaway_scaled(var: Path, replicas: int = 2, **overrides: str) -> ScaledAssistant:
    """A scaled-out assistant on a new database of its own; drop it with drop_database()."""
    server, redis = test_servers()
    name = f"outage_scaled_{uuid.uuid4().hex[:10]}"
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    env = isolated_env(
        var,
        DATABASE_URL=url,
        TRACKER_STORE_URL=url,
        LOCK_STORE="redis",
        LOCK_STORE_HOST=redis,
        REDIS_URL=f"redis://{redis}:6379/0",
        STATE_TTL_SECONDS="5",
        **overrides,
    )
    return ScaledAssistant(env=env, var=var, replicas=replicas)


def drop_database(assistant: ScaledAssistant) -> None:
    """Drop the database a throwaway_scaled() assistant made, with anything still connected to it."""
    url = assistant.env["DATABASE_URL"]
    with on_server(url) as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
