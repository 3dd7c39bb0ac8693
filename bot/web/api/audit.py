"""/api/v1/audit: who changed what, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from bot.db.audit import audit_trail
from bot.web.api.auth import Operator
from bot.web.deps import Db, RowIdQuery
from bot.web.errors import READ

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


class AuditOut(BaseModel):
    at: datetime
    actor: str
    action: str
    incident_id: int | None
    detail: dict[str, Any]


@router.get("", response_model=list[AuditOut], responses=READ)
def audit(session: Db, _: Operator, incident_id: RowIdQuery = None) -> list[AuditOut]:
    return [
        AuditOut(at=e.at, actor=e.actor, action=e.action, incident_id=e.incident_id, detail=e.detail)
        for e in audit_trail(session, incident_id)
    ]
