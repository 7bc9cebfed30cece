"""sla clocks and escalation ledger

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 00:13:38.001684
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "clocks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_business_days", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["reports.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("clocks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_clocks_report_id"), ["report_id"], unique=False)
        batch_op.create_index(
            "ix_clocks_running_due",
            ["due_at"],
            unique=False,
            sqlite_where=sa.text("stopped_at IS NULL AND paused_at IS NULL"),
            postgresql_where=sa.text("stopped_at IS NULL AND paused_at IS NULL"),
        )

    op.create_table(
        "escalations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clock_id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("tier", sa.String(length=40), nullable=False),
        sa.Column("occurrence", sa.Integer(), nullable=False),
        sa.Column("fire_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["clock_id"],
            ["clocks.id"],
        ),
        sa.ForeignKeyConstraint(
            ["outbox_id"],
            ["outbox.id"],
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["reports.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("clock_id", "tier", "occurrence", name="uq_escalations_step"),
    )
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_escalations_report_id"), ["report_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_escalations_report_id"))

    op.drop_table("escalations")
    with op.batch_alter_table("clocks", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_clocks_running_due",
            sqlite_where=sa.text("stopped_at IS NULL AND paused_at IS NULL"),
            postgresql_where=sa.text("stopped_at IS NULL AND paused_at IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_clocks_report_id"))

    op.drop_table("clocks")
