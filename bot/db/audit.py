"""The audit trail: who changed what, when. Every write function in bot/ records its own row
through `record`, in the same transaction as its change, so no caller can forget it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import AuditEntry


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    now: datetime,
    incident_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    entry = AuditEntry(at=now, actor=actor, action=action, incident_id=incident_id, detail=detail or {})
    session.add(entry)
    session.flush()
    return entry


def audit_trail(session: Session, incident_id: int | None = None, limit: int = 200) -> list[AuditEntry]:
    """Newest first; only one incident's if `incident_id` is given."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if incident_id is not None:
        query = query.where(AuditEntry.incident_id == incident_id)
    return list(session.scalars(query))
