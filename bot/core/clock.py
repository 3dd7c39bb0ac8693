"""The one clock: every module that needs "now" takes a `Clock` argument defaulting to `utcnow`,
so tests can pass a fixed time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """Now, timezone-aware in UTC (the store keeps UTC; wording converts to local time)."""
    return datetime.now(timezone.utc)
