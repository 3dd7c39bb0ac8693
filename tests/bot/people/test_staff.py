"""Staff accounts: argon2 hashes, the failed-login limit, sessions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from bot.core.errors import ValidationError
from bot.db.models import StaffRole
from bot.people.staff import (
    MAX_FAILURES,
    SESSION_LIFETIME,
    LoginLocked,
    create_user,
    current,
    end_session,
    start_session,
    verify_login,
)
from tests.conftest import NOW

PASSWORD = "correct horse battery"


def test_passwords_are_stored_as_argon2_hashes(session: Session) -> None:
    user = create_user(session, "Aroha", PASSWORD, StaffRole.ADMIN, NOW, actor="test")
    assert user.username == "aroha" and user.password_hash.startswith("$argon2")
    assert PASSWORD not in user.password_hash


@pytest.mark.parametrize(("name", "password"), [("", PASSWORD), ("a b", PASSWORD), ("<x>", PASSWORD), ("ok", "short")])
def test_bad_accounts_are_refused(session: Session, name: str, password: str) -> None:
    with pytest.raises(ValidationError):
        create_user(session, name, password, StaffRole.AGENT, NOW, actor="test")


def test_login_and_the_brute_force_limit(session: Session) -> None:
    create_user(session, "tama", PASSWORD, StaffRole.AGENT, NOW, actor="test")
    assert verify_login(session, "Tama", PASSWORD, "1.2.3.4", NOW) is not None
    for _ in range(MAX_FAILURES):
        assert verify_login(session, "tama", "guess", "1.2.3.4", NOW) is None
    with pytest.raises(LoginLocked):
        verify_login(session, "tama", PASSWORD, "1.2.3.4", NOW)  # even the right password, during the lockout
    assert verify_login(session, "tama", PASSWORD, "1.2.3.4", NOW + timedelta(minutes=16)) is not None
    assert verify_login(session, "nobody", PASSWORD, "1.2.3.4", NOW) is None


def test_sessions_expire_and_end(session: Session) -> None:
    user = create_user(session, "tama", PASSWORD, StaffRole.AGENT, NOW, actor="test")
    new = start_session(session, user, NOW)
    row = current(session, new.token, NOW)
    assert row is not None and row.user.username == "tama" and row.csrf_token == new.csrf
    assert current(session, new.token, NOW + SESSION_LIFETIME) is None
    assert current(session, "forged", NOW) is None and current(session, None, NOW) is None
    end_session(session, new.token, user, NOW)
    assert current(session, new.token, NOW) is None
