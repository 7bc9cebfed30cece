"""triage: hints, indicators and likely duplicates of each report, and the duplicate index

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 11:40:00.000000

Reports stored before this revision have no triage row: ``reports show`` says so, and
``disclosure-inbox triage run`` assesses them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "report_triage",
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("assessed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("triage", sa.JSON(), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["report_id"], ["reports.id"]),
        sa.PrimaryKeyConstraint("report_id"),
    )
    op.create_table(
        "triage_keys",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["report_id"], ["reports.id"]),
        sa.PrimaryKeyConstraint("key", "report_id"),
    )
    op.create_index("ix_triage_keys_key_received", "triage_keys", ["key", "received_at"])
    op.create_table(
        "report_hints",
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["report_id"], ["reports.id"]),
        sa.PrimaryKeyConstraint("report_id", "category"),
    )
    op.create_index("ix_report_hints_category", "report_hints", ["category"])


def downgrade() -> None:
    op.drop_index("ix_report_hints_category", table_name="report_hints")
    op.drop_table("report_hints")
    op.drop_index("ix_triage_keys_key_received", table_name="triage_keys")
    op.drop_table("triage_keys")
    op.drop_table("report_triage")
