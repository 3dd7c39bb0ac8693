"""Reading /chat/stream as a browser does: the conversation's messages are unnamed events; the
outage banner comes as a named one ("event: banner") and is not a message."""

from __future__ import annotations


class StreamReader:
    """Feed it the stream's lines one by one; it returns each event's kind and data when the
    data line arrives, else None."""

    def __init__(self) -> None:
        self._event = "message"

    def feed(self, line: str) -> tuple[str, str] | None:
        if line.startswith("event: "):
            self._event = line[len("event: ") :]
        elif line.startswith("data: "):
            kind, self._event = self._event, "message"
            return kind, line[len("data: ") :]
        elif not line:
            self._event = "message"
        return None
