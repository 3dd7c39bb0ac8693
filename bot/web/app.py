"""The admin API (operators publish incident state), status-page webhooks and the health check.

Endpoints are plain `def`s: FastAPI runs them in its thread pool, so the synchronous
SQLAlchemy session never blocks the event loop that also drives the status-page sync.
"""

# No `from __future__ import annotations`: FastAPI resolves the Annotated dependency aliases
# defined inside create_app at run time, which postponed annotations would hide from it.
import asyncio
import contextlib
import hmac
import html
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path as FilePath
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI, Header, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, selectinload, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot import incidents as service
from bot import operators
from bot.db import make_engine, make_session_factory
from bot.devsecrets import rasa_token
from bot.errors import NotFoundError, StatusPageError, ValidationError
from bot.models import Impact, Incident, IncidentStatus, ServiceStatus, SourceHealth
from bot.settings import Settings, load_settings
from bot.statuspage import (
    SOURCE,
    Snapshot,
    WebhookEvent,
    apply_component,
    apply_snapshot,
    load_component_map,
    parse_webhook,
)
from bot.web.chat import chat_router
from bot.web.console import RasaClient, console_error_handlers, console_router
from bot.web.deps import RowId, RowIdQuery

logger = logging.getLogger(__name__)

MAX_BODY = 1_000_000  # bytes; an incident update is a few kB
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# --- request and response bodies ------------------------------------------------------------


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IncidentIn(Strict):
    title: str = Field(min_length=1, max_length=200)
    message: str = Field(min_length=1, max_length=5000, description="The first public update")
    status: IncidentStatus = IncidentStatus.INVESTIGATING
    impact: Impact = Impact.MAJOR
    started_at: AwareDatetime | None = None
    cause: str | None = Field(default=None, max_length=5000, description="The stated cause, if announced")
    eta: AwareDatetime | None = None
    next_update_at: AwareDatetime | None = None
    services: dict[str, ServiceStatus] = Field(default_factory=dict, description="service key -> status")


class IncidentPatch(Strict):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    impact: Impact | None = None
    cause: str | None = Field(default=None, max_length=5000)


class ImpactIn(Strict):
    status: ServiceStatus


class UpdateIn(Strict):
    message: str = Field(min_length=1, max_length=5000)
    status: IncidentStatus | None = None
    eta: AwareDatetime | None = None
    next_update_at: AwareDatetime | None = None
    services: list[str] = Field(default_factory=list, description="services this update is about")
    clear_eta: bool = False


class ResolveIn(Strict):
    message: str = Field(min_length=1, max_length=5000)
    resolved_at: AwareDatetime | None = None


class UpdateOut(BaseModel):
    posted_at: datetime
    status: IncidentStatus
    message: str
    services: list[str]


class IncidentOut(BaseModel):
    id: int
    title: str
    status: IncidentStatus
    impact: Impact
    started_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    eta: datetime | None
    next_update_at: datetime | None
    message: str
    cause: str | None
    source: str
    services: dict[str, ServiceStatus]
    updates: list[UpdateOut]

    @classmethod
    def of(cls, incident: Incident) -> "IncidentOut":
        return cls(
            id=incident.id,
            title=incident.title,
            status=incident.status,
            impact=incident.impact,
            started_at=incident.started_at,
            updated_at=incident.updated_at,
            resolved_at=incident.resolved_at,
            eta=incident.eta,
            next_update_at=incident.next_update_at,
            message=incident.public_message,
            cause=incident.cause,
            source=incident.source,
            services={i.service_key: i.status for i in incident.impacts},
            updates=[
                UpdateOut(posted_at=u.posted_at, status=u.status, message=u.message, services=u.service_keys)
                for u in incident.updates
            ],
        )


class AuditOut(BaseModel):
    at: datetime
    actor: str
    action: str
    incident_id: int | None
    detail: dict[str, Any]


class SourceOut(BaseModel):
    ok: bool
    configured: bool = True
    last_success_at: datetime | None = None
    age_seconds: float | None = Field(default=None, description="how old the source's data is")
    last_error: str | None = None


