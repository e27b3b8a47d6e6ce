"""SQLAlchemy 2 table models. The schema itself comes only from Alembic migrations.

Times are stored time-zone aware (``TIMESTAMP WITH TIME ZONE`` on PostgreSQL);
SQLite keeps no zone, so :class:`UTCDateTime` normalises to UTC on the way in
and out.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """A time-zone aware timestamp that always comes back in UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:  # noqa: ARG002
        """Convert to UTC; a naive value is taken as UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:  # noqa: ARG002
        """Attach UTC to naive values read back from SQLite."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    """Return the current time, UTC, time-zone aware."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base with a naming convention so migrations are stable."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ChannelRow(Base):
    """A channel (or group) we ingest: where it comes from and its schedule."""

    __tablename__ = "channels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    telegram_id: Mapped[int] = mapped_column(BigInteger)
    username: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(Text, default="")
    chat_type: Mapped[str | None] = mapped_column(String(64))
    source_kind: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(Text)
    export_dir: Mapped[str | None] = mapped_column(Text)
    schedule_every_s: Mapped[int | None] = mapped_column(Integer)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    cursor_message_id: Mapped[int | None] = mapped_column(BigInteger)
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_run_id: Mapped[str | None] = mapped_column(String(64))
    # The channel's change counter: the last value handed to a document row (storage/changes.py).
    change_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    # Issue 13 (migration 0008): for a discussion group, the channel whose comments it holds.
    discussion_of: Mapped[int | None] = mapped_column(ForeignKey("channels.id", ondelete="SET NULL"))


