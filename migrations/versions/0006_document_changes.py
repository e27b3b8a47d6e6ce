"""document change sequence and run delta cursors

A per-channel change counter (channels.change_seq) handed to each document row
written in the same transaction (documents.change_seq), and the counter's value
as of each run's export (runs.delta_cursor): the incremental deltas of
docs/export-format.md and GET /documents?since=.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("channels") as batch:
        batch.add_column(sa.Column("change_seq", sa.BigInteger(), server_default="0", nullable=False))
    with op.batch_alter_table("documents") as batch:
        batch.add_column(sa.Column("change_seq", sa.BigInteger(), server_default="0", nullable=False))
    op.create_index("ix_documents_channel_id_change_seq", "documents", ["channel_id", "change_seq"])
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("delta_cursor", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("delta_cursor")
    op.drop_index("ix_documents_channel_id_change_seq", table_name="documents")
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("change_seq")
    with op.batch_alter_table("channels") as batch:
        batch.drop_column("change_seq")
