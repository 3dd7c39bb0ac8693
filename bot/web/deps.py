"""What routes depend on: the app's context, a database session, parameter types.

create_app builds one `WebContext` and keeps it in `app.state`; routers are plain modules
whose functions ask for it (or a session from it) through these dependencies, so tests can
build an app on any settings, engine, clock and Rasa.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Form, Path, Query, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.conversation.backend import Backend
from bot.core.clock import Clock
from bot.core.settings import Settings
from bot.db.engine import make_engine
from bot.incidents.statuspage.component_map import ComponentMapFile
from bot.rasa_api import RasaApi

if TYPE_CHECKING:
    from bot.incidents.statuspage.sync import StatusPageSync


@dataclass
class WebContext:
    settings: Settings
    sessions: sessionmaker[Session]
    clock: Clock
    rasa: RasaApi
    component_map: ComponentMapFile
    sync: StatusPageSync | None = field(default=None)  # set by the lifespan when STATUSPAGE_URL is set

    @functools.cached_property
    def state(self) -> Backend:
        """The incident state through the same short cache the assistant reads it with, so that
        every open page's banner costs one read per STATE_TTL_SECONDS, not one each."""
        return Backend(self.sessions.kw["bind"], clock=self.clock, ttl=self.settings.state_ttl)

    @functools.cached_property
    def tracker_store(self) -> Engine:
        """Rasa's tracker store, read-only, for the console; one engine, made on first use."""
        return make_engine(self.settings.tracker_store_url)


def context(request: Request) -> WebContext:
    ctx: WebContext = request.app.state.context
    return ctx


Context = Annotated[WebContext, Depends(context)]


def db(ctx: Context) -> Iterator[Session]:
    """One transaction per request, committed when the handler returns (before the response)."""
    with ctx.sessions.begin() as session:
        yield session


Db = Annotated[Session, Depends(db, scope="function")]

# Ids are 32-bit integers in PostgreSQL (and Rasa's events table); a larger number names no
# row, and SQLite cannot even bind one (OverflowError), so it is refused with 422 up front.
MAX_ROW_ID = 2**31 - 1

RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
RowIdQuery = Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)]
RowIdForm = Annotated[int, Form(ge=1, le=MAX_ROW_ID)]
