"""customers' reports that a restored service still fails for them

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "restore_report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_key", sa.String(length=32), nullable=False),
        sa.Column("conversation_id", sa.String(length=128), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_restore_report_service_key", "restore_report", ["service_key"])
    op.create_index("ix_restore_report_reported_at", "restore_report", ["reported_at"])


def downgrade() -> None:
    op.drop_index("ix_restore_report_reported_at", table_name="restore_report")
    op.drop_index("ix_restore_report_service_key", table_name="restore_report")
    op.drop_table("restore_report")
