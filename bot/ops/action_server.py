"""The action server: rasa-sdk's app, on loopback, refusing calls without Rasa's secret.

rasa-sdk 3.6 has no authentication and listens on 0.0.0.0, so anyone who could reach port
5055 could run any action (store an escalation at the front of the queue, say). Here every
route but `/health` needs `Authorization: Bearer <ACTION_SERVER_TOKEN>`, which Rasa sends
(bot/endpoints.yml); the server binds ACTION_HOST, 127.0.0.1 unless set.

`python -m bot.ops.action_server` (the launcher starts it; `ACTION_PORT`, default 5055).
"""

from __future__ import annotations

import hmac
import logging
import os
from typing import Any

from rasa_sdk import utils
from rasa_sdk.endpoint import create_app
from sanic import Sanic, response
from sanic.request import Request

from bot.core.devsecrets import action_token
from bot.core.errors import OutageAssistantError
from bot.core.settings import load_settings
from common.private import install_private_logging

logger = logging.getLogger(__name__)

PUBLIC_PATHS = frozenset({"/health"})


def create_action_app(secret: str, package: str = "actions") -> Sanic:
    """rasa-sdk's app for `package`, with the secret required on every non-public route."""
    if not secret:
        raise OutageAssistantError("the action server needs a secret")
    app: Sanic = create_app(package, cors_origins=None)  # called by Rasa only: no browser origin
    expected = f"Bearer {secret}".encode()

    @app.middleware("request")  # type: ignore[untyped-decorator, no-untyped-call]
    async def require_secret(request: Request) -> Any:
        if request.path in PUBLIC_PATHS:
            return None
        sent = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
        if hmac.compare_digest(sent, expected):
            return None
        return response.json({"error": "a valid Authorization header is required"}, status=401)

    return app


def main() -> None:
    install_private_logging()
    utils.configure_colored_logging("INFO")
    utils.update_sanic_log_level()
    settings = load_settings()
    app = create_action_app(action_token(settings))
    host = os.environ.get("ACTION_HOST", "127.0.0.1")
    logger.info("action server on http://%s:%d", host, settings.action_port)
    app.run(host, settings.action_port, workers=1, access_log=False)


if __name__ == "__main__":
    main()
