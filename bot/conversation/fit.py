"""Answers that fit the channel they go to.

The web chat shows every reply as written. SMS and WhatsApp (both through Twilio) get one
message of at most 320 characters (three concatenated segments of plain GSM text; one character
outside GSM's alphabet, such as an emoji, makes it five): the state, the update's time, the ETA or
its absence, the most useful confirmed workaround, and "reply MORE for details", which sends
the rest. Messenger and Telegram get the same short message with quick replies.

The words still come from the domain: each short part is the channel's variation of a domain
response (`channel: twilio`), rendered here so that the parts can go out as one message; Rasa
would send each response as a message of its own, each billed as at least one segment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.conversation.reply import OFFERS, Reply

# Channel -> the longest message it gets; None: short, but not limited to a length.
SHORT_CHANNELS: dict[str, int | None] = {"twilio": 320, "facebook": None, "telegram": None}
# The variation of the short parts that every short channel uses, after its own.
SHORT_VARIATION = "twilio"
# In the short message: the state, the update's time, the ETA, emergencies and staleness.
_SHORT = re.compile(
    r"utter_(emergency_help|service_\w+|checked|latest_update|update_unchanged|update_overdue|eta\w*"
    r"|state_stale|still_broken_after_restore|still_broken_not_down)$"
)
# Said in full by their short variation, so MORE need not repeat them.
_WHOLE = re.compile(r"utter_(emergency_help|checked|update_unchanged|update_overdue|eta\w*|state_stale)$")
_PLACEHOLDER = re.compile(r"{([^\n{}]+?)}")


@dataclass(frozen=True)
class Fitted:
    text: str
    buttons: list[dict[str, str]]
    later: list[Reply]  # what MORE sends


def is_short(channel: str | None) -> bool:
    return channel in SHORT_CHANNELS


def render(
    responses: Mapping[str, Any], reply: Reply, channels: Sequence[str] = ()
) -> tuple[str, list[dict[str, str]]]:
    """A reply's text and buttons as Rasa would render them: the domain's variation for the first
    of `channels` that has one, else the first plain one; unknown placeholders stay as they are."""
    variations = [v for v in responses.get(reply.response) or [] if isinstance(v, dict)]
    chosen = next((v for c in channels for v in variations if v.get("channel") == c), None)
    chosen = chosen or next((v for v in variations if not v.get("channel")), {"text": ""})
    text = _PLACEHOLDER.sub(lambda m: str(reply.variables.get(m.group(1), m.group(0))), str(chosen.get("text", "")))
    buttons = [dict(b) for b in chosen.get("buttons") or [] if isinstance(b, dict)]
    return text, buttons


def fit(responses: Mapping[str, Any], replies: Sequence[Reply], channel: str) -> Fitted:
    """One short message for `channel`; what it leaves out goes to `later`, in order."""
    short = [r for r in replies if _SHORT.match(r.response)]
    offers = [r for r in replies if r.response in OFFERS]
    step = next((r.variables["first_step"] for r in replies if r.variables.get("first_step")), None)
    workaround = [Reply("utter_short_workaround", {"step": step})] if step else []
    later = [r for r in replies if r.response not in OFFERS and not _WHOLE.match(r.response)]
    hint = [Reply("utter_more_hint")] if later else []
    channels = (channel, SHORT_VARIATION)
    limit = SHORT_CHANNELS.get(channel)
    for parts in ([*short, *workaround, *offers, *hint], [*short, *offers, *hint]):  # MORE still has the workaround
        text, buttons = _join(responses, parts, channels)
        if limit is None or len(text) <= limit:
            return Fitted(text, buttons, later)
    # Too long even so: whole sentences up to the limit, then the hint. A fact is never cut in half.
    assert limit is not None
    text, buttons = _join(responses, [*short, *offers], channels)
    tail = _join(responses, hint, channels)[0]
    room = limit - len(tail) - 1
    body = text if len(text) <= room else text[:room].rsplit(". ", 1)[0].rstrip(".") + "."
    return Fitted(f"{body} {tail}".strip()[:limit], buttons, later)


def _join(
    responses: Mapping[str, Any], parts: Sequence[Reply], channels: Sequence[str]
) -> tuple[str, list[dict[str, str]]]:
    texts, buttons = [], []
    for part in parts:
        text, more = render(responses, part, channels)
        if text:
            texts.append(text)
        buttons += more
    return " ".join(texts), buttons


def as_stored(replies: Sequence[Reply]) -> list[dict[str, Any]]:
    """Replies as a slot can hold them (for MORE)."""
    return [{"response": r.response, "variables": dict(r.variables)} for r in replies]


def from_stored(value: object) -> list[Reply]:
    if not isinstance(value, list):
        return []
    return [
        Reply(str(item["response"]), {str(k): str(v) for k, v in (item.get("variables") or {}).items()})
        for item in value
        if isinstance(item, dict) and isinstance(item.get("response"), str)
    ]
