"""llm batches, cache and batch usage of llm calls

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 15:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "llm_batches",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("provider_batch_id", sa.String(length=200), nullable=True),
        sa.Column("input_file_id", sa.String(length=200), nullable=True),
        sa.Column(
            "message_pks",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("request_count", sa.Integer(), nullable=False),
        sa.Column("completed_count", sa.Integer(), nullable=False),
        sa.Column("failed_count", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_llm_batches_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_llm_batches")),
    )
    op.create_index(op.f("ix_llm_batches_run_id"), "llm_batches", ["run_id"], unique=False)
    with op.batch_alter_table("llm_calls") as batch_op:
        batch_op.add_column(
            sa.Column("cached_input_tokens", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("cache_write_tokens", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("reasoning_tokens", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("batch", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("list_cost_usd", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("batch_savings_usd", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("llm_calls") as batch_op:
        batch_op.drop_column("batch_savings_usd")
        batch_op.drop_column("list_cost_usd")
        batch_op.drop_column("batch")
        batch_op.drop_column("reasoning_tokens")
        batch_op.drop_column("cache_write_tokens")
        batch_op.drop_column("cached_input_tokens")
    op.drop_index(op.f("ix_llm_batches_run_id"), table_name="llm_batches")
    op.drop_table("llm_batches")
