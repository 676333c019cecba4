"""Exact (brute-force) inner-product search with numpy.

Task: the reference k-NN backend. Every answer is exact; ``allowed`` restricts the search to those
keys exactly, so it is also the fallback used for selective filters. Memory is ``n * dim * 4`` bytes
plus 8 bytes a key. Files: ``index.json``, ``vectors.npy``, ``keys.npy`` (no pickle).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from embedstore.errors import SearchError, StoreError
from indexers.base import (
    INDEX_CONFIG,
    KeyMap,
    VectorIndex,
    atomic_save_npy,
    atomic_write_json,
    brute_force,
    check_allowed,
    check_k,
    check_queries,
    check_vectors,
    empty_result,
    load_npy,
    read_index_config,
    register_index,
)


@register_index
class ExactIndex(VectorIndex):
    """Brute-force search over all (or the ``allowed``) vectors.

    Examples
    --------
    >>> idx = ExactIndex()
    >>> idx.build(vectors, keys)                      # doctest: +SKIP
    >>> scores, hits = idx.search(queries, 10, allowed=some_keys)  # doctest: +SKIP
    """

    kind: ClassVar[str] = "exact"

    def __init__(self) -> None:
        self._vectors = np.zeros((0, 0), dtype=np.float32)
        self._map = KeyMap(np.zeros(0, dtype=np.int64))
        self.dim: int | None = None

    @property
    def ntotal(self) -> int:
        return len(self._map)

    @property
    def params(self) -> dict[str, Any]:
        return {}

    @property
    def keys(self) -> np.ndarray:
        return self._map.keys

    def build(self, vectors: np.ndarray, keys: np.ndarray) -> None:
        vectors, keys = check_vectors(vectors, keys)
        self._vectors, self._map = vectors, KeyMap(keys)
        self.dim = int(vectors.shape[1])

    def get_vectors(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = self._map.rows_of(keys)
        return self._vectors[rows], self._map.keys[rows]

    def search(
        self, queries: np.ndarray, k: int, *, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        self._check_built()
        queries = check_queries(queries, self.dim)
        k = check_k(k)
        allowed = check_allowed(allowed)
        if allowed is None:
            return brute_force(queries, self._vectors, self._map.keys, k)
        if allowed.size == 0:
            return empty_result(queries.shape[0], k)
        rows = np.sort(self._map.rows_of(allowed))  # sorted rows: sequential gather
        return brute_force(queries, self._vectors[rows], self._map.keys[rows], k)

    def exact_search(
        self, queries: np.ndarray, k: int, *, allowed: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        return self.search(queries, k, allowed=allowed)

    def save(self, directory: str | os.PathLike) -> None:
        self._check_built()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        atomic_save_npy(directory / "vectors.npy", self._vectors)
        atomic_save_npy(directory / "keys.npy", self._map.keys)
        atomic_write_json(
            directory / INDEX_CONFIG,
            {"kind": self.kind, "params": self.params, "dim": self.dim, "ntotal": self.ntotal},
        )

    @classmethod
    def load(cls, directory: str | os.PathLike) -> ExactIndex:
        directory = Path(directory)
        config = read_index_config(directory, cls.kind)
        vectors = load_npy(directory / "vectors.npy")
        keys = load_npy(directory / "keys.npy")
        if vectors.ndim != 2 or keys.shape != (vectors.shape[0],) or config.get("ntotal") != keys.shape[0]:
            raise StoreError(f"inconsistent exact index files in {directory}")
        idx = cls()
        idx.build(vectors, keys)
        return idx

    def _check_built(self) -> None:
        if self.dim is None:
            raise SearchError("the index is empty: call build() first")
