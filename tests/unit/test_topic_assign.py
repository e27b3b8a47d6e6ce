# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).
"""The assignment pass of a sampled fit in worker processes gives what one process gives, bit for bit."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from telethon.extensions import markdown

from tests.conftest import need
from tg_parser.processing.text import clean_text
from tg_parser.topics import assign as assign_module
from tg_parser.topics import build as build_module
from tg_parser.topics.assign import nearest_centres
from tg_parser.topics.build import TopicInput, _ListSource, cluster_posts
from tg_parser.topics.label import TermCounts
from tg_parser.topics.vectorize import Analyzer, tokenize

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tg_parser.topics.build import Clustering

NKTKLN_DIR = Path(__file__).parents[2].parent / "shared" / "data" / "nktkln"
POSTS_PER_CHANNEL = 150


@pytest.fixture(scope="module")
def real_posts() -> list[TopicInput]:
    """150 real posts of each of the 12 nktkln channels (1,800), with a footer-heavy mix of kinds."""
    need(NKTKLN_DIR.is_dir(), f"real channel posts {NKTKLN_DIR} are missing (see shared/data/README.md)")
    items = []
    for n, path in enumerate(sorted(NKTKLN_DIR.glob("*_messages.json"))):
        posts = json.loads(path.read_text(encoding="utf-8"))
        texts = [clean_text(markdown.parse(p.get("text") or "")[0]) for p in posts]
        kept = [t for t in texts if t][:POSTS_PER_CHANNEL]
        items += [TopicInput(n * 1_000_000 + i, t) for i, t in enumerate(kept)]
    return items


def _sampled(
    items: list[TopicInput], monkeypatch: pytest.MonkeyPatch, processes: int, source: type = _ListSource
) -> Clustering:
    monkeypatch.setattr(build_module, "FIT_SAMPLE", 500)
    monkeypatch.setattr(build_module, "ASSIGN_BATCH", 170)  # 11 batches, the last one short
    return cluster_posts(source(sorted(items, key=lambda i: i.message_id)), seed=7, processes=processes)


def test_worker_processes_give_the_topics_of_one_process(
    real_posts: list[TopicInput], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two and three worker processes: the same topic, distance and keywords for every post."""
    one = _sampled(real_posts, monkeypatch, processes=1)
    assert len(one.terms) > 3, "the real mix should split into several topics"
    for processes in (2, 3):
        many = _sampled(real_posts, monkeypatch, processes=processes)
        np.testing.assert_array_equal(many.ids, one.ids)
        np.testing.assert_array_equal(many.labels, one.labels)
        np.testing.assert_array_equal(many.distances, one.distances)
        assert many.terms == one.terms


