"""The web app's ASGI middleware: body size limit, operator authentication, security headers."""

from __future__ import annotations

import logging

from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.incidents.statuspage.parse import MAX_PAYLOAD_BYTES
from bot.people import operators
from bot.web.errors import problem, store_unavailable, unauthorized

logger = logging.getLogger(__name__)


class BodyLimit:
    """Refuse request bodies over `limit` bytes with 413, declared or streamed."""

    def __init__(self, app: ASGIApp, limit: int = MAX_PAYLOAD_BYTES) -> None:
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
            await store_unavailable()(scope, receive, send)
            return
        if name is None:
            await unauthorized()(scope, receive, send)
            return
        scope.setdefault("state", {})["operator"] = name
        await self.app(scope, receive, send)


EMBEDDABLE = "/banner"


class SecurityHeaders:
    """No framing (but for the embeddable banner), no sniffing, no referrers; pages may load nothing
    but their own files."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                headers += [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
                if scope["path"] == EMBEDDABLE:
                    # The banner is made to sit in the status page's own frame; it is read-only,
                    # so being framed by any page lets nobody do anything through it.
                    headers += [(b"content-security-policy", b"default-src 'self'; frame-ancestors *")]
                else:
                    headers.append((b"x-frame-options", b"DENY"))
                if scope["path"].startswith("/console") or scope["path"] in (
                    "/",
                    "/chat/send",
                    "/chat/history",
                    "/chat/stream",
                    "/chat/banner",
                ):
                    headers += [
                        (b"content-security-policy", b"default-src 'self'; frame-ancestors 'none'; form-action 'self'"),
                        (b"cache-control", b"no-store"),
                    ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
