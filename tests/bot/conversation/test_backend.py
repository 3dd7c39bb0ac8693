"""The incident store's short-lived cache and its last-known-state fallback."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.conversation.backend import Backend
from bot.core.errors import IncidentSourceError
from bot.db.engine import make_engine, make_session_factory
from bot.db.migrate import upgrade
from bot.incidents.writes import resolve_incident
from tests.conftest import NOW


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self):  # type: ignore[no-untyped-def]
        return self.now


def test_a_thousand_concurrent_questions_cost_one_query(engine: Engine, demo: int) -> None:
    store = Backend(engine, clock=Clock(), ttl=5)

    async def ask() -> None:
        results = await asyncio.gather(*(store.overview() for _ in range(1000)))
        assert len({id(r) for r in results}) == 1

    asyncio.run(ask())
    assert store.reads == 1


def test_a_change_is_seen_once_the_ttl_has_passed(engine: Engine, demo: int) -> None:
    clock = Clock()
    store = Backend(engine, clock=clock, ttl=5)
    assert asyncio.run(store.overview()).incidents
    with make_session_factory(engine).begin() as session:
        resolve_incident(session, demo, message="Fixed.", now=NOW, actor="test")
    clock.now += timedelta(seconds=4)
    assert asyncio.run(store.overview()).incidents  # still the cached state
    clock.now += timedelta(seconds=2)
    assert asyncio.run(store.overview()).incidents == ()
    assert store.reads == 2


def test_with_no_ttl_every_question_reads(engine: Engine, demo: int) -> None:
    store = Backend(engine, clock=Clock(), ttl=0)
    for _ in range(3):
        asyncio.run(store.overview())
    assert store.reads == 3


def test_no_state_ever_read_raises_a_source_error(tmp_path: Path) -> None:
    store = Backend(make_engine(f"sqlite:///{tmp_path / 'empty.db'}"))  # no schema
    with pytest.raises(IncidentSourceError):
        asyncio.run(store.overview())


def test_locked_database_answers_last_known_state_marked_stale_then_recovers(tmp_path: Path, demo_file: Path) -> None:
    """A writer holding SQLite's exclusive lock: readers get the last good state, marked stale
    with its time; once the lock is gone and the TTL has passed, fresh state is back."""
    clock = Clock()
    engine = make_engine(f"sqlite:///{demo_file}", connect_args={"timeout": 0.2})
    store = Backend(engine, clock=clock, ttl=1)
    good = asyncio.run(store.overview())
    assert not good.stale

    engine.dispose()  # pooled connections would hold a WAL read mark and block the exclusive lock
    blocker = sqlite3.connect(demo_file, timeout=2)
    blocker.execute("PRAGMA locking_mode=EXCLUSIVE")
    blocker.execute("BEGIN EXCLUSIVE")
    blocker.execute("UPDATE incident SET title = title")
    clock.now += timedelta(seconds=2)
    stale = asyncio.run(store.overview())
    assert stale.stale and stale.as_of == good.as_of
    assert stale.incidents == good.incidents
    reads = store.reads
    clock.now += timedelta(seconds=2)  # past the TTL, within retry_after: nobody waits on the lock again
    assert asyncio.run(store.overview()).stale and store.reads == reads

    blocker.rollback()
    blocker.close()
    clock.now += timedelta(seconds=store.retry_after)
    fresh = asyncio.run(store.overview())
    assert not fresh.stale and fresh.as_of == clock.now


@pytest.fixture
def demo_file(tmp_path: Path, knowledge) -> Path:  # type: ignore[no-untyped-def]
    from bot.incidents.seed import load_scenario, scenario_path
    from tests.conftest import TZ

    path = tmp_path / "locked.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with make_session_factory(engine).begin() as session:
        load_scenario(session, scenario_path("outage_day_two"), knowledge, now=NOW, tz=TZ, actor="test")
    engine.dispose()
    return path


def test_who_has_news_waiting_is_cached_like_the_overview(engine: Engine, demo: int) -> None:
    from bot.conversation.notify import enqueue_due, subscribe
    from bot.incidents.writes import post_update

    clock = Clock()
    store = Backend(engine, clock=clock, ttl=5)
    push = frozenset({"telegram"})
    assert asyncio.run(store.waiting_for_news(push)) == frozenset()
    with make_session_factory(engine).begin() as session:
        subscribe(session, "web-1", "rest", None, NOW)
        subscribe(session, "tg-1", "telegram", None, NOW)
        post_update(session, demo, message="News.", now=NOW, actor="test")
        enqueue_due(session, NOW)
    assert asyncio.run(store.waiting_for_news(push)) == frozenset()  # within the TTL: no query
    clock.now += timedelta(seconds=6)
    assert asyncio.run(store.waiting_for_news(push)) == frozenset({"web-1"})  # push channels are not waiting
