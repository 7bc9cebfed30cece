"""openpgp: how each message was encrypted and signed, reporters' public keys, sealed mail

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 15:00:00.000000

Messages stored before this revision were not looked at for OpenPGP: they read as
``encryption = none`` with no signature, as they were shown before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(
            sa.Column("encryption", sa.String(length=12), nullable=False, server_default="none")
        )
        batch.add_column(sa.Column("encryption_problem", sa.Text(), nullable=True))
        batch.add_column(sa.Column("signature_status", sa.String(length=12), nullable=True))
        batch.add_column(sa.Column("signature_fingerprint", sa.String(length=64), nullable=True))
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("protect", sa.String(length=10), nullable=True))
        batch.add_column(sa.Column("sealed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "reporter_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("armored", sa.Text(), nullable=False),
        sa.Column("uids", sa.JSON(), nullable=False),
        sa.Column("message_pk", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["message_pk"], ["messages.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("address", "fingerprint", name="uq_reporter_keys_address_fpr"),
    )
    op.create_index("ix_reporter_keys_address", "reporter_keys", ["address", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_reporter_keys_address", table_name="reporter_keys")
    op.drop_table("reporter_keys")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("sealed_at")
        batch.drop_column("protect")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("signature_fingerprint")
        batch.drop_column("signature_status")
        batch.drop_column("encryption_problem")
        batch.drop_column("encryption")
