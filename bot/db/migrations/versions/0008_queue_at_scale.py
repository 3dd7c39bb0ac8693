"""the queue at outage scale: a priority column and indexes for the queue's queries;
escalations linked to incidents; bulk requests by token; the outbox of closing notices; when a
pushed notice was shown; who asked, for the per-address limit

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_ACTIVE = sa.text("status <> 'resolved'")


def upgrade() -> None:
    with op.batch_alter_table("escalation") as batch:
        batch.add_column(sa.Column("priority", sa.Integer(), nullable=False, server_default="2"))
        batch.add_column(sa.Column("client_key", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("bulk_closed", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute("UPDATE escalation SET priority = 0 WHERE urgency = 'safety'")
    op.execute("UPDATE escalation SET priority = 1 WHERE urgency = 'time_critical'")
    op.create_index(
        "ix_escalation_queue",
        "escalation",
        ["priority", "created_at", "id"],
        postgresql_where=_ACTIVE,
        sqlite_where=_ACTIVE,
    )
    op.create_index("ix_escalation_service_queue", "escalation", ["service_key", "priority", "created_at"])
    op.create_index("ix_escalation_resolved", "escalation", ["priority", "resolved_at"])
    op.create_index("ix_escalation_updated", "escalation", ["updated_at"])
    op.create_index("ix_escalation_client_key", "escalation", ["client_key", "created_at"])
    op.create_index("ix_escalation_contact", "escalation", ["contact", "created_at"])
    op.create_table(
        "escalation_link",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("escalation_id", sa.Integer(), sa.ForeignKey("escalation.id", ondelete="CASCADE"), nullable=False),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incident.id", ondelete="CASCADE"), nullable=False),
        sa.Column("service_key", sa.String(length=32), nullable=False),
        sa.UniqueConstraint("escalation_id", "incident_id"),
    )
    op.create_index("ix_escalation_link_incident", "escalation_link", ["incident_id", "escalation_id"])
    op.create_table(
        "bulk_request",
        sa.Column("token", sa.String(length=64), primary_key=True),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
    )
    op.create_table(
        "closing_notice",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "escalation_id",
            sa.Integer(),
            sa.ForeignKey("escalation.id", ondelete="CASCADE"),
            nullable=False,
            unique=True,
        ),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("conversation_id", sa.String(length=255), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("service_key", sa.String(length=32), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("shown_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("held", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    with op.batch_alter_table("notification") as batch:
        batch.add_column(sa.Column("shown_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_closing_notice_conversation_id", "closing_notice", ["conversation_id"])
    op.create_index("ix_closing_notice_pending", "closing_notice", ["delivered_at", "channel"])


def downgrade() -> None:
    with op.batch_alter_table("notification") as batch:
        batch.drop_column("shown_at")
    op.drop_index("ix_closing_notice_pending", table_name="closing_notice")
    op.drop_index("ix_closing_notice_conversation_id", table_name="closing_notice")
    op.drop_table("closing_notice")
    op.drop_table("bulk_request")
    op.drop_index("ix_escalation_link_incident", table_name="escalation_link")
    op.drop_table("escalation_link")
    for name in (
        "ix_escalation_contact",
        "ix_escalation_client_key",
        "ix_escalation_updated",
        "ix_escalation_resolved",
        "ix_escalation_service_queue",
        "ix_escalation_queue",
    ):
        op.drop_index(name, table_name="escalation")
    with op.batch_alter_table("escalation") as batch:
        batch.drop_column("bulk_closed")
        batch.drop_column("client_key")
        batch.drop_column("priority")
