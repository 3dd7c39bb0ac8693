"""the name a staff member signs customer replies with; when staff last read an escalation

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff_user") as batch:
        batch.add_column(sa.Column("display_name", sa.String(length=80), nullable=True))
    with op.batch_alter_table("escalation") as batch:
        batch.add_column(sa.Column("staff_seen_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("escalation") as batch:
        batch.drop_column("staff_seen_at")
    with op.batch_alter_table("staff_user") as batch:
        batch.drop_column("display_name")
