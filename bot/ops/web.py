"""The web process: `python -m bot.ops.web` serves the admin API, the customer chat, the console,
the webhooks and health (WEB_PORT, default 8000; loopback unless WEB_HOST)."""

from __future__ import annotations

import os
import resource

import uvicorn

from bot.core.logs import configure_logging
from bot.core.settings import load_settings
from bot.web.app import create_app


def open_files_to_hard_limit() -> None:
    """Every open chat tab holds a socket: raise the soft limit on open files (often 1,024) to
    the hard one, so that thousands of tabs fit in one web process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard))


def main() -> None:
    open_files_to_hard_limit()
    configure_logging()
    settings = load_settings()
    uvicorn.run(
        create_app(settings),
        host=os.environ.get("WEB_HOST", "127.0.0.1"),
        port=settings.web_port,
        log_level="warning",
        ws="none",  # no websockets here; rasa-sdk pins an older websockets than uvicorn expects
        # Slow clients must not hold workers forever.
        timeout_keep_alive=5,
        # X-Forwarded-For is believed only from TRUSTED_PROXIES, by the app itself (create_app);
        # uvicorn's own default would believe any client on 127.0.0.1.
        proxy_headers=False,
    )


if __name__ == "__main__":
    main()
