"""Contact details normalised before they are checked or stored, and masked in logs and review."""

from __future__ import annotations

import logging

import pytest

from common.private import install_private_logging, mask_private, normalise_text, phone_digits, redact_event

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


def test_structured_log_fields_with_customer_words_are_redacted() -> None:
    event = {"event": "rest.message.received.timeout", "text": "my number is 021 555 0199", "sender_id": "abc"}
    assert redact_event(None, "error", event) == {
        "event": "rest.message.received.timeout",
        "text": "<redacted>",
        "sender_id": "abc",
    }


def test_every_log_record_is_masked(caplog: pytest.LogCaptureFixture) -> None:
    factory = logging.getLogRecordFactory()
    try:
        install_private_logging()
        install_private_logging()  # twice is once
        with caplog.at_level(logging.INFO):
            logging.getLogger("anything").warning("conversation %r: %s", "whatsapp:+64215550199", "a@b.example.com")
        (record,) = caplog.records
        assert record.getMessage() == "conversation 'whatsapp:<phone>': <email>"
    finally:
        logging.setLogRecordFactory(factory)