class FieldProblem(BaseModel):
    field: str = Field(description="where in the request, e.g. body.title or query.active")
    problem: str


class Problem(BaseModel):
    """Every error this API answers with has this shape."""

    detail: str = Field(description="what went wrong, in a sentence")
    errors: list[FieldProblem] = Field(default_factory=list, description="one entry per invalid field (422)")


def problem(detail: str, status: int, errors: list[FieldProblem] | None = None, **kwargs: Any) -> JSONResponse:
    return JSONResponse(Problem(detail=detail, errors=errors or []).model_dump(), status, **kwargs)


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses, all with the Problem body."""
    return {status: {"model": Problem, "description": ERROR_MEANINGS[status]} for status in statuses}


ERROR_MEANINGS = {
    400: "The body is not JSON (or not UTF-8)",
    401: "No valid credential",
    404: "No such incident",
    413: "The body is over 1 MB",
    422: "The request breaks a rule; `errors` names each invalid field",
    503: "The incident store is unavailable; nothing was changed",
}
READ = documented(401, 422, 503)
READ_ONE = documented(401, 404, 422, 503)
WRITE = documented(400, 401, 413, 422, 503)
WRITE_ONE = documented(400, 401, 404, 413, 422, 503)
WEBHOOK = documented(400, 401, 413, 422, 503)


class HealthOut(BaseModel):
    status: str = Field(description="ok, or degraded when a source is failing")
    checked_at: datetime
    sources: dict[str, SourceOut]


# --- plumbing -------------------------------------------------------------------------------


class BodyLimit:
    """Refuse request bodies over `limit` bytes with 413, declared or streamed."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await problem(f"request body is over {self.limit} bytes", 413)(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await problem(f"request body is over {self.limit} bytes", 413)(scope, receive, send)


class _TooLarge(Exception):
    pass


def unauthorized() -> JSONResponse:
    return problem(
        "a valid bearer token is required (create one with `python -m bot.cli token create NAME`)",
        401,
        headers={"WWW-Authenticate": "Bearer"},
    )


