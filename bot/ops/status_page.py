"""The local status page process: `python -m bot.ops.status_page --dir DIR --port PORT [--demo]`
serves a folder as Statuspage v2 JSON (`bot.incidents.statuspage.localpage`); `make run` starts
it with the demo outage, for the sync to follow."""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.incidents.statuspage.localpage import FILES, create_page_app, demo_state


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="Serve a local Statuspage-format status page.")
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--demo", action="store_true", help="write the demo outage if the folder is empty")
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    if args.demo and not (args.dir / FILES["summary"]).exists():
        demo_state(args.dir).write()
    uvicorn.run(create_page_app(args.dir), host="127.0.0.1", port=args.port, log_level="warning", ws="none")


if __name__ == "__main__":
    main()
