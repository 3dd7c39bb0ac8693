"""What every console router shares: who is logged in, the CSRF check, rendering and redirects."""

from __future__ import annotations

import hmac
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from bot.core.timefmt import format_when
from bot.db.models import Escalation, StaffRole, StaffUser
from bot.people import staff
from bot.web.deps import Context, Db, WebContext
from bot.web.errors import Forbidden, LoginRequired
from common.contact import contact_link

COOKIE = "oa_console"
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))  # autoescaped
templates.env.globals["contact_link"] = contact_link


def login_state(request: Request, session: Db, ctx: Context) -> tuple[StaffUser, str]:
    """The logged-in staff member and their session's CSRF token; LoginRequired without one."""
    row = staff.current(session, request.cookies.get(COOKIE), ctx.clock())
    if row is None:
        raise LoginRequired
    return row.user, row.csrf_token


def admin_state(state: Annotated[tuple[StaffUser, str], Depends(login_state)]) -> tuple[StaffUser, str]:
    if state[0].role is not StaffRole.ADMIN:
        raise Forbidden
    return state


async def require_csrf(request: Request, state: Annotated[tuple[StaffUser, str], Depends(login_state)]) -> None:
    """Every form posts the session's CSRF token; a missing or wrong one is refused with 403."""
    form = await request.form()
    sent = form.get("csrf")
    if not isinstance(sent, str) or not sent or not hmac.compare_digest(sent.encode(), state[1].encode()):
        raise Forbidden


Staff = Annotated[tuple[StaffUser, str], Depends(login_state)]
Admin = Annotated[tuple[StaffUser, str], Depends(admin_state)]
CsrfChecked = Annotated[None, Depends(require_csrf)]


def _helpers(ctx: WebContext) -> dict[str, Any]:
    """Time wording for templates, in the assistant's time zone and on its clock."""

    def when(moment: datetime) -> str:
        return format_when(moment, ctx.clock(), ctx.settings.tz)

    def waited(e: Escalation) -> str:
        minutes = int((ctx.clock() - e.created_at).total_seconds() // 60)
        return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"

    def stamp(at: object) -> str:
        """A tracker event's epoch seconds, as local time."""
        if isinstance(at, (int, float)):
            return when(datetime.fromtimestamp(float(at), tz=timezone.utc))
        return ""

    return {"when": when, "waited": waited, "stamp": stamp}


def page(
    request: Request, ctx: WebContext, name: str, state: tuple[StaffUser, str] | None, **context: Any
) -> HTMLResponse:
    user, csrf = state if state else (None, "")
    return templates.TemplateResponse(
        request,
        name,
        {
            **_helpers(ctx),
            "user": user,
            "csrf": csrf,
            "message": request.query_params.get("msg", "")[:200],
            "error": request.query_params.get("err") == "1",
            **context,
        },
    )


def back(url: str, message: str = "", error: bool = False) -> RedirectResponse:
    suffix = f"?msg={quote(message)}" + ("&err=1" if error else "") if message else ""
    return RedirectResponse(url + suffix, status_code=303)


def secure(request: Request) -> bool:
    # Secure cookies whenever the request came over TLS (directly, or via a proxy uvicorn
    # trusts); browsers drop Secure cookies on plain-HTTP loopback, which the demo uses.
    return request.url.scheme == "https"
