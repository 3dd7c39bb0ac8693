"""Status-page webhooks (/hooks/statuspage): pushed incident and component updates, applied at once
and confirmed against the page by an early poll."""

from __future__ import annotations

import asyncio
import hmac
import json
from typing import Annotated

from fastapi import APIRouter, Header, Path, Request

from bot.core.errors import StatusPageError
from bot.incidents.statuspage.apply import apply_webhook
from bot.incidents.statuspage.parse import WebhookEvent, parse_webhook
from bot.web.deps import Context, WebContext
from bot.web.errors import WEBHOOK, Unauthorized

router = APIRouter(prefix="/hooks/statuspage", tags=["webhooks"])


def _apply(ctx: WebContext, pushed: WebhookEvent) -> None:
    with ctx.sessions.begin() as session:
        mapping = ctx.component_map.get(session)
        apply_webhook(session, pushed, mapping, ctx.clock(), actor="statuspage webhook")


async def _receive(ctx: WebContext, secret: str | None, request: Request) -> dict[str, str]:
    expected = ctx.settings.statuspage_webhook_secret
    if not expected or not secret or not hmac.compare_digest(secret.encode(), expected.encode()):
        raise Unauthorized
    try:
        payload = json.loads(await request.body())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StatusPageError("the webhook body is not valid JSON") from exc
    await asyncio.to_thread(_apply, ctx, parse_webhook(payload))
    if ctx.sync is not None:
        ctx.sync.wake()  # confirm against the page itself without waiting for the next poll
    return {"status": "accepted"}


@router.post("/{secret}", status_code=202, responses=WEBHOOK)
async def statuspage_webhook(
    secret: Annotated[str, Path(max_length=200)], request: Request, ctx: Context
) -> dict[str, str]:
    """Statuspage subscriber webhooks (incident and component updates); the secret is in the URL."""
    return await _receive(ctx, secret, request)


@router.post("", status_code=202, responses=WEBHOOK)
async def statuspage_webhook_header(
    request: Request, ctx: Context, x_webhook_secret: Annotated[str | None, Header(max_length=200)] = None
) -> dict[str, str]:
    """The same, for senders that can set a header: the secret in `X-Webhook-Secret`."""
    return await _receive(ctx, x_webhook_secret, request)
