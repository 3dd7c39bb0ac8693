"""`make shell`: chat with the running assistant through its REST channel.

Buttons are numbered; type the number to press one. Ctrl-D or /quit ends the chat.
"""

from __future__ import annotations

import sys
import uuid

import httpx

from bot.core.settings import load_settings


def main() -> int:
    settings = load_settings()
    url = f"http://127.0.0.1:{settings.rasa_port}/webhooks/rest/webhook"
    sender = f"shell-{uuid.uuid4().hex[:8]}"
    buttons: list[dict[str, str]] = []
    print("Chatting with Outage Assistant (Ctrl-D to quit).")
    with httpx.Client(timeout=30.0) as client:
        while True:
            try:
                text = input("you> ").strip()
            except (EOFError, KeyboardInterrupt):
                print()
                return 0
            if text == "/quit":
                return 0
            if text.isdigit() and 0 < int(text) <= len(buttons):
                text = buttons[int(text) - 1]["payload"]
            try:
                reply = client.post(url, json={"sender": sender, "message": text})
                reply.raise_for_status()
            except httpx.HTTPError as exc:
                print(f"(cannot reach the assistant at {url}: {exc}; is `make run` running?)", file=sys.stderr)
                continue
            buttons = []
            for message in reply.json():
                if message.get("text"):
                    print(f"bot> {message['text']}")
                for button in message.get("buttons") or []:
                    buttons.append(button)
                    print(f"     [{len(buttons)}] {button.get('title')}")


if __name__ == "__main__":
    sys.exit(main())
