"""No customer's words, phone number or e-mail address in any log."""

from __future__ import annotations

import logging

import pytest

from common.private import install_private_logging, redact_event


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
