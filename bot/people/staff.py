"""Staff accounts for the console: argon2 password hashes, server-side sessions, a login limit."""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, selectinload

from bot.core.errors import NotFoundError, ValidationError
from bot.db.audit import record
from bot.db.models import LoginAttempt, StaffRole, StaffSession, StaffUser
from bot.people.tokens import digest, new_secret
from common.text import printable

SESSION_LIFETIME = timedelta(hours=12)
MAX_FAILURES = 5  # per username, within LOCKOUT
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD = 12
MAX_DISPLAY_NAME = 80
_hasher = PasswordHasher()


def console_actor(user: StaffUser) -> str:
    """How the audit trail names a staff member acting in the console."""
    return f"console:{user.username}"


def create_user(
    session: Session,
    username: str,
    password: str,
    role: StaffRole,
    now: datetime,
    *,
    actor: str,
    display_name: str | None = None,
) -> StaffUser:
    """A console account; `display_name` is how customers see its replies ("Sam (support): ...")."""
    username = username.strip().lower()
    shown = printable(display_name or "")
    if len(shown) > MAX_DISPLAY_NAME:
        raise ValidationError(f"display names are at most {MAX_DISPLAY_NAME} characters")
    if not username or len(username) > 80 or not username.replace(".", "").replace("-", "").replace("_", "").isalnum():
        raise ValidationError("usernames are 1-80 letters, digits, dots, dashes or underscores")
    if len(password) < MIN_PASSWORD:
        raise ValidationError(f"passwords need at least {MIN_PASSWORD} characters")
    if session.scalars(select(StaffUser).where(StaffUser.username == username)).first():
        raise ValidationError(f"there is already a user called {username!r}")
    user = StaffUser(
        username=username,
        password_hash=_hasher.hash(password),
        role=StaffRole(role),
        created_at=now,
        display_name=shown or None,
    )
    session.add(user)
    session.flush()
    detail = {"name": username, "role": user.role.value, "display_name": user.display_name}
    record(session, actor=actor, action="staff_create", now=now, detail=detail)
    return user


def disable_user(session: Session, user_id: int, by: StaffUser, now: datetime) -> StaffUser:
    """Disable an account (its sessions stop working at once); nobody disables their own."""
    user = session.get(StaffUser, user_id)
    if user is None:
        raise NotFoundError(f"no staff account {user_id}")
    if user.id == by.id:
        raise ValidationError("you cannot disable your own account")
    user.disabled = True
    record(session, actor=console_actor(by), action="staff_disable", now=now, detail={"name": user.username})
    return user


class LoginLocked(ValidationError):
    """Too many failed logins for this username; try again later."""


def recent_failures(session: Session, username: str, now: datetime) -> int:
    return int(
        session.scalar(
            select(func.count(LoginAttempt.id)).where(
                LoginAttempt.username == username.strip().lower()[:80], LoginAttempt.at > now - LOCKOUT
            )
        )
        or 0
    )


def verify_login(session: Session, username: str, password: str, client: str, now: datetime) -> StaffUser | None:
    """The user, or None for a wrong name or password. Raises LoginLocked after too many failures,
    whether or not the password is right, so guessing gains nothing during the lockout."""
    name = username.strip().lower()[:80]
    if recent_failures(session, name, now) >= MAX_FAILURES:
        raise LoginLocked("too many failed logins; wait 15 minutes and try again")
    user = session.scalars(select(StaffUser).where(StaffUser.username == name)).first()
    ok = False
    if user is not None and not user.disabled:
        try:
            ok = _hasher.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            ok = False
    else:
        # Same work for unknown names, so timing does not reveal which names exist.
        with contextlib.suppress(VerificationError, InvalidHashError):
            _hasher.verify(_dummy_hash(), password)
    if not ok:
        session.add(LoginAttempt(username=name, client=client[:64], at=now))
        session.flush()
        return None
    session.execute(delete(LoginAttempt).where(LoginAttempt.username == name))
    return user


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash("not a real password, only for equal timing")


@dataclass(frozen=True)
class NewSession:
    token: str  # goes in the cookie, never stored
    csrf: str


def start_session(session: Session, user: StaffUser, now: datetime) -> NewSession:
    token, csrf = new_secret(), new_secret()
    session.add(
        StaffSession(
            token_hash=digest(token),
            user_id=user.id,
            csrf_token=csrf,
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )
    record(session, actor=console_actor(user), action="login", now=now)
    return NewSession(token, csrf)


def current(session: Session, token: str | None, now: datetime) -> StaffSession | None:
    if not token or len(token) > 200:
        return None
    row = session.scalars(
        select(StaffSession).where(StaffSession.token_hash == digest(token)).options(selectinload(StaffSession.user))
    ).first()
    if row is None or row.expires_at <= now or row.user.disabled:
        return None
    return row


def end_session(session: Session, token: str | None, user: StaffUser, now: datetime) -> None:
    if token:
        session.execute(delete(StaffSession).where(StaffSession.token_hash == digest(token)))
    record(session, actor=console_actor(user), action="logout", now=now)


def count_staff(session: Session) -> int:
    return int(session.scalar(select(func.count(StaffUser.id))) or 0)
