"""Rasa's `events` table, as rasa.core.tracker_store.SQLTrackerStore creates it (Rasa 3.6), for
tests of what our processes read from the tracker store without a Rasa server."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine, create_engine, text

from tests.conftest import NOW

EVENTS_TABLE = """CREATE TABLE events (
    id INTEGER PRIMARY KEY, sender_id VARCHAR(255) NOT NULL, type_name VARCHAR(255) NOT NULL,
    timestamp FLOAT, intent_name VARCHAR(255), action_name VARCHAR(255), data TEXT)"""


class TrackerTable:
    """Rasa's `events` table in a SQLite file, or in the database `engine` points at."""

    def __init__(self, path: Path | None = None, engine: Engine | None = None) -> None:
        self.engine = engine or create_engine(f"sqlite:///{path}")
        ddl = EVENTS_TABLE
        if self.engine.dialect.name == "postgresql":
            ddl = ddl.replace("id INTEGER PRIMARY KEY", "id SERIAL PRIMARY KEY")
        with self.engine.begin() as conn:
            conn.execute(text(ddl))
            conn.execute(text("CREATE INDEX ix_events_sender_id ON events (sender_id)"))

    def insert(
        self, sender: str, type_name: str, data: object, at: float | None = None, intent: str | None = None
    ) -> int:
        stamp = NOW.timestamp() - 60 if at is None else at
        with self.engine.begin() as conn:
            return int(
                conn.execute(
                    text(
                        "INSERT INTO events (sender_id, type_name, timestamp, intent_name, data) "
                        "VALUES (:s, :t, :ts, :i, :d) RETURNING id"
                    ),
                    {
                        "s": sender,
                        "t": type_name,
                        "ts": stamp,
                        "i": intent,
                        "d": data if isinstance(data, str) else json.dumps(data),
                    },
                ).scalar_one()
            )
