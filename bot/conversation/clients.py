"""Who a web chat message came from, as far as the per-address limits on reports and
subscriptions need to know: a keyed hash of the client's address, never the address itself.

The web gateway computes it and sends it with the message, in the REST channel's metadata
(`{"client": ...}`); the actions read it back from the tracker's latest message. Channels
whose sender is the contact itself (SMS, WhatsApp, Messenger, Telegram) send none.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

METADATA_KEY = "client"
_KEY = re.compile(r"[0-9a-f]{16}")


def client_key(address: str, secret: str) -> str:
    """The address's key: the same for one address under one secret, useless without it."""
    return hmac.new(secret.encode(), b"client-address:" + address.encode(), hashlib.sha256).hexdigest()[:16]


def client_key_in(latest_message: Mapping[str, Any]) -> str | None:
    """The key a message was sent with, if it carries a well-formed one."""
    metadata = latest_message.get("metadata")
    value = metadata.get(METADATA_KEY) if isinstance(metadata, Mapping) else None
    return value if isinstance(value, str) and _KEY.fullmatch(value) else None
