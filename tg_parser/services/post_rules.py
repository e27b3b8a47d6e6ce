"""The rules of the process step for one post, shared by the one-post path and embedded batches.

:func:`tg_parser.services.pipeline.process_message` (cluster and embedded,
one post) and :func:`tg_parser.services.process_batch.process_batch`
(embedded offline, 64 posts) decide alike what a post comes to and build its
document alike: here, once.
"""

from __future__ import annotations

from tg_parser.domain import Document
from tg_parser.processing.base import ProcessingResult, Processor
from tg_parser.storage.messages import StoredMessage


def post_outcome(stored: StoredMessage, *, current: bool) -> str:
    """Return what processing a post comes to before any processor call.

    Args:
        stored: The post.
        current: Whether its document is current (same content hash,
            processor, model and prompt version).

    Returns:
        ``skipped`` (deleted or without text), ``current`` (nothing to do) or
        ``processed`` (the processor must be called).
    """
    if stored.message.deleted or not stored.message.text.strip():
        return "skipped"
    return "current" if current else "processed"


def post_document(stored: StoredMessage, *, processor: Processor, result: ProcessingResult) -> Document:
    """Return the document of a post from its processor's result."""
    return Document(
        channel_key=stored.channel.key,
        message_id=stored.message.message_id,
        content_hash=stored.content_hash,
        processor=processor.name,
        model=processor.model,
        prompt_version=processor.prompt_version,
        clean_text=result.clean_text,
        analysis=result.analysis,
    )
