"""The notifier process: `python -m bot.ops.notifier` queues due notices ("tell me when it's
fixed", "it's back") and pushes them through Rasa (`bot.conversation.notify.Notifier`)."""

from __future__ import annotations

import asyncio
import contextlib
import sys

from bot.conversation.notify import Notifier
from bot.core.devsecrets import rasa_token
from bot.core.errors import OutageAssistantError
from bot.core.logs import configure_logging
from bot.core.settings import load_settings
from bot.db.engine import make_engine
from bot.rasa_api import RasaApi


def main() -> int:
    configure_logging()
    try:
        settings = load_settings()
        notifier = Notifier(
            settings, make_engine(settings.database_url), RasaApi(settings.rasa_url, rasa_token(settings))
        )
    except OutageAssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(notifier.run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
