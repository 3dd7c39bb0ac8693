"""Operators' API tokens; only their SHA-256 is stored (bot.people.tokens)."""

from __future__ import annotations

import hmac
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.errors import ValidationError
from bot.db.audit import record
from bot.db.models import ApiToken
from bot.people.tokens import digest, new_secret

TOKEN_PREFIX = "oa_"
MAX_TOKEN = 200


def create_token(session: Session, name: str, now: datetime, *, actor: str) -> str:
    """Create a token for `name` and return it; it cannot be shown again."""
    name = name.strip()
    if not name or len(name) > 80 or not name.isprintable():
        raise ValidationError("a token needs a printable name of 1-80 characters")
    if session.scalars(select(ApiToken).where(ApiToken.name == name)).first() is not None:
        raise ValidationError(f"a token named {name!r} already exists; revoke it first")
    token = TOKEN_PREFIX + new_secret()
    session.add(ApiToken(name=name, token_hash=digest(token), created_at=now))
    record(session, actor=actor, action="token_create", now=now, detail={"name": name})
    return token


def revoke_token(session: Session, name: str, now: datetime, *, actor: str) -> None:
    row = session.scalars(select(ApiToken).where(ApiToken.name == name, ApiToken.revoked_at.is_(None))).first()
    if row is None:
        raise ValidationError(f"no active token named {name!r}")
    row.revoked_at = now
    # Free the name for a replacement token while keeping the row for the audit trail.
    row.name = f"{name} (revoked {now:%Y-%m-%d %H:%M:%S} #{row.id})"[:80]
    record(session, actor=actor, action="token_revoke", now=now, detail={"name": name})


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.created_at)))


def authenticate(session: Session, token: str) -> str | None:
    """The operator name behind a bearer token, or None."""
    if not token or len(token) > MAX_TOKEN:
        return None
    hashed = digest(token)
    row = session.scalars(select(ApiToken).where(ApiToken.token_hash == hashed, ApiToken.revoked_at.is_(None))).first()
    # The lookup is by hash, so timing reveals nothing about the token; compare anyway.
    if row is None or not hmac.compare_digest(row.token_hash, hashed):
        return None
    return row.name
