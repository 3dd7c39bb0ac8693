"""The local status page (bot.incidents.statuspage.localpage), misbehaving on demand, for the
tests of the sync's degraded mode. A file named `fault` in the page's folder makes every
`/api/v2/` response misbehave while the server runs:

    timeout    hang for 30 s           500       HTTP 500
    malformed  a body that is not JSON huge      a 5 MB JSON body

Only tests use it, so it lives here and the demo page in `bot/` serves what it is given.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.incidents.statuspage.localpage import create_page_app

FAULTS = ("timeout", "500", "malformed", "huge")


def set_fault(folder: Path, mode: str | None) -> None:
    """Make the page in `folder` misbehave as `mode`, or behave again (None)."""
    path = folder / "fault"
    if mode is None:
        path.unlink(missing_ok=True)
    else:
        path.write_text(mode, encoding="utf-8")


async def _fault_response(mode: str) -> Response | None:
    if mode == "timeout":
        await asyncio.sleep(30)
    if mode == "500":
        return JSONResponse({"error": "internal"}, 500)
    if mode == "malformed":
        return Response('{"page": {"id": "x"}, "components": [', media_type="application/json")
    if mode == "huge":
        return Response(b'{"junk": "' + b"x" * 5_000_000 + b'"}', media_type="application/json")
    return None


def faulty_page_app(folder: Path) -> ASGIApp:
    """The local status page serving `folder`, with the fault set by `set_fault`."""
    page = create_page_app(folder)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        fault_file = folder / "fault"
        if scope["type"] == "http" and str(scope["path"]).startswith("/api/v2/") and fault_file.exists():
            response = await _fault_response(fault_file.read_text(encoding="utf-8").strip())
            if response is not None:
                await response(scope, receive, send)
                return
        await page(scope, receive, send)

    return app