class OperatorAuth:
    """Authenticate `/api/` requests before anything reads their body.

    FastAPI parses a JSON body before it runs dependencies, so an auth dependency alone
    would answer an anonymous malformed body with 400 and let anyone make us parse a
    megabyte. The operator's name is left in `request.state.operator`.
    """

    def __init__(self, app: ASGIApp, sessions: sessionmaker[Session]) -> None:
        self.app, self.sessions = app, sessions

    def _authenticate(self, token: str) -> str | None:
        with self.sessions() as session:
            return operators.authenticate(session, token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        header = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
        scheme, _, token = header.partition(" ")
        try:
            name = await run_in_threadpool(self._authenticate, token.strip()) if scheme.lower() == "bearer" else None
        except SQLAlchemyError as exc:
            logger.warning("incident store unavailable: %s", exc.__class__.__name__)
            await problem("the incident store is unavailable; nothing was changed", 503)(scope, receive, send)
            return
        if name is None:
            await unauthorized()(scope, receive, send)
            return
        scope.setdefault("state", {})["operator"] = name
        await self.app(scope, receive, send)


def _validation_response(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return problem("the request body is not valid JSON", 400)
    # Echoing inputs back could reflect megabytes or markup; field paths and reasons suffice.
    fields = [
        FieldProblem(field=".".join(str(p) for p in e.get("loc", ())) or "body", problem=str(e.get("msg")))
        for e in errors
    ]
    summary = "; ".join(f"{f.field}: {f.problem}" for f in fields[:3])
    return problem(f"the request is invalid ({summary})", 422, fields)


def _problem(request: Request, detail: str, status: int) -> Response:
    """JSON for the API; a small escaped page for the console."""
    if request.url.path.startswith("/console"):
        body = (
            f'<h1>That didn\'t work</h1><p>{html.escape(detail)}</p><p><a href="/console">Back to the console</a></p>'
        )
        return HTMLResponse(body, status)
    return problem(detail, status)


class SecurityHeaders:
    """No framing, no sniffing, no referrers; pages may load nothing but their own files."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                headers += [
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"),
                ]
                if scope["path"].startswith("/console") or scope["path"] in ("/", "/chat/send", "/chat/history"):
                    headers += [
                        (b"content-security-policy", b"default-src 'self'; frame-ancestors 'none'; form-action 'self'"),
                        (b"cache-control", b"no-store"),
                    ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def _error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_response)

    @app.exception_handler(NotFoundError)
    def _not_found(request: Request, exc: NotFoundError) -> Response:
        return _problem(request, str(exc), 404)

    @app.exception_handler(ValidationError)
    def _invalid(request: Request, exc: ValidationError) -> Response:
        return _problem(request, str(exc), 422)

    @app.exception_handler(StatusPageError)
    def _bad_webhook(_: Request, exc: StatusPageError) -> JSONResponse:
        return problem(str(exc), 400)

    @app.exception_handler(SQLAlchemyError)
    def _db_down(_: Request, exc: SQLAlchemyError) -> JSONResponse:
        logger.warning("incident store unavailable: %s", exc.__class__.__name__)
        return problem("the incident store is unavailable; nothing was changed", 503)


# --- the application ------------------------------------------------------------------------


def create_app(
    settings: Settings | None = None,
    engine: Engine | None = None,
    clock: Clock = utcnow,
    run_sync: bool = True,
    rasa: RasaClient | None = None,
    rasa_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """Build the app. Nothing connects until a request or the lifespan needs it."""
    settings = settings or load_settings()
    engine = engine or make_engine(settings.database_url)
    sessions: sessionmaker[Session] = make_session_factory(engine)
    state: dict[str, Any] = {"sync": None}

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = None
        if run_sync and settings.statuspage_url:
            from bot.sync import StatusPageSync

            load_component_map(settings.statuspage_map)  # a broken map file stops start-up, not the sync later
            state["sync"] = StatusPageSync(settings, engine, clock=clock)
            task = asyncio.create_task(state["sync"].run(stop))
        try:
            yield
        finally:
            stop.set()
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait_for(task, timeout=10)

    app = FastAPI(
        title="Outage Assistant admin API",
        version="1",
        description="Operators publish incident state here; the assistant answers customers from it.",
        lifespan=lifespan,
    )
    # The last added runs first: headers on every answer, then who is asking, then the body.
    app.add_middleware(BodyLimit)
    app.add_middleware(OperatorAuth, sessions=sessions)
    app.add_middleware(SecurityHeaders)
    _error_handlers(app)
    console_error_handlers(app)
    if rasa is None:
        rasa = RasaClient(settings.rasa_url, rasa_token(settings))
    app.include_router(console_router(settings, sessions, clock, rasa))
    app.mount("/static", StaticFiles(directory=str(FilePath(__file__).resolve().parent / "static")), name="static")

    app.include_router(chat_router(settings, sessions, clock, rasa.token, transport=rasa_transport))

    def db() -> Iterator[Session]:
        with sessions.begin() as session:
            yield session  # committed when the handler returns (scope="function": before the response is sent)

    bearer = HTTPBearer(auto_error=False, description="an operator token (`python -m bot.cli token create NAME`)")

    def operator(request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str:
        """The operator OperatorAuth found (it ran before the body was read); `bearer` documents it."""
        name = getattr(request.state, "operator", None)
        if not isinstance(name, str):
            raise _Unauthorized
        return name

    @app.exception_handler(_Unauthorized)
    def _unauthorized(_: Request, __: _Unauthorized) -> JSONResponse:
        return unauthorized()

    Db = Annotated[Session, Depends(db, scope="function")]
    Operator = Annotated[str, Depends(operator)]

    def load(session: Session, incident_id: int) -> Incident:
        incident = session.scalars(
            select(Incident)
            .where(Incident.id == incident_id)
            .options(selectinload(Incident.impacts), selectinload(Incident.updates))
        ).first()
        if incident is None:
            raise NotFoundError(f"no incident with id {incident_id}")
        return incident

    def done(session: Session, incident_id: int, actor: str, action: str, detail: dict[str, Any]) -> IncidentOut:
        operators.record(session, actor=actor, action=action, now=clock(), incident_id=incident_id, detail=detail)
        session.expire_all()
        return IncidentOut.of(load(session, incident_id))

    @app.get("/api/v1/incidents", response_model=list[IncidentOut], tags=["incidents"], responses=READ)
    def list_incidents(
        session: Db, _: Operator, active: Annotated[bool, Query(description="only unresolved incidents")] = False
    ) -> list[IncidentOut]:
        query = select(Incident).options(selectinload(Incident.impacts), selectinload(Incident.updates))
        if active:
            query = query.where(Incident.status != IncidentStatus.RESOLVED)
        return [IncidentOut.of(i) for i in session.scalars(query.order_by(Incident.id.desc()).limit(100))]

    @app.post("/api/v1/incidents", response_model=IncidentOut, status_code=201, tags=["incidents"], responses=WRITE)
    def create(body: IncidentIn, session: Db, actor: Operator) -> IncidentOut:
        incident = service.create_incident(
            session,
            title=body.title,
            message=body.message,
            now=clock(),
            status=body.status,
            impact=body.impact,
            started_at=body.started_at,
            impacts=body.services,
            cause=body.cause,
            eta=body.eta,
            next_update_at=body.next_update_at,
        )
        return done(session, incident.id, actor, "create", body.model_dump(mode="json"))

    @app.get("/api/v1/incidents/{incident_id}", response_model=IncidentOut, tags=["incidents"], responses=READ_ONE)
    def get(incident_id: RowId, session: Db, _: Operator) -> IncidentOut:
        return IncidentOut.of(load(session, incident_id))

    @app.patch("/api/v1/incidents/{incident_id}", response_model=IncidentOut, tags=["incidents"], responses=WRITE_ONE)
    def edit(incident_id: RowId, body: IncidentPatch, session: Db, actor: Operator) -> IncidentOut:
        service.edit_incident(session, incident_id, now=clock(), title=body.title, impact=body.impact, cause=body.cause)
        return done(session, incident_id, actor, "edit", body.model_dump(mode="json", exclude_unset=True))

    @app.put(
        "/api/v1/incidents/{incident_id}/services/{service_key}",
        response_model=IncidentOut,
        tags=["incidents"],
        responses=WRITE_ONE,
    )
    def set_impact(
        incident_id: RowId,
        service_key: Annotated[str, Path(max_length=32)],
        body: ImpactIn,
        session: Db,
        actor: Operator,
    ) -> IncidentOut:
        service.set_impact(session, incident_id, service_key, body.status, now=clock())
        return done(session, incident_id, actor, "set_impact", {"service": service_key, "status": body.status.value})

    @app.post(
        "/api/v1/incidents/{incident_id}/updates",
        response_model=IncidentOut,
        status_code=201,
        tags=["incidents"],
        responses=WRITE_ONE,
    )
    def post_update(incident_id: RowId, body: UpdateIn, session: Db, actor: Operator) -> IncidentOut:
        service.post_update(
            session,
            incident_id,
            message=body.message,
            now=clock(),
            status=body.status,
            service_keys=body.services,
            eta=body.eta,
            next_update_at=body.next_update_at,
            clear_eta=body.clear_eta,
        )
        return done(session, incident_id, actor, "post_update", body.model_dump(mode="json"))

    @app.post(
        "/api/v1/incidents/{incident_id}/resolve", response_model=IncidentOut, tags=["incidents"], responses=WRITE_ONE
    )
    def resolve(incident_id: RowId, body: ResolveIn, session: Db, actor: Operator) -> IncidentOut:
        service.resolve_incident(session, incident_id, message=body.message, now=clock(), resolved_at=body.resolved_at)
        return done(session, incident_id, actor, "resolve", body.model_dump(mode="json"))

    @app.get("/api/v1/audit", response_model=list[AuditOut], tags=["audit"], responses=READ)
    def audit(
        session: Db,
        _: Operator,
        incident_id: RowIdQuery = None,
    ) -> list[AuditOut]:
        return [
            AuditOut(at=e.at, actor=e.actor, action=e.action, incident_id=e.incident_id, detail=e.detail)
            for e in operators.audit_trail(session, incident_id)
        ]

    async def receive_webhook(secret: str | None, request: Request) -> dict[str, str]:
        expected = settings.statuspage_webhook_secret
        if not expected or not secret or not hmac.compare_digest(secret.encode(), expected.encode()):
            raise _Unauthorized
        try:
            payload = json.loads(await request.body())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StatusPageError("the webhook body is not valid JSON") from exc
        event = parse_webhook(payload)
        await asyncio.to_thread(apply_webhook, event)
        if state["sync"] is not None:
            state["sync"].wake()  # confirm against the page itself without waiting for the next poll
        return {"status": "accepted"}

    @app.post("/hooks/statuspage/{secret}", status_code=202, tags=["webhooks"], responses=WEBHOOK)
    async def statuspage_webhook(secret: Annotated[str, Path(max_length=200)], request: Request) -> dict[str, str]:
        """Statuspage subscriber webhooks (incident and component updates); the secret is in the URL."""
        return await receive_webhook(secret, request)

    @app.post("/hooks/statuspage", status_code=202, tags=["webhooks"], responses=WEBHOOK)
    async def statuspage_webhook_header(
        request: Request, x_webhook_secret: Annotated[str | None, Header(max_length=200)] = None
    ) -> dict[str, str]:
        """The same, for senders that can set a header: the secret in `X-Webhook-Secret`."""
        return await receive_webhook(x_webhook_secret, request)

    def apply_webhook(event: WebhookEvent) -> None:
        with sessions.begin() as session:
            mapping = load_component_map(settings.statuspage_map)
            now = clock()
            detail: dict[str, str] = {}
            if event.incident is not None:
                snapshot = Snapshot(components=event.components, incidents=(event.incident,))
                apply_snapshot(session, snapshot, mapping, now, complete=False)
                detail = {"incident": event.incident.id, "status": event.incident.raw_status}
            if event.component is not None:
                apply_component(session, event.component, mapping, now)
                detail = {"component": event.component.name, "status": event.component.status.value}
            operators.record(session, actor="statuspage webhook", action="webhook", now=now, detail=detail)

    @app.get(
        "/health",
        response_model=HealthOut,
        tags=["health"],
        responses={503: {"model": HealthOut, "description": "The database is unreachable"}},
    )
    def health() -> JSONResponse:
        """Each source's state and how old its data is; 503 if the database is unreachable."""
        now = clock()
        sources: dict[str, SourceOut] = {}
        try:
            with sessions() as session:
                session.execute(text("SELECT 1"))
                page = session.get(SourceHealth, SOURCE)
            sources["database"] = SourceOut(ok=True, last_success_at=now, age_seconds=0.0)
        except SQLAlchemyError as exc:
            page = None
            sources["database"] = SourceOut(ok=False, last_error=exc.__class__.__name__)
        if settings.statuspage_url:
            last = page.last_success_at if page else None
            sources["statuspage"] = SourceOut(
                ok=bool(page and not page.failing and last),
                last_success_at=last,
                age_seconds=(now - last).total_seconds() if last else None,
                last_error=page.last_error if page and page.failing else None,
            )
        else:
            sources["statuspage"] = SourceOut(ok=True, configured=False)
        ok = all(s.ok for s in sources.values())
        body = HealthOut(status="ok" if ok else "degraded", checked_at=now, sources=sources)
        return JSONResponse(body.model_dump(mode="json"), 200 if sources["database"].ok else 503)

    return app


class _Unauthorized(Exception):
    pass
