"""Contact details recognised, normalised before they are checked or stored, and masked."""

from __future__ import annotations

import pytest

from common.contact import (
    contact_link,
    contact_of,
    email_address,
    mask_contact,
    mask_private,
    normalise_text,
    phone_digits,
    phone_spans,
)

RLO, PDF, ZWSP = "\u202e", "\u202c", "\u200b"
ARABIC_INDIC = "٠٩ ١٢٣ ٤٥٦٧"  # 09 123 4567


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        (ARABIC_INDIC, "091234567"),
        ("０２１ ５５５ ０１９９", "0215550199"),  # full-width
        (f"021{ZWSP}555{ZWSP}0199", "0215550199"),
        ("+64 (21) 555-0199", "+64215550199"),
        ("021/555_0199", "0215550199"),
    ],
)
def test_phone_numbers_are_read_as_ascii_digits(typed: str, stored: str) -> None:
    assert phone_digits(typed) == stored


def test_a_right_to_left_override_does_not_change_the_digits_stored() -> None:
    """The override only changes how the number is shown; the digits are stored as typed, in order."""
    assert phone_digits(f"{RLO}09 123 4567{PDF}") == "091234567"
    assert normalise_text(f"a{RLO}b{PDF}c") == "abc"


@pytest.mark.parametrize("text", ["12", "call me", "1" * 16, "+", "", "0800-CALL-NOW"])
def test_what_is_not_a_phone_number_is_refused(text: str) -> None:
    assert phone_digits(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "call me on 021 555 0199",
        f"call me on 021{ZWSP}555{ZWSP}0199",
        "call me on 021/555/0199",
        "call me on 021_555_0199",
        f"call me on {ARABIC_INDIC}",
        f"call me on {RLO}021 555 0199{PDF}",
        "mail me at aroha.smith@example.co.nz",
    ],
)
def test_masking_finds_contacts_however_they_are_written(text: str) -> None:
    masked = mask_private(text)
    assert "<phone>" in masked or "<email>" in masked
    assert not any(ch.isdigit() for ch in masked) and "@" not in masked


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("  Mere.Smith+work@Example.co.nz ", "mere.smith+work@example.co.nz"),
        ("josé@example.com", "josé@example.com"),
        ("o'brien@example.ie", "o'brien@example.ie"),
    ],
)
def test_email_addresses_are_stored_lower_case(typed: str, stored: str) -> None:
    assert email_address(typed) == stored


@pytest.mark.parametrize(
    "text", ["a@b", "@user", "<script>@x.com", "a@b.c", "x" * 65 + "@a.com", "a@" + "b" * 250 + ".com", "a b@c.com"]
)
def test_what_is_not_an_email_address_is_refused(text: str) -> None:
    assert email_address(text) is None


def test_a_bracketed_area_code_is_a_phone_number() -> None:
    """The one rule both masking and checking use: "(09) 123 4567" is read, and masked, as a number."""
    assert phone_digits("(09) 123 4567") == "091234567"
    assert mask_private("ring (09) 123 4567") == "ring (<phone>"
    # Masking twice changes nothing: a masked number in brackets keeps its brackets.
    assert mask_private("(021 000 0000)", phone_as="021 000 0000") == "(021 000 0000)"


def test_a_contact_is_an_email_address_or_a_phone_number() -> None:
    assert contact_of("021 555 0199") == "0215550199"
    assert contact_of("Aroha@Example.NZ") == "aroha@example.nz"
    assert contact_of("call me") is None


def test_contacts_are_masked_for_logs() -> None:
    assert mask_contact("0211234567") == "021***67"
    assert mask_contact("mere@example.co.nz") == "m***@example.co.nz"


def test_staff_get_a_link_that_calls_or_mails_the_contact() -> None:
    assert contact_link("+64215550199") == "tel:+64215550199"
    assert contact_link("mere@example.co.nz") == "mailto:mere@example.co.nz"


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("divert my calls to 021 555 0199 please", ["021 555 0199"]),
        ("from (09) 123 4567 to +64 21 555 0199", ["(09) 123 4567", "+64 21 555 0199"]),
        (f"call {ARABIC_INDIC} now", [ARABIC_INDIC]),
        (f"to 021{ZWSP}555{ZWSP}0199.", [f"021{ZWSP}555{ZWSP}0199"]),
        ("my account 1234567890123456789 and 12 345", []),
        ("no number here", []),
    ],
)
def test_phone_numbers_are_found_where_they_stand_in_the_text(text: str, found: list[str]) -> None:
    """The spans are in the text as typed, so an entity's value is what the customer wrote."""
    assert [text[a:b] for a, b in phone_spans(text)] == found
    assert all(phone_digits(text[a:b]) for a, b in phone_spans(text))
