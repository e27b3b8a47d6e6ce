"""LlamaIndex reader of a channel's documents: ``pip install 'tg-parser[llama-index]'``.

Example::

    from tg_parser.integrations.llama_index import TgParserReader

    docs = TgParserReader("out/techdigestdemo").lazy_load_data()

Each ``documents.ndjson`` record becomes ``llama_index.core.Document(id_=record["id"],
text=record["text"], metadata=record["metadata"])``, so ``doc.id_`` (and the
``ref_doc_id`` of every node a splitter makes from it) is the document id and
re-indexing replaces a post in the docstore instead of adding it again.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from llama_index.core.readers.base import BaseReader
from llama_index.core.schema import Document

from tg_parser.integrations._records import records


class TgParserReader(BaseReader):
    """Read one channel's documents as LlamaIndex ``Document`` objects, one post at a time.

    The source is given as for the LangChain loader: ``path`` (a
    ``documents.ndjson`` file, a channel's export folder, or the export root
    with ``channel``), or ``database_url`` and ``channel``.

    Raises (when iterated):
        InputError: Neither or both sources, no such file, or a malformed line
            (the message names the file and line number).
        NotFoundError: Unknown channel in the database.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        channel: str | None = None,
        database_url: str | None = None,
    ) -> None:
        """Remember the source; nothing is read until :meth:`lazy_load_data`.

        Args:
            path: Export file or folder.
            channel: Channel key (with ``database_url``, or with the export root as ``path``).
            database_url: The tg_parser database (SQLite or PostgreSQL URL).
        """
        self.path = path
        self.channel = channel
        self.database_url = database_url

    def lazy_load_data(self, *args: Any, **load_kwargs: Any) -> Iterator[Document]:  # noqa: ARG002
        """Yield one ``Document`` per post, in message-id order, with ``id_`` = the document id."""
        for record in records(self.path, channel=self.channel, database_url=self.database_url):
            yield Document(id_=record["id"], text=record["text"], metadata=record["metadata"])
