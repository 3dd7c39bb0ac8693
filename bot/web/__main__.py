"""Serve the web application: `python -m bot.web` (WEB_PORT, default 8000; loopback unless WEB_HOST)."""

from __future__ import annotations

import logging
import os

import uvicorn

from bot.core.settings import load_settings
from bot.web.app import create_app


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings()
    uvicorn.run(
        create_app(settings),
        host=os.environ.get("WEB_HOST", "127.0.0.1"),
        port=settings.web_port,
        log_level="warning",
        ws="none",  # no websockets here; rasa-sdk pins an older websockets than uvicorn expects
        # Slow clients must not hold workers forever.
        timeout_keep_alive=5,
    )


if __name__ == "__main__":
    main()
