"""Alembic environment: the connection comes from bot.db.migrate, never from an ini file."""

from __future__ import annotations

from alembic import context

from bot.db.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through bot.db.migrate.upgrade(), which passes a connection")

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
