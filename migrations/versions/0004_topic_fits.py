"""topic fits: stored topic models, per-topic fit time and kind, member content hashes

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 15:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "topic_fits",
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("features_version", sa.String(length=32), nullable=False),
        sa.Column("model", sa.LargeBinary(), nullable=False),
        sa.Column("fitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fit_kind", sa.String(length=16), nullable=False),
        sa.Column("next_number", sa.Integer(), nullable=False),
        sa.Column(
            "drift",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_topic_fits_channel_id_channels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("channel_id", name=op.f("pk_topic_fits")),
    )
    with op.batch_alter_table("topics") as batch:
        batch.add_column(sa.Column("fitted_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("fit_kind", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("members_digest", sa.String(length=64), nullable=True))
    with op.batch_alter_table("topic_members") as batch:
        batch.add_column(sa.Column("content_hash", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("topic_members") as batch:
        batch.drop_column("content_hash")
    with op.batch_alter_table("topics") as batch:
        batch.drop_column("members_digest")
        batch.drop_column("fit_kind")
        batch.drop_column("fitted_at")
    op.drop_table("topic_fits")
