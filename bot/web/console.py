"""The staff console (/console): server-rendered pages for support staff and admins.

Sessions live in the database (the cookie carries a random token; only its hash is
stored), cookies are HttpOnly and SameSite=Strict, every form carries a CSRF token, and
failed logins are limited per username. Jinja2 escapes everything it renders, so customer
text cannot run in a staff browser.
"""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at run time.

import functools
import hmac
import logging
import secrets
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot import escalations, incidents, operators, review, staff
from bot.db import make_engine
from bot.entities import INTENT_SERVICE
from bot.errors import ConversationStoreError, NotFoundError, ValidationError
from bot.models import (
    Escalation,
    EscalationStatus,
    Impact,
    Incident,
    IncidentStatus,
    Service,
    ServiceStatus,
    StaffRole,
    StaffUser,
    Urgency,
)
from bot.rasa_api import conversation_path, rasa_client
from bot.settings import Settings
from bot.text import printable
from bot.timefmt import format_when
from bot.web.deps import RowId, RowIdForm

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
COOKIE = "oa_console"
LOGIN_CSRF_COOKIE = "oa_login_csrf"
MAX_REPLY = 2000
# Rasa's SQL tracker store: one row per event, user messages with their intent.
USER_EVENTS = "SELECT sender_id, intent_name, timestamp FROM events WHERE type_name = 'user' AND timestamp >= :t"


class LoginRequired(Exception):
    pass


class Forbidden(Exception):
    pass


