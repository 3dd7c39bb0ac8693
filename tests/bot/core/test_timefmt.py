"""Local clock time plus how long ago, in the configured zone."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from bot.core.timefmt import format_when

TZ = ZoneInfo("Pacific/Auckland")
NOW = datetime(2026, 11, 25, 0, 0, tzinfo=timezone.utc)  # 1:00 pm NZDT


def test_this_morning_reads_as_clock_time_and_hours_ago() -> None:
    assert format_when(NOW - timedelta(hours=5), NOW, TZ) == "8:00 am today, 5 hours ago"


def test_last_night_reads_as_yesterday() -> None:
    assert format_when(NOW - timedelta(hours=17), NOW, TZ) == "8:00 pm yesterday, 17 hours ago"


def test_future_reads_as_in() -> None:
    assert format_when(NOW + timedelta(hours=3), NOW, TZ) == "4:00 pm today, in 3 hours"


def test_just_now() -> None:
    assert format_when(NOW, NOW, TZ) == "1:00 pm today, just now"


def test_older_than_a_day_names_the_date() -> None:
    assert format_when(NOW - timedelta(days=3), NOW, TZ) == "1:00 pm Sun 22 Nov, 3 days ago"


def test_other_zone_changes_the_clock() -> None:
    assert format_when(NOW, NOW, ZoneInfo("Europe/London")).startswith("12:00 am today")


def test_minutes() -> None:
    assert format_when(NOW - timedelta(minutes=40), NOW, TZ).endswith("40 minutes ago")
