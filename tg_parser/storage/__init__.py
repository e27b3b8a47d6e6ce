"""Storage: the only package that imports SQLAlchemy.

One module per aggregate, each a set of keyword-only functions over a
:class:`~sqlalchemy.orm.Session` that return dataclasses or domain objects:

* :mod:`~tg_parser.storage.channels`: channels, schedules, cursors;
* :mod:`~tg_parser.storage.messages`: posts, versions, deletions;
* :mod:`~tg_parser.storage.changes`: the change sequence behind incremental deltas;
* :mod:`~tg_parser.storage.documents`: documents and the export/topicize reads;
* :mod:`~tg_parser.storage.export_lines`: ``documents.ndjson`` lines rendered by PostgreSQL;
* :mod:`~tg_parser.storage.topics`: topics and memberships;
* :mod:`~tg_parser.storage.post_finish`: a processed post's writes in one round trip;
* :mod:`~tg_parser.storage.topic_fits`: stored topic models, counters and where posts are placed;
* :mod:`~tg_parser.storage.post_embeddings`: posts' vectors from a provider's embedding model;
* :mod:`~tg_parser.storage.runs`: runs and run items, the only writer of their states;
* :mod:`~tg_parser.storage.dead_letters`: work that gave up;
* :mod:`~tg_parser.storage.usage`: LLM calls and their totals;
* :mod:`~tg_parser.storage.api_keys`: HTTP API keys (hashes);
* :mod:`~tg_parser.storage.webhooks`: webhook subscriptions.

Open a transaction with :func:`session_scope`; :class:`Session` is its type.
"""

from sqlalchemy.orm import Session

from tg_parser.storage import (
    api_keys,
    changes,
    channels,
    comments,
    dead_letters,
    documents,
    export_lines,
    llm_batches,
    messages,
    post_embeddings,
    post_finish,
    runs,
    topic_fits,
    topics,
    usage,
    webhooks,
)
from tg_parser.storage.session import session_scope

__all__ = [
    "Session",
    "api_keys",
    "changes",
    "channels",
    "comments",
    "dead_letters",
    "documents",
    "export_lines",
    "llm_batches",
    "messages",
    "post_embeddings",
    "post_finish",
    "runs",
    "session_scope",
    "topic_fits",
    "topics",
    "usage",
    "webhooks",
]
