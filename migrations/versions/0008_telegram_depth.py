"""telegram depth: forwards, media metadata, forum topics, comments, account health (issue 13)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("forwards", sa.BigInteger(), nullable=True))
        batch.add_column(
            sa.Column(
                "media",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
        batch.add_column(sa.Column("forum_topic_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("thread_of", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("media_path", sa.Text(), nullable=True))
    with op.batch_alter_table("channels") as batch:
        batch.add_column(sa.Column("discussion_of", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_channels_discussion_of_channels"),
            "channels",
            ["discussion_of"],
            ["id"],
            ondelete="SET NULL",
        )
    op.create_table(
        "forum_topics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("topic_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_forum_topics_channel_id_channels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forum_topics")),
        sa.UniqueConstraint("channel_id", "topic_id", name=op.f("uq_forum_topics_channel_id")),
    )

    op.create_table(
        "telegram_accounts",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("healthy", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_telegram_accounts")),
    )


def downgrade() -> None:
    op.drop_table("telegram_accounts")
    op.drop_table("forum_topics")
    with op.batch_alter_table("channels") as batch:
        batch.drop_constraint(op.f("fk_channels_discussion_of_channels"), type_="foreignkey")
        batch.drop_column("discussion_of")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("media_path")
        batch.drop_column("thread_of")
        batch.drop_column("forum_topic_id")
        batch.drop_column("media")
        batch.drop_column("forwards")