def test_slices_of_one_post_give_the_same_topics_in_workers(
    real_posts: list[TopicInput], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches larger than a worker's slice, leaving one-post slices: the same result in 1 and 2 processes."""
    monkeypatch.setattr(assign_module, "WORKER_BATCH", 200)
    monkeypatch.setattr(build_module, "FIT_SAMPLE", 500)
    monkeypatch.setattr(build_module, "ASSIGN_BATCH", 601)  # slices of 200, 200, 200 and 1
    one = cluster_posts(_ListSource(sorted(real_posts, key=lambda i: i.message_id)), seed=7, processes=1)
    two = cluster_posts(_ListSource(sorted(real_posts, key=lambda i: i.message_id)), seed=7, processes=2)
    np.testing.assert_array_equal(two.labels, one.labels)
    np.testing.assert_array_equal(two.distances, one.distances)
    assert two.terms == one.terms


class _DeletedDuringRead(_ListSource):
    """Lists one post more than its read returns (a post deleted between the two)."""

    def message_ids(self) -> Sequence[int]:
        return sorted([*super().message_ids(), 999_999_999])


@pytest.mark.parametrize("processes", [1, 2])
def test_a_post_deleted_during_the_read_is_left_out(
    real_posts: list[TopicInput], monkeypatch: pytest.MonkeyPatch, processes: int
) -> None:
    """The listed post that was not read gets no topic; every post read keeps its place."""
    found = _sampled(real_posts, monkeypatch, processes, source=_DeletedDuringRead)
    assert 999_999_999 not in found.ids.tolist()
    assert sorted(found.ids.tolist()) == sorted(p.message_id for p in real_posts)
    assert len(found.labels) == len(found.distances) == len(real_posts)
    assert set(found.labels.tolist()) == set(found.terms)  # every post read is in a fitted topic
    assert (found.distances > 0).all()  # and was placed, not left at the zero of an unread post


def _in_daemon(items: list[TopicInput], out: multiprocessing.Queue[list[int]]) -> None:
    monkeypatch = pytest.MonkeyPatch()
    try:
        out.put(_sampled(items, monkeypatch, processes=2).labels.tolist())
    finally:
        monkeypatch.undo()


def test_a_daemonic_process_assigns_in_itself(real_posts: list[TopicInput]) -> None:
    """A daemonic process (a Celery prefork child) may not start workers: it places the posts itself."""
    items = real_posts[:900]
    context = multiprocessing.get_context("fork")
    out: multiprocessing.Queue[list[int]] = context.Queue()
    child = context.Process(target=_in_daemon, args=(items, out), daemon=True)
    child.start()
    labels = out.get(timeout=300)
    child.join(timeout=60)
    assert child.exitcode == 0
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert labels == _sampled(items, monkeypatch, processes=1).labels.tolist()


def test_merged_term_counts_equal_counts_added_in_one() -> None:
    """Counts made apart and merged give the keywords of counts made in one object."""
    texts = [
        "ракета запуск орбита спутник",
        "рецепт тесто пирог духовка",
        "ракета спутник телескоп луна",
        "пирог сахар мука тесто",
        "мотор колесо бензин трасса",
        "спутник орбита станция",
    ]
    labels = np.array([0, 1, 0, 1, 2, 0], dtype=np.int64)
    analyzer = Analyzer()
    stems = tokenize(texts, analyzer=analyzer).stems
    whole = TermCounts()
    whole.add(stems, labels, boilerplate={"ракет": 1})
    merged = TermCounts()
    for start in (0, 2, 5):
        end = {0: 2, 2: 5, 5: 6}[start]
        part = TermCounts()
        part.add(stems[start:end], labels[start:end], boilerplate={"ракет": 1} if start == 0 else None)
        merged.merge(part)
    assert merged.terms(analyzer=analyzer) == whole.terms(analyzer=analyzer)


def test_nearest_centres_picks_the_closest_centre() -> None:
    """Indices and distances of the nearest centre; a tie goes to the lower index."""
    centres = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], dtype=np.float32)
    vectors = np.array([[0.9, 0.1], [0.1, 0.8], [-1.0, 0.0], [0.0, 0.0]], dtype=np.float32)
    best, distances = nearest_centres(vectors, centres)
    assert best.tolist() == [0, 1, 2, 0]
    np.testing.assert_allclose(distances, [np.hypot(0.1, 0.1), np.hypot(0.1, 0.2), 0.0, 1.0], rtol=1e-6)


def test_term_counts_summed_in_bulk_equal_counts_summed_at_once(
    real_posts: list[TopicInput], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Queued counts summed every few hundred pairs give the keywords of one sum at the end."""
    from tg_parser.topics import label as label_module

    analyzer = Analyzer()
    stems = tokenize([p.text for p in real_posts], analyzer=analyzer).stems
    labels = np.arange(len(stems), dtype=np.int64) % 7

    def counted() -> dict[int, list[str]]:
        counts = TermCounts()
        for start in range(0, len(stems), 100):
            counts.add(stems[start : start + 100], labels[start : start + 100])
        return counts.terms(analyzer=analyzer)

    at_once = counted()
    monkeypatch.setattr(label_module, "_FLUSH_PAIRS", 300)
    assert counted() == at_once
    assert any(at_once.values())
