"""Logging in and out of the console."""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from bot.people import staff
from bot.web.console.pages import COOKIE, CsrfChecked, Staff, page, secure
from bot.web.deps import Context, Db
from bot.web.errors import Forbidden

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/console", include_in_schema=False)
LOGIN_CSRF_COOKIE = "oa_login_csrf"


@router.get("/login")
def login_form(request: Request, ctx: Context) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = page(request, ctx, "login.html", None, login_csrf=token)
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure(request), path="/console"
    )
    return response


@router.post("/login")
def login(
    request: Request,
    session: Db,
    ctx: Context,
    username: Annotated[str, Form(max_length=80)],
    password: Annotated[str, Form(max_length=200)],
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(csrf.encode(), expected.encode()):
        raise Forbidden
    client = request.client.host if request.client else "unknown"
    try:
        user = staff.verify_login(session, username, password, client, ctx.clock())
    except staff.LoginLocked as exc:
        response = page(request, ctx, "login.html", None, login_csrf=expected, message=str(exc), error=True)
        response.status_code = 429
        return response
    if user is None:
        logger.info("failed console login for %r", username[:80])
        wrong = "Wrong username or password."
        response = page(request, ctx, "login.html", None, login_csrf=expected, message=wrong, error=True)
        response.status_code = 401
        return response
    new = staff.start_session(session, user, ctx.clock())
    done = RedirectResponse("/console", status_code=303)
    done.set_cookie(
        COOKIE,
        new.token,
        httponly=True,
        samesite="strict",
        secure=secure(request),
        path="/console",
        max_age=int(staff.SESSION_LIFETIME.total_seconds()),
    )
    done.delete_cookie(LOGIN_CSRF_COOKIE, path="/console")
    return done


@router.post("/logout")
def logout(request: Request, session: Db, ctx: Context, state: Staff, _csrf: CsrfChecked) -> Response:
    staff.end_session(session, request.cookies.get(COOKIE), state[0], ctx.clock())
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(COOKIE, path="/console")
    return response
