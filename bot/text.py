"""Text that came from outside (customers, staff, operators, status pages) before we keep it."""

from __future__ import annotations

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
