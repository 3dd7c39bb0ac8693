"""Escalations for the tests: many waiting ones written in one statement, for the queue's tests
and its benchmark (the ORM one row at a time takes seconds for 10,000), and one made as the
form makes it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bot.db.models import Escalation, Urgency
from bot.people.escalations import Receipt, create_escalation
from tests.conftest import NOW


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


def escalate(
    session: Session,
    conversation_id: str,
    contact: str,
    *,
    channel: str = "rest",
    urgency: Urgency = Urgency.NORMAL,
    services: Sequence[str] = (),
    need: str = "Top-up failed",
    now: datetime | None = None,
) -> Receipt:
    """One escalation made as the form makes it (through `create_escalation`)."""
    return create_escalation(
        session,
        conversation_id=conversation_id,
        channel=channel,
        contact=contact,
        need=need,
        urgency=urgency,
        trigger="request_human",
        now=now or NOW,
        service_keys=services,
    )