class RasaClient:
    """The parts of Rasa's HTTP API the console uses. `transport` lets tests inject one."""

    def __init__(self, base_url: str, token: str, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url, self.token, self.transport = base_url, token, transport

    def _client(self) -> httpx.AsyncClient:
        return rasa_client(self.base_url, self.token, timeout=5.0, transport=self.transport)

    _path = staticmethod(conversation_path)

    async def events(self, conversation_id: str) -> list[dict[str, Any]] | None:
        """The conversation's events, or None if Rasa cannot be reached."""
        try:
            async with self._client() as client:
                response = await client.get(self._path(conversation_id, "tracker"))
            response.raise_for_status()
            events = response.json().get("events")
            return events if isinstance(events, list) else None
        except (httpx.HTTPError, ValueError, AttributeError, ValidationError):
            return None

    async def reply(self, conversation_id: str, text: str) -> None:
        """Send staff text to the customer's channel, then pause the assistant. Raises httpx.HTTPError."""
        async with self._client() as client:
            slot = {"event": "slot", "name": "staff_reply", "value": text}
            (await client.post(self._path(conversation_id, "tracker/events"), json=slot)).raise_for_status()
            (
                await client.post(
                    self._path(conversation_id, "execute"),
                    params={"output_channel": "latest"},
                    json={"name": "utter_staff_reply"},
                )
            ).raise_for_status()
            (
                await client.post(self._path(conversation_id, "tracker/events"), json={"event": "pause"})
            ).raise_for_status()

    async def resume(self, conversation_id: str) -> None:
        async with self._client() as client:
            (
                await client.post(self._path(conversation_id, "tracker/events"), json={"event": "resume"})
            ).raise_for_status()


def console_router(
    settings: Settings,
    sessions: sessionmaker[Session],
    clock: Callable[[], datetime],
    rasa: RasaClient,
) -> APIRouter:
    router = APIRouter(prefix="/console", include_in_schema=False)
    templates = Jinja2Templates(directory=str(HERE / "templates"))  # autoescape is on for .html

    def secure(request: Request) -> bool:
        # Secure cookies whenever the request came over TLS (directly, or via a proxy uvicorn
        # trusts); browsers drop Secure cookies on plain-HTTP loopback, which the demo uses.
        return request.url.scheme == "https"

    def when(moment: datetime) -> str:
        return format_when(moment, clock(), settings.tz)

    def waited(e: Escalation) -> str:
        minutes = int((clock() - e.created_at).total_seconds() // 60)
        return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"

    def stamp(at: object) -> str:
        """A tracker event's epoch seconds, as local time."""
        if isinstance(at, (int, float)):
            return when(datetime.fromtimestamp(float(at), tz=timezone.utc))
        return ""

    templates.env.globals.update(when=when, waited=waited, stamp=stamp)

    @functools.cache
    def tracker_store() -> Engine:
        """Rasa's tracker store, read-only, for the overview; one engine, made on first use."""
        return make_engine(settings.tracker_store_url)

    def db() -> Iterator[Session]:
        with sessions.begin() as session:
            yield session

    def login_state(
        request: Request, session: Annotated[Session, Depends(db, scope="function")]
    ) -> tuple[StaffUser, str]:
        row = staff.current(session, request.cookies.get(COOKIE), clock())
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

    Db = Annotated[Session, Depends(db, scope="function")]
    Staff = Annotated[tuple[StaffUser, str], Depends(login_state)]
    Admin = Annotated[tuple[StaffUser, str], Depends(admin_state)]
    CsrfChecked = Annotated[None, Depends(require_csrf)]

    def page(request: Request, name: str, state: tuple[StaffUser, str] | None, **context: Any) -> HTMLResponse:
        user, csrf = state if state else (None, "")
        message = request.query_params.get("msg", "")[:200]
        return templates.TemplateResponse(
            request,
            name,
            {
                "user": user,
                "csrf": csrf,
                "message": message,
                "error": request.query_params.get("err") == "1",
                **context,
            },
        )

    def back(url: str, message: str = "", error: bool = False) -> RedirectResponse:
        suffix = f"?msg={quote(message)}" + ("&err=1" if error else "") if message else ""
        return RedirectResponse(url + suffix, status_code=303)

    # --- logging in and out -------------------------------------------------------------------

    @router.get("/login")
    def login_form(request: Request) -> HTMLResponse:
        token = secrets.token_urlsafe(24)
        response = page(request, "login.html", None, login_csrf=token)
        response.set_cookie(
            LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure(request), path="/console"
        )
        return response

    @router.post("/login")
    def login(
        request: Request,
        session: Db,
        username: Annotated[str, Form(max_length=80)],
        password: Annotated[str, Form(max_length=200)],
        csrf: Annotated[str, Form(max_length=100)] = "",
    ) -> Response:
        expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not expected or not hmac.compare_digest(csrf.encode(), expected.encode()):
            raise Forbidden
        client = request.client.host if request.client else "unknown"
        try:
            user = staff.verify_login(session, username, password, client, clock())
        except staff.LoginLocked as exc:
            response = page(request, "login.html", None, login_csrf=expected, message=str(exc), error=True)
            response.status_code = 429
            return response
        if user is None:
            logger.info("failed console login for %r", username[:80])
            response = page(
                request, "login.html", None, login_csrf=expected, message="Wrong username or password.", error=True
            )
            response.status_code = 401
            return response
        new = staff.start_session(session, user, clock())
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
    def logout(request: Request, session: Db, state: Staff, _csrf: CsrfChecked) -> Response:
        staff.end_session(session, request.cookies.get(COOKIE))
        response = RedirectResponse("/console/login", status_code=303)
        response.delete_cookie(COOKIE, path="/console")
        return response

    # --- the queue and one escalation ---------------------------------------------------------

    @router.get("")
    def queue_page(
        request: Request,
        session: Db,
        state: Staff,
        status: str = "",
        urgency: str = "",
        service: str = "",
        older_than: str = "",
        sort: str = "priority",
    ) -> HTMLResponse:
        try:
            status_value = EscalationStatus(status) if status else None
            urgency_value = Urgency(urgency) if urgency else None
            older = int(older_than) if older_than.strip() else None
            if older is not None and not 0 <= older <= 10_000_000:
                raise ValueError(older_than)
        except ValueError:
            return page(
                request, "queue.html", state, **_queue_context(session, []), message="Unknown filter value.", error=True
            )
        rows = escalations.queue(
            session,
            status=status_value,
            urgency=urgency_value,
            service_key=service[:32] or None,
            older_than_minutes=older,
            sort=sort if sort in escalations.SORTS else "priority",
            now=clock(),
        )
        filters = {"status": status, "urgency": urgency, "service": service, "older_than": older, "sort": sort}
        return page(request, "queue.html", state, **(_queue_context(session, rows) | {"filters": filters}))

    def _queue_context(session: Session, rows: list[Escalation]) -> dict[str, Any]:
        services = [(s.key, s.name) for s in session.scalars(select(Service).order_by(Service.position))]
        return {
            "rows": rows,
            "statuses": [s.value for s in EscalationStatus],
            "urgencies": [u.value for u in Urgency],
            "services": services,
            "sorts": list(escalations.SORTS),
            "filters": {"sort": "priority"},
        }

    def load(session: Session, escalation_id: int) -> Escalation:
        return escalations.get_escalation(session, escalation_id)

    @router.get("/escalations/{escalation_id}")
    async def escalation_page(request: Request, escalation_id: RowId, state: Staff) -> HTMLResponse:
        with sessions() as session:
            escalation = load(session, escalation_id)
            session.expunge_all()
        events = await rasa.events(escalation.conversation_id)
        if events is not None:
            transcript = escalations.snapshot_of(events, None)["transcript"]
            source = "live from Rasa"
        else:
            transcript = escalation.snapshot.get("transcript", [])
            source = "Rasa unreachable: the snapshot taken when the customer asked"
        return page(
            request,
            "escalation.html",
            state,
            e=escalation,
            transcript=transcript,
            transcript_source=source,
            statuses=[s.value for s in EscalationStatus],
            can_push=escalation.channel in settings.notify_push_channels,
        )

    @router.post("/escalations/{escalation_id}/assign")
    def assign(escalation_id: RowId, session: Db, state: Staff, _csrf: CsrfChecked) -> Response:
        escalations.assign(session, load(session, escalation_id), state[0], clock())
        return back(f"/console/escalations/{escalation_id}", "Assigned to you.")

    @router.post("/escalations/{escalation_id}/note")
    def note(
        escalation_id: RowId,
        session: Db,
        state: Staff,
        _csrf: CsrfChecked,
        text: Annotated[str, Form(max_length=20000)],
    ) -> Response:
        escalations.add_note(session, load(session, escalation_id), state[0], text, clock())
        return back(f"/console/escalations/{escalation_id}", "Note added.")

    @router.post("/escalations/{escalation_id}/status")
    def set_status(
        escalation_id: RowId, session: Db, state: Staff, _csrf: CsrfChecked, status: Annotated[str, Form(max_length=20)]
    ) -> Response:
        try:
            value = EscalationStatus(status)
        except ValueError:
            raise ValidationError(f"unknown status {status!r}") from None
        escalations.set_status(session, load(session, escalation_id), value, state[0], clock())
        return back(f"/console/escalations/{escalation_id}", f"Status set to {value.value}.")

    @router.post("/escalations/{escalation_id}/reply")
    async def reply(
        escalation_id: RowId, state: Staff, _csrf: CsrfChecked, text: Annotated[str, Form(max_length=MAX_REPLY)]
    ) -> Response:
        body = printable(text)
        if not body:
            raise ValidationError("a reply needs some text")
        with sessions() as session:
            escalation = load(session, escalation_id)
            conversation, channel = escalation.conversation_id, escalation.channel
        if channel not in settings.notify_push_channels:
            raise ValidationError(f"the {channel} channel cannot receive messages we start")
        try:
            await rasa.reply(conversation, body)
        except httpx.HTTPError as exc:
            logger.warning("staff reply not delivered: %s", exc.__class__.__name__)
            return back(
                f"/console/escalations/{escalation_id}", "Rasa could not be reached; the reply was not sent.", True
            )
        with sessions.begin() as session:
            escalation = load(session, escalation_id)
            escalations.add_note(session, escalation, state[0], body, clock(), kind="reply")
            escalation.paused = True
            if escalation.status is EscalationStatus.OPEN:
                escalations.assign(session, escalation, state[0], clock())
        return back(
            f"/console/escalations/{escalation_id}", "Reply sent; the assistant is paused in this conversation."
        )

    @router.post("/escalations/{escalation_id}/handback")
    async def handback(escalation_id: RowId, state: Staff, _csrf: CsrfChecked) -> Response:
        with sessions() as session:
            conversation = load(session, escalation_id).conversation_id
        try:
            await rasa.resume(conversation)
        except httpx.HTTPError:
            return back(f"/console/escalations/{escalation_id}", "Rasa could not be reached; still paused.", True)
        with sessions.begin() as session:
            load(session, escalation_id).paused = False
        return back(f"/console/escalations/{escalation_id}", "Handed back to the assistant.")

    # --- overview -----------------------------------------------------------------------------

    @router.get("/overview")
    def overview(request: Request, session: Db, state: Staff, hours: int = 24) -> HTMLResponse:
        hours = max(1, min(hours, 24 * 14))
        stats = conversation_stats(tracker_store(), session, clock(), hours)
        return page(request, "overview.html", state, stats=stats, hours=hours)

    # --- review: messages the assistant was unsure of, labelled for the next training run --------

    @router.get("/review")
    def review_page(request: Request, session: Db, state: Staff, days: int = 7) -> HTMLResponse:
        days = max(1, min(days, 90))
        try:
            items = review.uncertain_messages(tracker_store(), session, clock() - timedelta(days=days))
            available = True
        except ConversationStoreError:
            items, available = [], False
        counts = review.label_counts(session)
        return page(
            request,
            "review.html",
            state,
            items=items,
            available=available,
            days=days,
            intents=review.INTENTS,
            ignore=review.IGNORE,
            counts=counts,
            labelled=sum(counts.values()),
        )

    @router.post("/review")
    def label_message(
        session: Db,
        state: Staff,
        _csrf: CsrfChecked,
        event_id: RowIdForm,
        intent: Annotated[str, Form(max_length=64)],
    ) -> Response:
        try:
            review.label_message(
                session, tracker_store(), event_id, intent, actor=f"console:{state[0].username}", now=clock()
            )
        except ConversationStoreError:
            return back("/console/review", "Rasa's conversation store cannot be read; nothing was saved.", True)
        return back("/console/review", "Ignored." if intent == review.IGNORE else f"Labelled {intent}.")

    # --- admin: incidents and staff -------------------------------------------------------------

    @router.get("/incidents")
    def incidents_page(request: Request, session: Db, state: Admin) -> HTMLResponse:
        active = list(
            session.scalars(select(Incident).where(Incident.status != IncidentStatus.RESOLVED).order_by(Incident.id))
        )
        services = [(s.key, s.name) for s in session.scalars(select(Service).order_by(Service.position))]
        return page(
            request,
            "incidents.html",
            state,
            active=active,
            services=services,
            service_statuses=[s.value for s in ServiceStatus],
            incident_statuses=[s.value for s in IncidentStatus if s is not IncidentStatus.RESOLVED],
            impacts=[i.value for i in Impact],
        )

    def audited(
        session: Session, state: tuple[StaffUser, str], action: str, incident_id: int, detail: dict[str, Any]
    ) -> None:
        operators.record(
            session,
            actor=f"console:{state[0].username}",
            action=action,
            now=clock(),
            incident_id=incident_id,
            detail=detail,
        )

    @router.post("/incidents")
    def create_incident(
        session: Db,
        state: Admin,
        _csrf: CsrfChecked,
        title: Annotated[str, Form(max_length=200)],
        message: Annotated[str, Form(max_length=5000)],
        impact: Annotated[str, Form(max_length=20)] = "major",
        services: Annotated[list[str] | None, Form()] = None,
    ) -> Response:
        chosen = {k[:32]: ServiceStatus.MAJOR_OUTAGE for k in (services or [])[:20]}
        try:
            impact_value = Impact(impact)
        except ValueError:
            raise ValidationError(f"unknown impact {impact!r}") from None
        made = incidents.create_incident(
            session, title=title, message=message, now=clock(), impact=impact_value, impacts=chosen
        )
        audited(session, state, "create", made.id, {"title": title, "services": sorted(chosen)})
        return back("/console/incidents", f"Incident #{made.id} created.")

    @router.post("/incidents/{incident_id}/update")
    def update_incident(
        incident_id: RowId,
        session: Db,
        state: Admin,
        _csrf: CsrfChecked,
        message: Annotated[str, Form(max_length=5000)],
        status: Annotated[str, Form(max_length=20)] = "",
    ) -> Response:
        try:
            status_value = IncidentStatus(status) if status else None
        except ValueError:
            raise ValidationError(f"unknown status {status!r}") from None
        incidents.post_update(session, incident_id, message=message, now=clock(), status=status_value)
        audited(session, state, "post_update", incident_id, {"message": message, "status": status})
        return back("/console/incidents", "Update posted.")

    @router.post("/incidents/{incident_id}/impact")
    def set_impact(
        incident_id: RowId,
        session: Db,
        state: Admin,
        _csrf: CsrfChecked,
        service: Annotated[str, Form(max_length=32)],
        status: Annotated[str, Form(max_length=30)],
    ) -> Response:
        try:
            value = ServiceStatus(status)
        except ValueError:
            raise ValidationError(f"unknown service status {status!r}") from None
        incidents.set_impact(session, incident_id, service, value, now=clock())
        audited(session, state, "set_impact", incident_id, {"service": service, "status": status})
        return back("/console/incidents", "Impact set.")

    @router.post("/incidents/{incident_id}/resolve")
    def resolve_incident(
        incident_id: RowId,
        session: Db,
        state: Admin,
        _csrf: CsrfChecked,
        message: Annotated[str, Form(max_length=5000)],
    ) -> Response:
        incidents.resolve_incident(session, incident_id, message=message, now=clock())
        audited(session, state, "resolve", incident_id, {"message": message})
        return back("/console/incidents", f"Incident #{incident_id} resolved.")

    @router.get("/staff")
    def staff_page(request: Request, session: Db, state: Admin) -> HTMLResponse:
        users = list(session.scalars(select(StaffUser).order_by(StaffUser.username)))
        return page(request, "staff.html", state, users=users, roles=[r.value for r in StaffRole])

    @router.post("/staff")
    def create_staff(
        session: Db,
        state: Admin,
        _csrf: CsrfChecked,
        username: Annotated[str, Form(max_length=80)],
        password: Annotated[str, Form(max_length=200)],
        role: Annotated[str, Form(max_length=10)],
    ) -> Response:
        try:
            role_value = StaffRole(role)
        except ValueError:
            raise ValidationError(f"unknown role {role!r}") from None
        staff.create_user(session, username, password, role_value, clock())
        return back("/console/staff", f"Account {username.strip().lower()} created.")

    @router.post("/staff/{user_id}/disable")
    def disable_staff(user_id: RowId, session: Db, state: Admin, _csrf: CsrfChecked) -> Response:
        user = session.get(StaffUser, user_id)
        if user is None:
            raise NotFoundError(f"no staff account {user_id}")
        if user.id == state[0].id:
            raise ValidationError("you cannot disable your own account")
        user.disabled = True
        return back("/console/staff", f"Account {user.username} disabled.")

    return router


def conversation_stats(tracker_store: Engine, session: Session, now: datetime, hours: int) -> dict[str, Any]:
    """Figures for the overview, from Rasa's tracker store and our escalations."""
    since = now - timedelta(hours=hours)
    escalated = {
        row[0]
        for row in session.execute(select(Escalation.conversation_id).where(Escalation.created_at >= since)).all()
    }
    conversations: set[str] = set()
    intents: Counter[str] = Counter()
    per_hour: Counter[int] = Counter()
    fallbacks = messages = 0
    available = True
    try:
        with tracker_store.connect() as conn:
            rows = conn.execute(text(USER_EVENTS), {"t": since.timestamp()}).all()
    except SQLAlchemyError:
        rows, available = [], False
    for sender, intent, stamp in rows:
        conversations.add(sender)
        messages += 1
        intents[intent or "none"] += 1
        fallbacks += intent == "nlu_fallback"
        per_hour[int((now.timestamp() - float(stamp)) // 3600)] += 1
    by_service: dict[str, Counter[str]] = {}
    for intent, count in intents.items():
        service = INTENT_SERVICE.get(intent) or "general"
        by_service.setdefault(service, Counter())[intent] += count
    total = len(conversations)
    chart = [(h, per_hour.get(h, 0)) for h in range(min(hours, 48) - 1, -1, -1)]
    peak = max((c for _, c in chart), default=0) or 1
    return {
        "available": available,
        "conversations": total,
        "messages": messages,
        "escalations": len(escalated),
        "escalation_rate": len(escalated & conversations) / total if total else 0.0,
        "containment": (total - len(escalated & conversations)) / total if total else 0.0,
        "fallback_rate": fallbacks / messages if messages else 0.0,
        "top_intents": {k: v.most_common(3) for k, v in sorted(by_service.items())},
        "chart": chart,
        "peak": peak,
    }


def console_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    def _login(request: Request, _: LoginRequired) -> Response:
        if request.method == "GET":
            return RedirectResponse("/console/login", status_code=303)
        return HTMLResponse("<h1>Please log in</h1>", 401)

    @app.exception_handler(Forbidden)
    def _forbidden(_: Request, __: Forbidden) -> Response:
        return HTMLResponse("<h1>Forbidden</h1><p>You cannot do that here.</p>", 403)


def count_staff(session: Session) -> int:
    return int(session.scalar(select(func.count(StaffUser.id))) or 0)
