"""Many waiting escalations written in one statement, for the queue's tests and its benchmark
(the ORM one row at a time takes seconds for 10,000)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine

from bot.db.models import Escalation, Urgency


def insert_waiting(
    engine: Engine, count: int, now: datetime, *, prefix: str = "bulk", urgency: Urgency = Urgency.NORMAL
) -> None:
    """`count` open escalations, a minute apart and the oldest first, ending a minute before `now`."""
    with engine.begin() as conn:
        conn.execute(
            Escalation.__table__.insert(),
            [
                {
                    "conversation_id": f"{prefix}-{i}",
                    "channel": "rest",
                    "status": "open",
                    "urgency": urgency.value,
                    "priority": urgency.priority,
                    "trigger": "request_human",
                    "contact": f"0219{i:06d}",
                    "need": "Top-up failed.",
                    "created_at": now - timedelta(minutes=count - i),
                    "updated_at": now - timedelta(minutes=count - i),
                    "snapshot": {},
                    "paused": False,
                    "bulk_closed": False,
                }
                for i in range(count)
            ],
        )
