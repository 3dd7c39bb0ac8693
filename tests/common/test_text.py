"""printable(): what is removed from outside text before it is stored, and what must survive."""

from __future__ import annotations

import pytest

from common.text import printable


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("nul\x00 bell\x07 del\x7f c1\x85", "nul bell del c1"),
        ("a\r\nb\rc", "a\nbc"),
        ("one\u2028two\u2029three", "one\ntwo\nthree"),
        ("tab\tand\nnewline", "tab\tand\nnewline"),
        ("\u202eevil\u202c and \u2066isolate\u2069", "evil and isolate"),
        ("lone \ud800 surrogate", "lone  surrogate"),
        ("non\ufffecharacter\uffff", "noncharacter"),
        ("  padded  ", "padded"),
    ],
)
def test_control_and_spoofing_characters_are_removed(raw: str, kept: str) -> None:
    assert printable(raw) == kept


@pytest.mark.parametrize(
    "text",
    [
        "🫠🫠🫠",  # Unicode 14: unassigned in Python 3.10's tables
        "👨\u200d👩\u200d👧 family",  # emoji joined by ZWJ
        "❤\ufe0f",  # variation selector
        "top\u00a0up",  # non-breaking space, as phones paste it
        "kia ora, mōrena 👋",
        "مرحبا 你好",
    ],
)
def test_what_customers_really_type_survives(text: str) -> None:
    assert printable(text) == text
    assert printable(text).encode("utf-8")  # and can be stored
