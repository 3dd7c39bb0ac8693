"""Customers' phone numbers and e-mail addresses: how they are recognised, the one form they are
checked and stored in, and how they are masked wherever they would be shown or logged. Every
part of the project asks here (answers, escalations, the review queue, logs, the console).
Standard library only: Rasa's process masks its logs with it.

A phone number can be typed in ways that look right and read wrong: a right-to-left override
(U+202E) shows "4567 123 09" as "09 123 4567" while storing it reversed; a zero-width space
between digits hides the number from a pattern; Arabic-Indic or full-width digits are digits
to a person but not to a dialler. `normalise_text` undoes all three before anything looks at it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

# Bidirectional marks, embeddings, overrides and isolates, and the zero-width characters
# (space, non-joiner, joiner, word joiner, BOM/no-break, soft hyphen) that hide inside numbers.
_BIDI = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
_ZERO_WIDTH = (0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0x00AD)
_INVISIBLE = dict.fromkeys((*_BIDI, *_ZERO_WIDTH))

# One pattern finds an address in text and checks one on its own. Letters of any script in
# the local part and the domain (people type "josé@…"); a top-level domain of letters.
EMAIL = re.compile(r"[\w.%+'-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,24}")
MAX_EMAIL_LOCAL = 64  # RFC 5321's limits
MAX_EMAIL = 254
# Seven or more digits, allowing what people put between them: spaces, dashes, dots, brackets,
# slashes and underscores. On normalised text, so every digit is ASCII. The NLU's phone_number
# entities are found with it too (rasa_plugins.components.ContactEntityExtractor).
PHONE = re.compile(r"\+?[0-9](?:[\s().\-/_]*[0-9]){6,}")
PHONE_DIGITS = (7, 15)  # the shortest local number we serve, and E.164's longest
_NOT_DIGITS = re.compile(r"[^0-9+]")


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
    value = _without_opening_bracket(normalise_text(text).strip())
    if not PHONE.fullmatch(value):
        return None
    digits = _NOT_DIGITS.sub("", value)
    low, high = PHONE_DIGITS
    return digits if low <= len(digits.lstrip("+")) <= high else None


def phone_spans(text: str) -> list[tuple[int, int]]:
    """Where `text` holds a phone number of 7 to 15 digits, as (start, end) in `text` itself,
    read as `normalise_text` reads it (Arabic-Indic digits, a zero-width space between them)."""
    # Every message the NLU reads comes here: most have no digit, and most are ASCII, where
    # the text is its own normal form and no position needs mapping back.
    if not any(ch.isdigit() for ch in text):
        return []
    origin: Sequence[int]
    if text.isascii():
        joined, origin = text, range(len(text))
    else:
        plain: list[str] = []
        mapped: list[int] = []
        for i, ch in enumerate(text):
            for c in normalise_text(ch):
                plain.append(c)
                mapped.append(i)
        joined, origin = "".join(plain), mapped
    low, high = PHONE_DIGITS
    spans = []
    for found in PHONE.finditer(joined):
        if low <= sum(c.isdigit() for c in found.group()) <= high:
            start = found.start()
            if start and joined[start - 1] == "(" and ")" in found.group():
                start -= 1  # "(09) 123 4567": the area code's bracket belongs to the number
            spans.append((origin[start], origin[found.end() - 1] + 1))
    return spans


def _without_opening_bracket(value: str) -> str:
    """A bracketed area code's "(" stands before the first digit, where PHONE does not look:
    masking then leaves brackets alone, and "(021 000 0000)" masks to itself."""
    return value[1:] if value.startswith("(") and ")" in value else value


def email_address(text: str) -> str | None:
    """`text` as an e-mail address, normalised and lower-cased, or None if it is not one."""
    value = normalise_text(text).strip()
    if not EMAIL.fullmatch(value) or len(value) > MAX_EMAIL:
        return None
    return value.lower() if len(value.partition("@")[0]) <= MAX_EMAIL_LOCAL else None


def contact_of(text: str) -> str | None:
    """A phone number or e-mail address in its stored form, or None if `text` is neither."""
    return email_address(text) or phone_digits(text)


def mask_private(text: str, email_as: str = "<email>", phone_as: str = "<phone>") -> str:
    """`text`, normalised, with every e-mail address and phone number in it replaced."""
    return PHONE.sub(phone_as, EMAIL.sub(email_as, normalise_text(text)))


def mask_contact(contact: str) -> str:
    """One stored contact, for logs: enough to tell two contacts apart, not enough to use one."""
    if "@" in contact:
        name, _, domain = contact.partition("@")
        return f"{name[:1]}***@{domain}"
    return f"{contact[:3]}***{contact[-2:]}" if len(contact) > 5 else "***"


def contact_link(contact: str) -> str:
    """A link that starts a call or an e-mail to a stored contact, for the staff console."""
    return f"mailto:{contact}" if "@" in contact else f"tel:{contact}"
