"""burned_tokens: reply tokens seen on their way to someone outside the organisation

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 09:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "burned_tokens",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("burned_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest"),
    )


def downgrade() -> None:
    op.drop_table("burned_tokens")
