"""Work on many escalations at once: assign, set the status, add a note, or resolve with a
message to each customer. Replies are sent by the console (they go through Rasa); this module
records them.

- Each escalation gets its own audit row, through the same functions one-by-one work uses.
- Large selections run in chunks, each its own short transaction.
- A request carries a token (from the form); the first run claims it, so a double click or a
  retry changes nothing twice and sends nothing twice.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from bot.core.errors import ValidationError
from bot.db.models import BulkRequest, Escalation, EscalationStatus, StaffUser
from bot.people import escalations
from bot.people.closing import check_message, close_and_tell
from bot.people.staff import console_actor

CHUNK = 200
MAX_SELECTION = 10_000  # "all matching" is capped: an outage day's whole queue, not more


class BulkAction(str, enum.Enum):
    ASSIGN = "assign"
    STATUS = "status"
    NOTE = "note"
    REPLY = "reply"  # recorded here after the console sent it
    RESOLVE = "resolve"  # closed, and the customer told, through the closing-notice outbox


@dataclass(frozen=True)
class BulkResult:
    changed: int
    skipped: int  # already in that state, or no longer active
    repeated: bool = False  # the token was used before: nothing was done


def claim(sessions: sessionmaker[Session], token: str, user: StaffUser, action: BulkAction, now: datetime) -> bool:
    """Take the request's token; False if a request with it already ran."""
    if not token or len(token) > 64:
        raise ValidationError("a bulk request needs its form's token")
    try:
        with sessions.begin() as session:
            session.add(BulkRequest(token=token, actor=console_actor(user), action=action.value, created_at=now))
    except IntegrityError:
        return False
    return True


def _apply(
    session: Session,
    escalation: Escalation,
    action: BulkAction,
    user: StaffUser,
    now: datetime,
    text: str,
    status: EscalationStatus | None,
) -> bool:
    if action is BulkAction.ASSIGN:
        if escalation.assignee_id == user.id:
            return False
        escalations.assign(session, escalation, user, now)
    elif action is BulkAction.STATUS:
        assert status is not None
        if escalation.status is status:
            return False
        escalations.set_status(session, escalation, status, user, now)
    elif action is BulkAction.NOTE:
        escalations.add_note(session, escalation, user, text, now)
    elif action is BulkAction.REPLY:
        escalations.record_reply(session, escalation, user, text, now)
    else:
        if escalation.status is EscalationStatus.RESOLVED:
            return False
        close_and_tell(session, escalation, text, console_actor(user), now)
    return True


def run(
    sessions: sessionmaker[Session],
    ids: Sequence[int],
    action: BulkAction,
    user: StaffUser,
    now: datetime,
    *,
    text: str = "",
    status: EscalationStatus | None = None,
    progress: Callable[[int], None] | None = None,
) -> BulkResult:
    """Apply `action` to escalations `ids`, CHUNK at a time. The caller has claimed the token."""
    if action in (BulkAction.NOTE, BulkAction.REPLY, BulkAction.RESOLVE):
        text = check_message(text)
    if action is BulkAction.STATUS and status is None:
        raise ValidationError("choose the status to set")
    unique = list(dict.fromkeys(ids))[:MAX_SELECTION]
    changed = skipped = 0
    for start in range(0, len(unique), CHUNK):
        chunk = unique[start : start + CHUNK]
        with sessions.begin() as session:
            rows = session.scalars(
                select(Escalation)
                .where(Escalation.id.in_(chunk))
                .options(selectinload(Escalation.notes), selectinload(Escalation.assignee))
            ).all()
            for row in rows:
                if _apply(session, row, action, user, now, text, status):
                    changed += 1
                else:
                    skipped += 1
            skipped += len(chunk) - len(rows)
        if progress:
            progress(changed)
    return BulkResult(changed, skipped)


def record_count(sessions: sessionmaker[Session], token: str, count: int) -> None:
    with sessions.begin() as session:
        row = session.get(BulkRequest, token)
        if row is not None:
            row.count = count
