"""who reported or subscribed, as a keyed hash of their address; reports tied to their incident

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("restore_report") as batch:
        batch.add_column(sa.Column("incident_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("client_key", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("counted", sa.Boolean(), nullable=False, server_default=sa.true()))
    op.create_index("ix_restore_report_client_key", "restore_report", ["client_key", "reported_at"])
    op.create_index("ix_restore_report_conversation", "restore_report", ["conversation_id", "service_key"])
    with op.batch_alter_table("subscription") as batch:
        batch.add_column(sa.Column("client_key", sa.String(length=32), nullable=True))
    op.create_index("ix_subscription_client_key", "subscription", ["client_key", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_subscription_client_key", table_name="subscription")
    with op.batch_alter_table("subscription") as batch:
        batch.drop_column("client_key")
    op.drop_index("ix_restore_report_conversation", table_name="restore_report")
    op.drop_index("ix_restore_report_client_key", table_name="restore_report")
    with op.batch_alter_table("restore_report") as batch:
        batch.drop_column("counted")
        batch.drop_column("client_key")
        batch.drop_column("incident_id")
