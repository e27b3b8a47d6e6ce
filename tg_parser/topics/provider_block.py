# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).
"""Provider embeddings as an extra block of the topic space, next to the offline blocks.

A provider's vectors (1536 numbers for OpenAI ``text-embedding-3-small``,
3072 for Gemini ``gemini-embedding-001``, 768 for Ollama ``nomic-embed-text``)
are reduced by a seeded Gaussian random projection to at most
:data:`MAX_PROVIDER_DIMS` numbers, which keeps distances within a small factor
(Johnson and Lindenstrauss, 1984; Dasgupta and Gupta, "An elementary proof of a
theorem of Johnson and Lindenstrauss", 2003; scikit-learn's
``GaussianRandomProjection`` draws the same matrix, N(0, 1/d)), L2-normalised,
and weighted by :data:`PROVIDER_WEIGHT`. The row of a post is then the offline
row (unit length: LSA + navec, :mod:`tg_parser.topics.vectorize`) and this block
side by side, normalised again.

With embeddings off, nothing here runs and the offline space is unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np
from sklearn.preprocessing import normalize

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import NDArray

__all__ = ["MAX_PROVIDER_DIMS", "PROVIDER_SHARE", "PROVIDER_WEIGHT", "PostVectors", "ProviderBlock"]

MAX_PROVIDER_DIMS = 256
"""Dimensions the provider block keeps at most (more only slow k-means; the offline space has ~400)."""
PROVIDER_SHARE = 1.0 / 3.0
"""Share of a row's squared length, and so of the squared distance between two posts, given to the block."""
PROVIDER_WEIGHT = math.sqrt(PROVIDER_SHARE / (1.0 - PROVIDER_SHARE))
"""Factor on the unit provider block next to the unit offline row: ``w**2 / (1 + w**2)`` is
:data:`PROVIDER_SHARE` (``w = 1/sqrt(2)``)."""


class PostVectors(Protocol):
    """A channel's stored provider vectors, read by message id (``storage.post_embeddings.StoredVectors``)."""

    model: str

    @property
    def dims(self) -> int:
        """Length of the vectors (0 when none is stored)."""
        ...

    def vectors(self, message_ids: Sequence[int]) -> NDArray[np.float32]:
        """Return ``(n, dims)`` float32 vectors in the order asked, a zero row for a post with none."""
        ...


@dataclass(frozen=True)
class ProviderBlock:
    """The fitted provider block: which model, its input length and the projection's seed.

    Attributes:
        model: The embedding model whose vectors the block takes.
        input_dims: Length of that model's vectors.
        seed: Random state of the projection (the topic seed).
    """

    model: str
    input_dims: int
    seed: int
    _matrix: NDArray[np.float32] | None = field(default=None, repr=False, compare=False)

    @property
    def dims(self) -> int:
        """Length of the block: ``min(input_dims, MAX_PROVIDER_DIMS)``."""
        return min(self.input_dims, MAX_PROVIDER_DIMS)

    def matrix(self) -> NDArray[np.float32] | None:
        """Return the ``(input_dims, dims)`` projection, or ``None`` when the vectors are short enough.

        Drawn from the seed, so it is never stored (a loaded block draws it again, the same).
        """
        if self.input_dims <= MAX_PROVIDER_DIMS:
            return None
        if self._matrix is None:
            rng = np.random.default_rng(self.seed)
            drawn = rng.standard_normal((self.input_dims, MAX_PROVIDER_DIMS)) / math.sqrt(MAX_PROVIDER_DIMS)
            object.__setattr__(self, "_matrix", np.ascontiguousarray(drawn, dtype=np.float32))
        return self._matrix

    def transform(self, raw: NDArray[np.float32]) -> NDArray[np.float32]:
        """Project, normalise and weight raw provider vectors.

        Args:
            raw: ``(n, input_dims)`` vectors; zero rows stay zero.

        Returns:
            ``(n, dims)`` float32 rows of length :data:`PROVIDER_WEIGHT` (or zero).

        Raises:
            ValueError: ``raw`` has another number of columns.
        """
        if raw.ndim != 2 or raw.shape[1] != self.input_dims:  # noqa: PLR2004 - a matrix
            msg = f"provider vectors have shape {raw.shape}, the block takes {self.input_dims} columns"
            raise ValueError(msg)
        matrix = self.matrix()
        reduced = raw if matrix is None else raw @ matrix
        return np.asarray(PROVIDER_WEIGHT * normalize(reduced), dtype=np.float32)

    def combine(self, offline: NDArray[np.float32], raw: NDArray[np.float32]) -> NDArray[np.float32]:
        """Put the offline rows and this block side by side and normalise the rows (zero rows stay zero).

        Args:
            offline: ``(n, d)`` offline rows (unit or zero; ``d`` may be 0).
            raw: ``(n, input_dims)`` provider vectors of the same posts.

        Returns:
            ``(n, d + dims)`` float32 rows.
        """
        return np.asarray(normalize(np.hstack([offline, self.transform(raw)])), dtype=np.float32)

    def __getstate__(self) -> dict[str, object]:
        """Pickle without the projection (it is drawn again from the seed)."""
        return {"model": self.model, "input_dims": self.input_dims, "seed": self.seed, "_matrix": None}

    def __setstate__(self, state: dict[str, object]) -> None:
        """Restore a pickled block (frozen: attributes are set through ``object``)."""
        for key, value in state.items():
            object.__setattr__(self, key, value)
