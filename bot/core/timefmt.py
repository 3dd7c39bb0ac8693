"""Render instants for customers: local clock time plus how long ago (or until)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


def _clock(local: datetime) -> str:
    hour = local.hour % 12 or 12
    return f"{hour}:{local.minute:02d} {'am' if local.hour < 12 else 'pm'}"


def _span(delta: timedelta) -> str:
    seconds = abs(int(delta.total_seconds()))
    if seconds < 90:
        return "1 minute" if seconds >= 45 else "less than a minute"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(seconds / 3600)
    if hours < 48:
        return "1 hour" if hours == 1 else f"{hours} hours"
    return f"{round(seconds / 86400)} days"


def format_when(moment: datetime, now: datetime, tz: ZoneInfo) -> str:
    """E.g. '8:00 am today, 4 hours ago' or '4:00 pm tomorrow, in 20 hours'."""
    local, local_now = moment.astimezone(tz), now.astimezone(tz)
    days = (local.date() - local_now.date()).days
    if days == 0:
        day = "today"
    elif days == -1:
        day = "yesterday"
    elif days == 1:
        day = "tomorrow"
    else:
        day = f"{local:%a} {local.day} {local:%b}"
    delta = moment - now
    if abs(delta) < timedelta(seconds=45):
        relative = "just now"
    elif delta < timedelta(0):
        relative = f"{_span(delta)} ago"
    else:
        relative = f"in {_span(delta)}"
    return f"{_clock(local)} {day}, {relative}"
