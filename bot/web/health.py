"""/health: each incident source's state and how old its data is, for load balancers and operators."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from bot.db.models import SourceHealth
from bot.incidents.statuspage.parse import SOURCE
from bot.web.deps import Context

router = APIRouter(tags=["health"])


class SourceOut(BaseModel):
    ok: bool
    configured: bool = True
    last_success_at: datetime | None = None
    age_seconds: float | None = Field(default=None, description="how old the source's data is")
    last_error: str | None = None


class HealthOut(BaseModel):
    status: str = Field(description="ok, or degraded when a source is failing")
    checked_at: datetime
    sources: dict[str, SourceOut]


@router.get(
    "/health",
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "The database is unreachable"}},
)
def health(ctx: Context) -> JSONResponse:
    """Each source's state and how old its data is; 503 if the database is unreachable."""
    now = ctx.clock()
    sources: dict[str, SourceOut] = {}
    try:
        with ctx.sessions() as session:
            session.execute(text("SELECT 1"))
            page = session.get(SourceHealth, SOURCE)
        sources["database"] = SourceOut(ok=True, last_success_at=now, age_seconds=0.0)
    except SQLAlchemyError as exc:
        page = None
        sources["database"] = SourceOut(ok=False, last_error=exc.__class__.__name__)
    if ctx.settings.statuspage_url:
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
