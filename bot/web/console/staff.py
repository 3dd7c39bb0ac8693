"""Admins manage staff accounts. Every change is audited by bot.people.staff."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from bot.core.errors import ValidationError
from bot.db.models import StaffRole, StaffUser
from bot.people import staff
from bot.web.console.pages import Admin, CsrfChecked, back, page
from bot.web.deps import Context, Db, RowId

router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("/staff")
def staff_page(request: Request, session: Db, ctx: Context, state: Admin) -> HTMLResponse:
    users = list(session.scalars(select(StaffUser).order_by(StaffUser.username)))
    return page(request, ctx, "staff.html", state, users=users, roles=[r.value for r in StaffRole])


@router.post("/staff")
def create_staff(
    session: Db,
    ctx: Context,
    state: Admin,
    _csrf: CsrfChecked,
    username: Annotated[str, Form(max_length=80)],
    password: Annotated[str, Form(max_length=200)],
    role: Annotated[str, Form(max_length=10)],
    display_name: Annotated[str, Form(max_length=4 * staff.MAX_DISPLAY_NAME)] = "",
) -> Response:
    try:
        role_value = StaffRole(role)
    except ValueError:
        raise ValidationError(f"unknown role {role!r}") from None
    actor = staff.console_actor(state[0])
    staff.create_user(session, username, password, role_value, ctx.clock(), actor=actor, display_name=display_name)
    return back("/console/staff", f"Account {username.strip().lower()} created.")


@router.post("/staff/{user_id}/disable")
def disable_staff(user_id: RowId, session: Db, ctx: Context, state: Admin, _csrf: CsrfChecked) -> Response:
    user = staff.disable_user(session, user_id, state[0], ctx.clock())
    return back("/console/staff", f"Account {user.username} disabled.")
