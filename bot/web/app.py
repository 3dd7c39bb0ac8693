"""The web application: the customers' chat, the staff console, the operators' admin API,
status-page webhooks and the health check, on one port.

A small factory: it builds the context the routers share (`bot.web.deps.WebContext`), adds the
middleware and error handlers, includes one router per resource, and runs the status-page
sync for the app's lifetime when STATUSPAGE_URL is set.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from bot.core.clock import Clock, utcnow
from bot.core.devsecrets import rasa_token
from bot.core.settings import Settings, load_settings
from bot.db.engine import make_engine, make_session_factory
from bot.incidents.statuspage.component_map import ComponentMapFile
from bot.rasa_api import RasaApi
from bot.web import chat, health, hooks
from bot.web.api import audit, incidents
from bot.web.console import auth, escalations, overview, review, staff
from bot.web.console import incidents as console_incidents
from bot.web.deps import WebContext
from bot.web.errors import install_error_handlers
from bot.web.middleware import BodyLimit, OperatorAuth, SecurityHeaders

ROUTERS = (
    incidents.router,
    audit.router,
    hooks.router,
    health.router,
    chat.router,
    auth.router,
    escalations.router,
    overview.router,
    review.router,
    console_incidents.router,
    staff.router,
)


def create_app(
    settings: Settings | None = None,
    engine: Engine | None = None,
    clock: Clock = utcnow,
    run_sync: bool = True,
    rasa: RasaApi | None = None,
) -> FastAPI:
    """Build the app. Nothing connects until a request or the lifespan needs it."""
    settings = settings or load_settings()
    engine = engine or make_engine(settings.database_url)
    ctx = WebContext(
        settings=settings,
        sessions=make_session_factory(engine),
        clock=clock,
        rasa=rasa or RasaApi(settings.rasa_url, rasa_token(settings)),
        component_map=ComponentMapFile(settings.statuspage_map),
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = None
        if run_sync and settings.statuspage_url:
            from bot.incidents.statuspage.sync import StatusPageSync

            with ctx.sessions() as session:
                ctx.component_map.get(session)  # a broken map file stops start-up, not the sync later
            ctx.sync = StatusPageSync(settings, engine, clock=clock, component_map=ctx.component_map)
            task = asyncio.create_task(ctx.sync.run(stop))
        try:
            yield
        finally:
            await app.state.chat.feed.stop()
            await ctx.rasa.aclose()
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
    app.state.context = ctx
    app.state.chat = chat.ChatGate.for_settings(settings, lambda: ctx.tracker_store, lambda: chat.current_banner(ctx))
    # The last added runs first: headers on every answer, then who is asking, then the body.
    app.add_middleware(BodyLimit)
    app.add_middleware(OperatorAuth, sessions=ctx.sessions)
    app.add_middleware(SecurityHeaders)
    if settings.trusted_proxies:
        # Added last, so it runs first: every limit and log below sees the real client address.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(Path(__file__).resolve().parent / "static")), name="static")
    return app
