"""The metadata keys of a ``documents.ndjson`` line and the LlamaIndex exclusions every line carries.

Written once here for both renderers of the line (``export.writer.document_line``
in Python, ``storage.export_lines`` in PostgreSQL) and docs/export-format.md.
"""

from __future__ import annotations

METADATA_KEYS = (
    "source", "channel", "channel_id", "message_id", "date", "edited", "author", "reply_to", "forwarded_from",
    "media_type", "media", "views", "forwards", "reactions", "forum_topic", "links", "hashtags", "mentions",
    "language", "summary", "keywords", "topic_id",
    "topic_label", "processor", "model",
)  # fmt: skip
"""The keys of every line's ``metadata``, in order."""

EMBED_METADATA_KEYS = ("channel", "date", "topic_label")
"""Metadata keys LlamaIndex puts into the text it embeds; every other key is listed in the line's
``excluded_embed_metadata_keys`` (a ``BaseNode`` field, so ``Document.model_validate(line)`` takes it)."""

LLM_METADATA_KEYS = ("source", "channel", "date", "author", "topic_label")
"""Metadata keys LlamaIndex shows the LLM; the others are in ``excluded_llm_metadata_keys``.

Without these lists a LlamaIndex splitter counts the whole metadata (summary,
keywords, links: hundreds of tokens) against each chunk and fails when it is
longer than ``chunk_size`` (``SentenceSplitter.split_text_metadata_aware``);
the nodes still carry the full metadata."""

OPTIONAL_METADATA_KEYS = ("thread_of", "comments")
"""Keys only some lines have, last in ``metadata``: a comment's post, a folded thread's comment count."""

_ALL_METADATA_KEYS = (*METADATA_KEYS, *OPTIONAL_METADATA_KEYS)
EXCLUDED_EMBED_METADATA_KEYS = [k for k in _ALL_METADATA_KEYS if k not in EMBED_METADATA_KEYS]
EXCLUDED_LLM_METADATA_KEYS = [k for k in _ALL_METADATA_KEYS if k not in LLM_METADATA_KEYS]
