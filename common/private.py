"""Customers' contact details: one form before they are checked or stored, masked wherever
they would be shown or logged. Standard library only: Rasa's process masks its logs with it.

A phone number can be typed in ways that look right and read wrong: a right-to-left override
(U+202E) shows "4567 123 09" as "09 123 4567" while storing it reversed; a zero-width space
between digits hides the number from a pattern; Arabic-Indic or full-width digits are digits
to a person but not to a dialler. `normalise_text` undoes all three before anything looks at it.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from typing import Any

# Bidirectional marks, embeddings, overrides and isolates, and the zero-width characters
# (space, non-joiner, joiner, word joiner, BOM/no-break, soft hyphen) that hide inside numbers.
_BIDI = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
_ZERO_WIDTH = (0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0x00AD)
_INVISIBLE = dict.fromkeys((*_BIDI, *_ZERO_WIDTH))

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Seven or more digits, allowing what people put between them: spaces, dashes, dots,
# brackets, slashes and underscores. On normalised text, so every digit is ASCII.
PHONE = re.compile(r"\+?[0-9](?:[\s().\-/_]*[0-9]){6,}")
PHONE_SEPARATORS = re.compile(r"[\s().\-/_]")


def _ascii_digit(ch: str) -> str:
    value = unicodedata.decimal(ch, None)
    return str(value) if value is not None else ch


def normalise_text(text: str) -> str:
    """Unicode NFKC, without bidirectional controls or zero-width characters, every decimal
    digit (Arabic-Indic, Devanagari, full-width...) as its ASCII digit."""
    plain = unicodedata.normalize("NFKC", text).translate(_INVISIBLE)
    return "".join(_ascii_digit(ch) if not ch.isascii() and ch.isdecimal() else ch for ch in plain)


def phone_digits(text: str) -> str | None:
    """The digits (and a leading +) of a phone number of 7 to 15 digits, ASCII and in the order
    they read, or None if `text` is not one."""
    digits = PHONE_SEPARATORS.sub("", normalise_text(text).strip())
    return digits if re.fullmatch(r"\+?[0-9]{7,15}", digits) else None


def mask_private(text: str, email_as: str = "<email>", phone_as: str = "<phone>") -> str:
    """`text`, normalised, with every e-mail address and phone number replaced."""
    return PHONE.sub(phone_as, EMAIL.sub(email_as, normalise_text(text)))


# Where Rasa's structured log events carry what a customer said or what was said to them.
_PRIVATE_EVENT_KEYS = re.compile(r"text|message|slot|entit|event|state|response|tracker|prefilled|successes")


def redact_event(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """A structlog processor: every field that can hold a customer's words becomes "<redacted>"."""
    for key in list(event_dict):
        if key != "event" and _PRIVATE_EVENT_KEYS.search(key):
            event_dict[key] = "<redacted>"
    return event_dict


def install_private_logging() -> None:
    """Mask phone numbers and e-mail addresses in every log record this process makes, whichever
    logger and handler it goes through (a record factory sees them all, once each)."""
    make = logging.getLogRecordFactory()
    if getattr(make, "_outage_private", False):
        return

    def private_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: logging reports it itself when it formats
            return record
        masked = mask_private(message)
        if masked != message:
            record.msg, record.args = masked, None
        return record

    private_record._outage_private = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(private_record)
