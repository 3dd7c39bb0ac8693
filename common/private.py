"""No customer's words, phone number or e-mail address in any log: a record factory for the
standard library's logging and a processor for Rasa's structured (structlog) events. Standard
library only: Rasa's process installs both. What counts as a contact is `common.contact`'s.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from common.contact import mask_private

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
