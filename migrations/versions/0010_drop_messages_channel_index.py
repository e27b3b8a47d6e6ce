"""drop ix_messages_channel_id: the unique (channel_id, message_id) index serves every lookup by channel (issue 10)

The single-column index duplicated the leading column of
``uq_messages_channel_id``. Under statistics that did not know a channel yet
(its first import), PostgreSQL chose it for lookups by message id and then
filtered every post of the channel for each id; without it, those lookups
probe the unique index with both columns (``tg_parser/storage/_keyed.py``).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 21:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_messages_channel_id"))


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_messages_channel_id"), ["channel_id"], unique=False)
