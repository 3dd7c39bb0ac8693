"""Operators' API tokens and the audit trail of their changes.

Tokens are 256-bit random strings; only their SHA-256 is stored. A slow password hash
adds nothing for secrets that long, and a fast one keeps every API call cheap.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.errors import ValidationError
from bot.models import ApiToken, AuditEntry

TOKEN_PREFIX = "oa_"
MAX_TOKEN = 200


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(session: Session, name: str, now: datetime) -> str:
    """Create a token for `name` and return it; it cannot be shown again."""
    name = name.strip()
    if not name or len(name) > 80 or not name.isprintable():
        raise ValidationError("a token needs a printable name of 1-80 characters")
    if session.scalars(select(ApiToken).where(ApiToken.name == name)).first() is not None:
        raise ValidationError(f"a token named {name!r} already exists; revoke it first")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(name=name, token_hash=_digest(token), created_at=now))
    session.flush()
    return token


def revoke_token(session: Session, name: str, now: datetime) -> None:
    row = session.scalars(select(ApiToken).where(ApiToken.name == name, ApiToken.revoked_at.is_(None))).first()
    if row is None:
        raise ValidationError(f"no active token named {name!r}")
    row.revoked_at = now
    # Free the name for a replacement token while keeping the row for the audit trail.
    row.name = f"{name} (revoked {now:%Y-%m-%d %H:%M:%S} #{row.id})"[:80]
    session.flush()


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.created_at)))


def authenticate(session: Session, token: str) -> str | None:
    """The operator name behind a bearer token, or None."""
    if not token or len(token) > MAX_TOKEN:
        return None
    digest = _digest(token)
    row = session.scalars(select(ApiToken).where(ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None))).first()
    # The lookup is by hash, so timing reveals nothing about the token; compare anyway.
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    return row.name


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
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if incident_id is not None:
        query = query.where(AuditEntry.incident_id == incident_id)
    return list(session.scalars(query))
