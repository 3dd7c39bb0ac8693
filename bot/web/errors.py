"""Every error the web app answers with: one JSON shape for the API, a small page for the console."""

from __future__ import annotations

import html
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError

from bot.core.errors import NotFoundError, StatusPageError, ValidationError

logger = logging.getLogger(__name__)


class Unauthorized(Exception):
    """No valid operator token or webhook secret."""


class LoginRequired(Exception):
    """A console page asked for without a staff session."""


class Forbidden(Exception):
    """A console action this staff member may not take, or a form without its CSRF token."""


class FieldProblem(BaseModel):
    field: str = Field(description="where in the request, e.g. body.title or query.active")
    problem: str


class Problem(BaseModel):
    """Every error this API answers with has this shape."""

    detail: str = Field(description="what went wrong, in a sentence")
    errors: list[FieldProblem] = Field(default_factory=list, description="one entry per invalid field (422)")


def problem(detail: str, status: int, errors: list[FieldProblem] | None = None, **kwargs: Any) -> JSONResponse:
    return JSONResponse(Problem(detail=detail, errors=errors or []).model_dump(), status, **kwargs)


ERROR_MEANINGS = {
    400: "The body is not JSON (or not UTF-8)",
    401: "No valid credential",
    404: "No such incident",
    413: "The body is over 1 MB",
    422: "The request breaks a rule; `errors` names each invalid field",
    503: "The incident store is unavailable; nothing was changed",
}


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses, all with the Problem body."""
    return {status: {"model": Problem, "description": ERROR_MEANINGS[status]} for status in statuses}


READ = documented(401, 422, 503)
READ_ONE = documented(401, 404, 422, 503)
WRITE = documented(400, 401, 413, 422, 503)
WRITE_ONE = documented(400, 401, 404, 413, 422, 503)
WEBHOOK = documented(400, 401, 413, 422, 503)


def unauthorized() -> JSONResponse:
    return problem(
        "a valid bearer token is required (create one with `python -m bot.ops.cli token create NAME`)",
        401,
        headers={"WWW-Authenticate": "Bearer"},
    )


def store_unavailable() -> JSONResponse:
    return problem("the incident store is unavailable; nothing was changed", 503)


def _for(request: Request, detail: str, status: int) -> Response:
    """JSON for the API; a small escaped page for the console."""
    if request.url.path.startswith("/console"):
        body = (
            f'<h1>That didn\'t work</h1><p>{html.escape(detail)}</p><p><a href="/console">Back to the console</a></p>'
        )
        return HTMLResponse(body, status)
    return problem(detail, status)


def _invalid_request(_: Request, exc: Exception) -> Response:
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


def _not_found(request: Request, exc: Exception) -> Response:
    return _for(request, str(exc), 404)


def _invalid(request: Request, exc: Exception) -> Response:
    return _for(request, str(exc), 422)


def _bad_webhook(_: Request, exc: Exception) -> Response:
    return problem(str(exc), 400)


def _db_down(_: Request, exc: Exception) -> Response:
    logger.warning("incident store unavailable: %s", exc.__class__.__name__)
    return store_unavailable()


def _unauthorized(_: Request, __: Exception) -> Response:
    return unauthorized()


def _login_required(request: Request, _: Exception) -> Response:
    if request.method == "GET":
        return RedirectResponse("/console/login", status_code=303)
    return HTMLResponse("<h1>Please log in</h1>", 401)


def _forbidden(_: Request, __: Exception) -> Response:
    return HTMLResponse("<h1>Forbidden</h1><p>You cannot do that here.</p>", 403)


def install_error_handlers(app: FastAPI) -> None:
    for exc_class, handler in (
        (RequestValidationError, _invalid_request),
        (NotFoundError, _not_found),
        (ValidationError, _invalid),
        (StatusPageError, _bad_webhook),
        (SQLAlchemyError, _db_down),
        (Unauthorized, _unauthorized),
        (LoginRequired, _login_required),
        (Forbidden, _forbidden),
    ):
        app.add_exception_handler(exc_class, handler)
