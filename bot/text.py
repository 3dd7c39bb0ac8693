"""Text that came from outside (customers, staff, operators, status pages) before we keep it."""

from __future__ import annotations


def printable(text: str) -> str:
    """Without control characters (NUL above all, which PostgreSQL refuses), newlines and tabs
    kept, Windows line ends made plain, and trimmed."""
    return "".join(ch for ch in text.replace("\r\n", "\n") if ch in "\n\t" or ch.isprintable()).strip()
