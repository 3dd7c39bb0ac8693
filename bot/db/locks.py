"""Counting limits that hold when many requests from one client arrive at once.

A limit checked by counting rows and then inserting one lets two transactions both count N-1
and both insert: issue 21's tests saw 11 subscriptions stored against a limit of 10 from one
address, eight requests at a time. The counting functions therefore write their row first and
count after, inside `one_at_a_time`:

- SQLite has one writer at a time: once the row is written this transaction holds the write
  lock, so a second one waits, then counts this row.
- PostgreSQL lets writers run side by side, so a transaction-scoped advisory lock on the key
  (for example, the client's) makes the insert-then-count of one key one at a time.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import text
from sqlalchemy.orm import Session


def one_at_a_time(session: Session, key: str) -> None:
    """Until this transaction ends, other transactions calling this with `key` wait (PostgreSQL).
    On SQLite the caller's first write serialises it; nothing is needed here."""
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": digest})
