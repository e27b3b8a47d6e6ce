"""LangChain loader of a channel's documents: ``pip install 'tg-parser[langchain]'``.

Example::

    from tg_parser.integrations.langchain import TgParserLoader

    for doc in TgParserLoader("out/techdigestdemo").lazy_load():
        doc.id, doc.page_content, doc.metadata["source"]

Each ``documents.ndjson`` record becomes ``langchain_core.documents.Document(
id=record["id"], page_content=record["text"], metadata=record["metadata"])``:
the id survives (a vector store's ``add_documents`` then replaces a post on
re-index instead of adding it twice), and so does every metadata field.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from langchain_core.document_loaders import BaseLoader
from langchain_core.documents import Document

from tg_parser.integrations._records import records


class TgParserLoader(BaseLoader):
    """Load one channel's documents as LangChain ``Document`` objects, one post at a time.

    Give either ``path`` (a ``documents.ndjson`` file, a channel's export
    folder, or the export root with ``channel``) or ``database_url`` and
    ``channel`` (read through the same read model as ``GET /documents``,
    2,000 posts per transaction). Nothing holds the channel in memory unless
    ``load()`` is called.

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
        """Remember the source; nothing is read until :meth:`lazy_load`.

        Args:
            path: Export file or folder.
            channel: Channel key (with ``database_url``, or with the export root as ``path``).
            database_url: The tg_parser database (SQLite or PostgreSQL URL).
        """
        self.path = path
        self.channel = channel
        self.database_url = database_url

    def lazy_load(self) -> Iterator[Document]:
        """Yield one ``Document`` per post, in message-id order, with ``id`` = the document id."""
        for record in records(self.path, channel=self.channel, database_url=self.database_url):
            yield Document(id=record["id"], page_content=record["text"], metadata=record["metadata"])
