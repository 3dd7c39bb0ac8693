"""The status-page sync on its own: `python -m bot.ops.statuspage_sync` polls STATUSPAGE_URL
forever, `--once` polls once and exits (status 1 if the poll failed). The web process runs the
same sync as a task; this is for a deployment that keeps it apart."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

from bot.core.logs import configure_logging
from bot.core.settings import load_settings
from bot.db.engine import make_engine
from bot.incidents.statuspage.sync import StatusPageSync


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Keep the incident store in step with a Statuspage page.")
    parser.add_argument("--once", action="store_true", help="poll once and exit (status 1 if the poll failed)")
    args = parser.parse_args(argv)
    configure_logging()
    settings = load_settings()
    if not settings.statuspage_url:
        print("STATUSPAGE_URL is not set; nothing to sync", file=sys.stderr)
        return 2
    sync = StatusPageSync(settings, make_engine(settings.database_url))
    if args.once:
        return 0 if asyncio.run(sync.poll_once()) else 1
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(sync.run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
