"""The provider-embedding block of the topic space: its size, its weight, and its use in a fit."""

from __future__ import annotations

import pickle
from collections.abc import Iterator, Sequence

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.preprocessing import normalize

from tg_parser.topics.build import TopicInput, cluster_posts
from tg_parser.topics.provider_block import MAX_PROVIDER_DIMS, PROVIDER_SHARE, ProviderBlock
from tg_parser.topics.stable import TopicModel
from tg_parser.topics.vectorize import Analyzer, tokenize


class _Source:
    """Posts held in memory (a ``PostSource``)."""

    def __init__(self, items: list[TopicInput]) -> None:
        self.items = items

    def message_ids(self) -> list[int]:
        return [i.message_id for i in self.items]

    def batches(self, *, wanted: object, size: int) -> Iterator[list[tuple[int, str, tuple[str, ...]]]]:
        assert wanted is None
        rows = [(i.message_id, i.text, i.keywords) for i in self.items]
        for start in range(0, len(rows), size):
            yield rows[start : start + size]


class _Vectors:
    """Provider vectors held in memory, by message id (a ``PostVectors``)."""

    def __init__(self, by_id: dict[int, NDArray[np.float32]], model: str = "m") -> None:
        self.by_id = by_id
        self.model = model

    @property
    def dims(self) -> int:
        return len(next(iter(self.by_id.values())))

    def vectors(self, message_ids: Sequence[int]) -> NDArray[np.float32]:
        return np.asarray([self.by_id[m] for m in message_ids], dtype=np.float32).reshape(-1, self.dims)


def _unit_rows(n: int, d: int, seed: int) -> NDArray[np.float32]:
    return np.asarray(normalize(np.random.default_rng(seed).standard_normal((n, d))), dtype=np.float32)


@pytest.mark.parametrize(
    ("input_dims", "dims"), [(1536, MAX_PROVIDER_DIMS), (384, MAX_PROVIDER_DIMS), (100, 100)]
)
def test_block_is_at_most_256_dims(input_dims: int, dims: int) -> None:
    """Long vectors are projected to 256 numbers; short ones are kept as they are."""
    block = ProviderBlock(model="m", input_dims=input_dims, seed=1)
    out = block.transform(_unit_rows(5, input_dims, seed=2))
    assert block.dims == dims
    assert out.shape == (5, dims)


def test_block_is_one_third_of_the_squared_distance() -> None:
    """Next to unit offline rows the block holds 1/3 of each row's squared length; zero rows stay zero."""
    block = ProviderBlock(model="m", input_dims=384, seed=1)
    offline = _unit_rows(6, 40, seed=3)
    raw = _unit_rows(6, 384, seed=4)
    raw[5] = 0.0
    rows = block.combine(offline, raw)
    assert rows.shape == (6, 40 + MAX_PROVIDER_DIMS)
    share = (rows[:5, 40:] ** 2).sum(axis=1) / (rows[:5] ** 2).sum(axis=1)
    np.testing.assert_allclose(share, PROVIDER_SHARE, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(rows[:5], axis=1), 1.0, rtol=1e-5)
    assert not rows[5, 40:].any()
    with pytest.raises(ValueError, match="384 columns"):
        block.transform(_unit_rows(2, 100, seed=5))


def test_projection_is_drawn_from_the_seed_and_not_pickled() -> None:
    """The same seed draws the same projection; a pickled block is small and projects the same."""
    raw = _unit_rows(4, 1536, seed=6)
    block = ProviderBlock(model="m", input_dims=1536, seed=9)
    out = block.transform(raw)
    blob = pickle.dumps(block)
    assert len(blob) < 1000  # the 1536 x 256 matrix is not in it
    np.testing.assert_array_equal(pickle.loads(blob).transform(raw), out)  # noqa: S301 - our own bytes
    assert not np.allclose(ProviderBlock(model="m", input_dims=1536, seed=10).transform(raw), out)


def test_provider_vectors_split_posts_the_offline_space_cannot() -> None:
    """Posts with the same words but two kinds of provider vector form two topics; new posts follow theirs."""
    centres = _unit_rows(2, 384, seed=11)
    rng = np.random.default_rng(12)
    by_id = {m: centres[m % 2] + 0.05 * rng.standard_normal(384) for m in range(1, 41)}
    items = [TopicInput(message_id=m, text="новости рынка нефти сегодня") for m in by_id]
    extra = _Vectors({m: np.asarray(v, dtype=np.float32) for m, v in by_id.items()})
    found = cluster_posts(_Source(items), seed=1, extra=extra)
    assert found.provider is not None
    groups = {tuple(ids) for ids in found.members().values()}
    assert groups == {tuple(range(1, 41, 2)), tuple(range(2, 41, 2))}
    offline = cluster_posts(_Source(items), seed=1)
    assert len(offline.members()) == 1  # the same text: one topic without the block

    numbering = {c: c + 1 for c in found.members()}
    number_of = {m: numbering[c] for c, ms in found.members().items() for m in ms}
    model = TopicModel.from_clustering(found, numbering)
    assert model.embedding_model == "m"
    tokens = tokenize(["новости рынка нефти сегодня"] * 2, analyzer=Analyzer())
    raw = np.asarray([centres[0], centres[1]], dtype=np.float32)
    numbers, _distances = model.assign(tokens, raw=raw)
    assert numbers.tolist() == [number_of[2], number_of[1]]  # centre 0 holds the even ids
    restored = TopicModel.loads(model.dumps())
    assert restored.assign(tokens, raw=raw)[0].tolist() == numbers.tolist()
