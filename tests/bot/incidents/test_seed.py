"""Demo scenarios: relative times, loading, and resetting."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.core.errors import ValidationError
from bot.db.models import Incident
from bot.incidents.reads import read_overview
from bot.incidents.seed import is_empty, load_scenario, parse_when, scenario_path
from bot.knowledge.file import Knowledge

TZ = ZoneInfo("Pacific/Auckland")
NOW = datetime(2026, 11, 25, 1, 30, tzinfo=timezone.utc)  # 2:30 pm local


def test_now_offsets() -> None:
    assert parse_when("now-1h30m", NOW, TZ) == NOW - timedelta(hours=1, minutes=30)
    assert parse_when("now+2d", NOW, TZ) == NOW + timedelta(days=2)


def test_last_clock_time_is_local_and_in_the_past() -> None:
    morning = parse_when("last 08:00", NOW, TZ).astimezone(TZ)
    assert (morning.hour, morning.day) == (8, 25)
    evening = parse_when("last 20:00", NOW, TZ).astimezone(TZ)
    assert (evening.hour, evening.day) == (20, 24)
    assert parse_when("last 08:00 -12h", NOW, TZ).astimezone(TZ).hour == 20


@pytest.mark.parametrize("expr", ["yesterday", "now-", "last 25:00", "", "now*2h"])
def test_bad_expressions_are_refused(expr: str) -> None:
    with pytest.raises(ValidationError):
        parse_when(expr, NOW, TZ)


def test_demo_is_day_two_with_no_eta_and_a_stated_next_update(
    session: Session, knowledge: Knowledge, demo: int
) -> None:
    ov = read_overview(session, NOW)
    (incident,) = ov.incidents
    assert timedelta(hours=24) <= NOW - incident.started_at <= timedelta(hours=49)
    assert incident.eta is None and incident.next_update_at is not None
    assert incident.cause is not None and "not a cyber" in incident.cause


def test_reloading_replaces_instead_of_duplicating(session: Session, knowledge: Knowledge, demo: int) -> None:
    load_scenario(session, scenario_path("outage_day_two"), knowledge, now=NOW, tz=TZ, actor="test")
    assert session.scalar(select(func.count()).select_from(Incident)) == 1
    load_scenario(session, scenario_path("all_clear"), knowledge, now=NOW, tz=TZ, actor="test")
    assert session.scalar(select(func.count()).select_from(Incident)) == 0
    assert not is_empty(session)  # the service catalogue stays


def test_unknown_scenario_lists_the_available_ones() -> None:
    with pytest.raises(ValidationError, match="available: all_clear, outage_day_two"):
        scenario_path("nope")


@pytest.mark.parametrize(
    "content",
    [
        "incidents: [unclosed",
        "just text",
        "incidents:\n  - title: No updates\n    started_at: now-1h\n",
        "incidents:\n  - title: Bad status\n    started_at: now-1h\n    updates:\n"
        "      - {at: now-1h, message: x, status: exploded}\n",
        "incidents:\n  - updates:\n      - {at: now-1h, message: x}\n",
        "incidents:\n  - title: T\n    started_at: now-1h\n    impacts: {fax: major_outage}\n    updates:\n"
        "      - {at: now-1h, message: x}\n",
    ],
)
def test_broken_scenarios_give_a_validation_error(
    session: Session, knowledge: Knowledge, tmp_path: Path, content: str
) -> None:
    path = tmp_path / "broken.yml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValidationError, match=r"broken\.yml|unknown service"):
        load_scenario(session, path, knowledge, now=NOW, tz=TZ, actor="test")
