"""The export loads in the real LangChain and LlamaIndex as docs/export-format.md promises; our loaders too.

Installed from the ``langchain`` and ``llama-index`` extras (the dev extras
include them) and langchain-community's ``JSONLoader``. A real export runs
through the pipeline once per database; every promise is checked on its lines.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tg_parser.config import load_settings
from tg_parser.errors import InputError, NotFoundError
from tg_parser.services import channels as channels_service
from tg_parser.services.embedded import run_channel_embedded

pytestmark = pytest.mark.integration

EXPORT = "trantor_library_public_channel.json"
POSTS = 160


def _export(db_url: str, shared_data: Path, tmp_path: Path) -> tuple[str, Path]:
    data = json.loads((shared_data / "exports" / EXPORT).read_text(encoding="utf-8"))
    data["messages"] = data["messages"][:POSTS]
    src = tmp_path / "result.json"
    src.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "out"
    key = channels_service.register_export(database_url=db_url, path=src, username="trantor_library")[0].key
    run_channel_embedded(settings=load_settings(database_url=db_url, export_dir=str(out)), channel=key)
    return key, out / key / "documents.ndjson"


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n")[:-1]]


@pytest.fixture(params=["postgresql", "sqlite"])
def exported(request: pytest.FixtureRequest, shared_data: Path, tmp_path: Path) -> tuple[str, str, Path]:
    """(database url, channel key, documents.ndjson) of a real export run through the pipeline."""
    url = request.getfixturevalue("pg_url" if request.param == "postgresql" else "sqlite_url")
    key, path = _export(url, shared_data, tmp_path)
    return url, key, path


def test_every_promise_on_a_real_export(exported: tuple[str, str, Path]) -> None:
    """One pipeline run per database, then every loader on its output (the pipeline is the slow part)."""
    check_llama_index(exported)
    check_json_loader(exported)
    check_our_loaders(exported)


def check_llama_index(exported: tuple[str, str, Path]) -> None:
    """``Document`` and ``TextNode.model_validate(line)`` keep ``id_``; split nodes keep the metadata."""
    from llama_index.core import Document
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.core.schema import TextNode

    _url, key, path = exported
    records = _records(path)
    assert len(records) > 100
    docs = [Document.model_validate(r) for r in records]
    for doc, record in zip(docs, records, strict=True):
        assert doc.id_ == doc.doc_id == record["id"] == record["id_"]
        assert doc.text == record["text"]
        assert doc.metadata == record["metadata"]
        assert doc.metadata["source"] == f"https://t.me/trantor_library/{record['metadata']['message_id']}"
        assert TextNode.model_validate(record).id_ == record["id"]
    # Re-reading the file gives the same ids: a docstore upsert replaces, never duplicates.
    assert [Document.model_validate(r).id_ for r in _records(path)] == [d.id_ for d in docs]
    by_id = {r["id"]: r for r in records}
    # The default splitter, and small chunks (the line's metadata exclusions keep the
    # metadata counted per chunk short, so long posts split instead of failing).
    for splitter in (SentenceSplitter(), SentenceSplitter(chunk_size=128, chunk_overlap=10)):
        nodes = splitter.get_nodes_from_documents(docs)
        assert len(nodes) >= len(docs)
        for node in nodes:
            assert node.ref_doc_id in by_id
            assert node.metadata == by_id[node.ref_doc_id]["metadata"]  # the permalink and all the rest
        assert {n.ref_doc_id for n in nodes} == set(by_id)
    assert len(nodes) > len(docs)  # long posts were split
    assert all(r["id"].startswith(f"{key}:") for r in records)


def check_json_loader(exported: tuple[str, str, Path]) -> None:
    """The documented ``JSONLoader`` call: text as page_content, metadata intact, our id in metadata["id"]."""
    from langchain_community.document_loaders import JSONLoader

    _url, _key, path = exported
    records = _records(path)
    loader = JSONLoader(
        file_path=path,
        jq_schema=".",
        content_key="text",
        json_lines=True,
        metadata_func=lambda record, _meta: {**record["metadata"], "id": record["id"]},
    )
    docs = list(loader.lazy_load())
    assert [d.page_content for d in docs] == [r["text"] for r in records]
    assert [d.metadata for d in docs] == [{**r["metadata"], "id": r["id"]} for r in records]
    assert all(d.id is None for d in docs)  # JSONLoader never sets Document.id (docs/export-format.md)


def check_our_loaders(exported: tuple[str, str, Path]) -> None:
    """TgParserLoader and TgParserReader give the file's records, from the export folder or the database."""
    from langchain_core.document_loaders import BaseLoader
    from llama_index.core.readers.base import BaseReader

    from tg_parser.integrations.langchain import TgParserLoader
    from tg_parser.integrations.llama_index import TgParserReader

    url, key, path = exported
    records = _records(path)
    want = [(r["id"], r["text"], r["metadata"]) for r in records]
    for loader in (
        TgParserLoader(path.parent),
        TgParserLoader(path.parent.parent, channel=key),
        TgParserLoader(path),
        TgParserLoader(database_url=url, channel=key),
    ):
        assert isinstance(loader, BaseLoader)
        stream = loader.lazy_load()
        first = next(stream)  # a generator: one post at a time
        got = [first, *stream]
        assert [(d.id, d.page_content, d.metadata) for d in got] == want
    for reader in (TgParserReader(path.parent), TgParserReader(database_url=url, channel=key)):
        assert isinstance(reader, BaseReader)
        docs = list(reader.lazy_load_data())
        assert [(d.id_, d.text, d.metadata) for d in docs] == want
        assert [d.id_ for d in reader.load_data()] == [r["id"] for r in records]


def test_loaders_name_what_is_wrong(sqlite_url: str, tmp_path: Path) -> None:
    """A missing folder, a bad line (file and line number) and an unknown channel are clear errors."""
    from tg_parser.integrations.langchain import TgParserLoader
    from tg_parser.integrations.llama_index import TgParserReader

    url = sqlite_url
    path = tmp_path / "good.ndjson"
    path.write_text('{"id":"c1:1","id_":"c1:1","text":"a post","metadata":{"source":"https://t.me/c/1/1"}}\n')
    with pytest.raises(InputError, match=r"no documents\.ndjson"):
        list(TgParserLoader(tmp_path / "nowhere").lazy_load())
    bad = tmp_path / "bad.ndjson"
    bad.write_text(path.read_text(encoding="utf-8").split("\n")[0] + "\n{not json\n", encoding="utf-8")
    loaded = TgParserReader(bad).lazy_load_data()
    assert next(iter(loaded)).id_  # the good line first
    with pytest.raises(InputError, match=r"bad\.ndjson:2: not JSON"):
        list(TgParserReader(bad).lazy_load_data())
    with pytest.raises(NotFoundError):
        list(TgParserLoader(database_url=url, channel="no_such_channel").lazy_load())
    with pytest.raises(InputError, match="either an export path or a database_url"):
        list(TgParserLoader().lazy_load())
