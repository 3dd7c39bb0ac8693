"""Text that came from outside (customers, staff, operators, status pages) before we keep it."""

from __future__ import annotations

import re
import unicodedata

# Bidirectional embeddings, overrides and isolates: they can make text read differently from
# what it says (a staff page showing a customer message reversed), and no customer needs them.
_BIDI_CONTROLS = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))
_NONCHARACTERS = frozenset("\ufffe\uffff")
_LINE_BREAKS = str.maketrans({"\u2028": "\n", "\u2029": "\n"})


def _keep(ch: str) -> bool:
    if ch in "\n\t":
        return True
    # Cc: control characters (NUL above all, which PostgreSQL refuses); Cs: lone surrogates,
    # which cannot be encoded. Unassigned code points are kept on purpose: Python 3.10's
    # Unicode tables predate recent emoji such as 🫠, and customers use them.
    if unicodedata.category(ch) in ("Cc", "Cs"):
        return False
    return ch not in _BIDI_CONTROLS and ch not in _NONCHARACTERS


def printable(text: str) -> str:
    """Without control characters, lone surrogates and bidi overrides; newlines and tabs kept,
    Windows and Unicode line ends made plain, and trimmed.

    Emoji sequences (joined by U+200D), newer emoji and non-breaking spaces survive:
    `str.isprintable` would drop all three.
    """
    plain = text.replace("\r\n", "\n").translate(_LINE_BREAKS)
    return "".join(ch for ch in plain if _keep(ch)).strip()


# One chat message, either way: what a customer may send on the web chat, a staff reply, the
# message that closes escalations, and what we keep of a customer's words (their need, a
# transcript line, a review label).
MAX_CHAT_MESSAGE = 2000
MAX_CONVERSATION_ID = 128
# What a URL path segment carries unchanged: Rasa's HTTP API (Sanic 21) does not decode
# percent-escapes in `/conversations/<id>/...`, so an id outside this set could be written
# by a channel but never addressed again by the console or the notifier. Every channel's
# ids fit: Facebook's and Telegram's digits, Twilio's "+64..." and "whatsapp:+64...", ours.
_CONVERSATION_ID = re.compile(r"[A-Za-z0-9._~:@!$&'()*+,;=-]+")


def conversation_id_problem(value: object) -> str | None:
    """Why `value` cannot be a conversation id, or None if it can.

    Every entry point that names a conversation checks this before the id reaches Rasa's
    tracker store: one lone surrogate there once ended the whole Rasa process.
    """
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if len(value) > MAX_CONVERSATION_ID:
        return f"must be at most {MAX_CONVERSATION_ID} characters"
    if not _CONVERSATION_ID.fullmatch(value):
        return "may contain only letters, digits and . _ ~ : @ ! $ & ' ( ) * + , ; = -"
    return None
