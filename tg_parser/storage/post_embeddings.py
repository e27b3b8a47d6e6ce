"""Posts' vectors from a provider's embedding model, stored so a re-run embeds only what is new.

Keyword-only functions over a :class:`~sqlalchemy.orm.Session` (the caller
commits). A vector is kept per post and embedding model as little-endian
float32 bytes, with the document's content hash at embedding time: a post
whose text changed since is embedded again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from tg_parser.storage.tables import DocumentRow, MessageRow, PostEmbeddingRow, utcnow
from tg_parser.storage.upsert import insert_for

if TYPE_CHECKING:  # numpy is imported where vectors are built: every CLI command imports this module
    import numpy as np
    from numpy.typing import NDArray

IDS_PER_QUERY = 900
"""Message ids read per statement (bounded parameter lists for SQLite and PostgreSQL)."""
_FLOAT32 = "<f4"
"""Stored vector element: little-endian float32 (a numpy dtype string)."""


@dataclass(frozen=True)
class PendingPost:
    """A live post of a channel with no current vector for a model.

    Attributes:
        message_pk: The message's primary key.
        message_id: The post's message id.
        text: The document's clean text.
        content_hash: The document's content hash (stored with the vector).
    """

    message_pk: int
    message_id: int
    text: str
    content_hash: str


def pending_posts(session: Session, *, channel_pk: int, model: str) -> list[PendingPost]:
    """Return the channel's live posts that have no vector of ``model``, or one of another text.

    Args:
        session: An open session.
        channel_pk: The channel's primary key.
        model: The embedding model's name.

    Returns:
        The posts in message-id order.
    """
    stmt = (
        select(MessageRow.id, MessageRow.message_id, DocumentRow.clean_text, DocumentRow.content_hash)
        .join(DocumentRow, DocumentRow.message_pk == MessageRow.id)
        .outerjoin(
            PostEmbeddingRow,
            and_(PostEmbeddingRow.message_pk == MessageRow.id, PostEmbeddingRow.model == model),
        )
        .where(
            MessageRow.channel_id == channel_pk,
            MessageRow.deleted.is_(False),
            or_(
                PostEmbeddingRow.message_pk.is_(None),
                PostEmbeddingRow.content_hash != DocumentRow.content_hash,
            ),
        )
        .order_by(MessageRow.message_id)
    )
    return [PendingPost(int(pk), int(mid), text or "", str(h)) for pk, mid, text, h in session.execute(stmt)]


def store_vectors(
    session: Session,
    *,
    channel_pk: int,
    model: str,
    posts: Sequence[PendingPost],
    vectors: Sequence[Sequence[float]],
) -> None:
    """Insert or replace the vectors of posts for a model.

    Args:
        session: An open session.
        channel_pk: The channel's primary key.
        model: The embedding model's name.
        posts: The posts embedded.
        vectors: One vector per post, in the same order (any length, stored as float32).

    Raises:
        ValueError: ``posts`` and ``vectors`` differ in length.
    """
    if len(posts) != len(vectors):
        msg = f"{len(posts)} posts but {len(vectors)} vectors"
        raise ValueError(msg)
    if not posts:
        return
    now = utcnow()
    import numpy as np

    rows = []
    for post, vector in zip(posts, vectors, strict=True):
        data = np.asarray(vector, dtype=_FLOAT32)
        rows.append(
            {
                "message_pk": post.message_pk,
                "model": model,
                "channel_id": channel_pk,
                "content_hash": post.content_hash,
                "dims": len(data),
                "vector": data.tobytes(),
                "created_at": now,
            }
        )
    stmt = insert_for(session, PostEmbeddingRow)
    stmt = stmt.on_conflict_do_update(
        index_elements=["message_pk", "model"],
        set_={k: getattr(stmt.excluded, k) for k in ("content_hash", "dims", "vector", "created_at")},
    )
    session.execute(stmt, rows)


class StoredVectors:
    """The stored vectors of one channel and model, read by message id (``topics.PostVectors``).

    Args:
        session: A session that stays open while the vectors are read.
        channel_pk: The channel's primary key.
        model: The embedding model's name.
    """

    def __init__(self, session: Session, *, channel_pk: int, model: str) -> None:
        """Bind the reader to a session, a channel and a model."""
        self._session = session
        self._channel_pk = channel_pk
        self.model = model
        self._dims: int | None = None

    @property
    def dims(self) -> int:
        """Length of the model's vectors in this channel (that of the first one stored; 0 for none)."""
        if self._dims is None:
            found = self._session.execute(
                select(PostEmbeddingRow.dims)
                .where(PostEmbeddingRow.channel_id == self._channel_pk, PostEmbeddingRow.model == self.model)
                .limit(1)
            ).scalar()
            self._dims = int(found or 0)
        return self._dims

    def vectors(self, message_ids: Sequence[int]) -> NDArray[np.float32]:
        """Return the vectors of posts, in the order asked.

        Args:
            message_ids: Message ids of the channel.

        Returns:
            An ``(n, dims)`` float32 array; a zero row for a post with no vector (or one of another length).
        """
        import numpy as np

        out = np.zeros((len(message_ids), self.dims), dtype=np.float32)
        where = {mid: i for i, mid in enumerate(message_ids)}
        ids = sorted(where)
        for start in range(0, len(ids), IDS_PER_QUERY):
            stmt = (
                select(MessageRow.message_id, PostEmbeddingRow.vector)
                .join(PostEmbeddingRow, PostEmbeddingRow.message_pk == MessageRow.id)
                .where(
                    MessageRow.channel_id == self._channel_pk,
                    MessageRow.message_id.in_(ids[start : start + IDS_PER_QUERY]),
                    PostEmbeddingRow.model == self.model,
                    PostEmbeddingRow.dims == self.dims,
                )
            )
            for mid, blob in self._session.execute(stmt):
                out[where[int(mid)]] = np.frombuffer(bytes(blob), dtype=_FLOAT32)
        return out
