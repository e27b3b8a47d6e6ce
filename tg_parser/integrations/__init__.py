"""Loaders for RAG frameworks over tg_parser's documents (optional extras).

* ``pip install 'tg-parser[langchain]'``: :class:`tg_parser.integrations.langchain.TgParserLoader`,
  a LangChain ``BaseLoader``.
* ``pip install 'tg-parser[llama-index]'``: :class:`tg_parser.integrations.llama_index.TgParserReader`,
  a LlamaIndex ``BaseReader``.

Both read one channel's documents, from an export folder (``documents.ndjson``)
or straight from the database, one post at a time, and keep each document's id
(``<channel key>:<message id>``) and its whole ``metadata`` (docs/export-format.md).
This package imports neither framework: each module imports its own.
"""