class MessageRow(Base):
    """One raw post as read from its source, unique per channel and message id."""

    __tablename__ = "messages"
    __table_args__ = (UniqueConstraint("channel_id", "message_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # No index of its own: the unique (channel_id, message_id) index serves it (migration 0010).
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    message_id: Mapped[int] = mapped_column(BigInteger)
    date: Mapped[datetime] = mapped_column(UTCDateTime())
    text: Mapped[str] = mapped_column(Text, default="")
    entities: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    author: Mapped[str | None] = mapped_column(Text)
    reply_to: Mapped[int | None] = mapped_column(BigInteger)
    forwarded_from: Mapped[str | None] = mapped_column(Text)
    media_type: Mapped[str | None] = mapped_column(String(64))
    views: Mapped[int | None] = mapped_column(BigInteger)
    reactions: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    grouped_id: Mapped[int | None] = mapped_column(BigInteger)
    raw: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    content_hash: Mapped[str] = mapped_column(String(64))
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Issue 13 (migration 0008): forward count, media metadata (``Media.json_dict``), forum topic id.
    forwards: Mapped[int | None] = mapped_column(BigInteger)
    media: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    forum_topic_id: Mapped[int | None] = mapped_column(BigInteger)
    # A comment (message of a linked discussion group): the channel post's message id.
    thread_of: Mapped[int | None] = mapped_column(BigInteger)
    # A live post's downloaded media file, relative to MEDIA_DIR (never written by an ingest).
    media_path: Mapped[str | None] = mapped_column(Text)


class TelegramAccountRow(Base):
    """A named Telegram account's health: ``False`` once Telegram logged it out or banned it (issue 13)."""

    __tablename__ = "telegram_accounts"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    healthy: Mapped[bool] = mapped_column(Boolean, default=True)
    reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class ForumTopicRow(Base):
    """A forum topic of a channel (supergroup with topics): its id and latest title (issue 13)."""

    __tablename__ = "forum_topics"
    __table_args__ = (UniqueConstraint("channel_id", "topic_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    topic_id: Mapped[int] = mapped_column(BigInteger)
    title: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class MessageVersionRow(Base):
    """An earlier version of a post, kept when an edit changes its content."""

    __tablename__ = "message_versions"
    __table_args__ = (UniqueConstraint("message_pk", "content_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_pk: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    entities: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DocumentRow(Base):
    """The processed form of one post (one per message)."""

    __tablename__ = "documents"
    __table_args__ = (Index("ix_documents_channel_id_change_seq", "channel_id", "change_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_pk: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), unique=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"), index=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    processor: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(128))
    prompt_version: Mapped[str] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(Text, default="")
    keywords: Mapped[list[str]] = mapped_column(JSONType, default=list)
    entities: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    clean_text: Mapped[str] = mapped_column(Text, default="")
    output: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # The channel's change counter when this post's line last changed (or the post was deleted).
    change_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TopicRow(Base):
    """A topic of a channel: label, keywords and size."""

    __tablename__ = "topics"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"), index=True)
    topic_key: Mapped[str] = mapped_column(String(128), unique=True)
    label: Mapped[str] = mapped_column(Text)
    keywords: Mapped[list[str]] = mapped_column(JSONType, default=list)
    summary: Mapped[str | None] = mapped_column(Text)
    size: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # When and how (``full`` | ``incremental``) the topic's members last changed, and their digest.
    fitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    fit_kind: Mapped[str | None] = mapped_column(String(16))
    members_digest: Mapped[str | None] = mapped_column(String(64))


class TopicMemberRow(Base):
    """Membership of a post in a topic (a post is in at most one topic)."""

    __tablename__ = "topic_members"

    message_pk: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("topics.id", ondelete="CASCADE"), index=True)
    # The document's content hash when the post was placed: another hash means the post changed since.
    content_hash: Mapped[str | None] = mapped_column(String(64))


class TopicFitRow(Base):
    """A channel's stored topic model (pickled ``topics.stable.TopicModel``) and its topic-number counter."""

    __tablename__ = "topic_fits"

    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True)
    features_version: Mapped[str] = mapped_column(String(32))
    model: Mapped[bytes] = mapped_column(LargeBinary)
    fitted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    fit_kind: Mapped[str] = mapped_column(String(16))
    next_number: Mapped[int] = mapped_column(Integer)
    drift: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RunRow(Base):
    """One pass over one channel; ``id`` is the Celery root id (or a UUID when embedded)."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    mode: Mapped[str] = mapped_column(String(16), default="embedded")
    posts_read: Mapped[int] = mapped_column(Integer, default=0)
    posts_new: Mapped[int] = mapped_column(Integer, default=0)
    posts_changed: Mapped[int] = mapped_column(Integer, default=0)
    input_errors: Mapped[int] = mapped_column(Integer, default=0)
    # JSON list of {"path", "start", "end", "reason"}: byte ranges of the source skipped unread.
    unread_ranges: Mapped[str | None] = mapped_column(Text)
    items_total: Mapped[int] = mapped_column(Integer, default=0)
    topics: Mapped[int | None] = mapped_column(Integer)
    export_dir: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ingested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    topicized_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    redrives: Mapped[int] = mapped_column(Integer, default=0)
    # The channel's change counter as of this run's export: ``--since <run id>`` starts after it.
    delta_cursor: Mapped[int | None] = mapped_column(BigInteger)


class RunItemRow(Base):
    """One post to process within a run; terminal once ``done`` or ``failed``."""

    __tablename__ = "run_items"
    __table_args__ = (Index("ix_run_items_run_id_status", "run_id", "status"),)

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    message_pk: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DeadLetterRow(Base):
    """A unit of work that gave up: what it was, why, and how often it was tried."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str | None] = mapped_column(String(64), index=True)
    task_name: Mapped[str] = mapped_column(String(128))
    args: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    error_type: Mapped[str] = mapped_column(String(128))
    error_message: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    first_failed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    replayed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)


class LLMCallRow(Base):
    """One provider call (or cache hit) with its tokens, latency and cost."""

    __tablename__ = "llm_calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str | None] = mapped_column(String(64), index=True)
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channels.id", ondelete="SET NULL"), index=True)
    message_pk: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    purpose: Mapped[str] = mapped_column(String(32), default="process")
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(128))
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    cost_usd: Mapped[float | None] = mapped_column(Float)
    cache_hit: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    cached_input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cache_write_tokens: Mapped[int] = mapped_column(Integer, default=0)
    reasoning_tokens: Mapped[int] = mapped_column(Integer, default=0)
    batch: Mapped[bool] = mapped_column(Boolean, default=False)
    list_cost_usd: Mapped[float | None] = mapped_column(Float)
    batch_savings_usd: Mapped[float | None] = mapped_column(Float)


class PostEmbeddingRow(Base):
    """A post's vector from a provider's embedding model (float32 bytes), kept so re-runs do not re-embed."""

    __tablename__ = "post_embeddings"

    message_pk: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    model: Mapped[str] = mapped_column(String(128), primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"), index=True)
    # The document's content hash when it was embedded: another hash means the post changed since.
    content_hash: Mapped[str] = mapped_column(String(64))
    dims: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LLMBatchRow(Base):
    """One provider batch job of a run: the posts it carries and how far the provider got.

    ``id`` is ``<run id>:<chunk>`` so a redelivered submit finds its rows
    again; ``provider_batch_id`` is committed right after the provider names
    it, before polling starts. ``status`` is the provider's (``validating``,
    ``in_progress``, ``completed``, ``failed``, ``expired``, ``cancelled``…),
    ``preparing`` before submission and ``applied`` once its results are stored.
    """

    __tablename__ = "llm_batches"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(32), default="preparing")
    provider_batch_id: Mapped[str | None] = mapped_column(String(200))
    input_file_id: Mapped[str | None] = mapped_column(String(200))
    message_pks: Mapped[list[int]] = mapped_column(JSONType, default=list)
    request_count: Mapped[int] = mapped_column(Integer, default=0)
    completed_count: Mapped[int] = mapped_column(Integer, default=0)
    failed_count: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ApiKeyRow(Base):
    """An HTTP API key: only a SHA-256 hash of the key is kept, never the key."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(16))
    rate_limit_per_min: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebhookRow(Base):
    """A webhook subscription: where to POST which events, and the secret that signs them."""

    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(JSONType, default=list)
    secret: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
