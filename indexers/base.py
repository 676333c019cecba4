"""The search-backend interface shared by every index in :mod:`indexers`.

Task: k-nearest-neighbour retrieval of embedding vectors identified by stable ``int64`` keys.

Conventions
-----------
- Vectors are ``float32`` arrays of shape ``(n, dim)``; keys are ``int64`` arrays of shape ``(n,)``,
  unique and non-negative (``-1`` is reserved for padding).
- Similarity is the inner product, which is the cosine similarity because the writer stores
  L2-normalised vectors and queries are L2-normalised before searching (a zero query is an
  error). Scores are "higher is more similar".
- ``search`` returns ``(scores, keys)`` of shape ``(n_queries, k)``, best first. Rows with fewer
  than ``k`` candidates (small index, selective ``allowed``) are padded with key ``-1`` and score
  ``-inf``.
- ``allowed`` restricts a search to those keys (unknown keys are ignored).
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from embedstore.errors import ConfigError, SearchError, StoreError

#: Key used to pad result rows that have fewer than ``k`` hits.
PAD_KEY = -1
#: Score used to pad result rows that have fewer than ``k`` hits.
PAD_SCORE = -np.inf
#: File describing a saved index (kind, params, dim, size).
INDEX_CONFIG = "index.json"

_REGISTRY: dict[str, type[VectorIndex]] = {}


@dataclass(frozen=True)
class IndexSpec:
    """What to build: an index ``kind``, its constructor ``params``, why, and its estimated size.

    Attributes
    ----------
    kind : str
        One of ``"exact"``, ``"faiss-hnsw"``, ``"faiss-ivfpq"``.
    params : dict
        Keyword arguments of the index class (JSON-serialisable).
    reason : str
        One human-readable line explaining the choice.
    est_bytes : int
        Estimated resident memory of the built index, bytes.
    """

    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    est_bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def register_index(cls: type[VectorIndex]) -> type[VectorIndex]:
    """Class decorator adding an index class to the registry under ``cls.kind``."""
    kind = cls.kind
    if kind in _REGISTRY and _REGISTRY[kind] is not cls:
        raise ConfigError(f"index kind {kind!r} is already registered")
    _REGISTRY[kind] = cls
    return cls


def registered_indexes() -> dict[str, type[VectorIndex]]:
    """The index classes registered so far, by kind (:mod:`indexers.factory` registers the built-in ones)."""
    return dict(_REGISTRY)


class VectorIndex(ABC):
    """A k-NN index over L2-normalised ``float32`` vectors with ``int64`` keys.

    Subclasses implement :meth:`build` and :meth:`search`; file-backed ones also implement
    :meth:`save` / :meth:`load`, and ones that can give back exact vectors implement
    :meth:`get_vectors` (used for the exact fallback of filtered search).
    """

    kind: ClassVar[str]

    @abstractmethod
    def build(self, vectors: np.ndarray, keys: np.ndarray) -> None:
        """Index ``vectors`` ``(n, dim)`` float32 under ``keys`` ``(n,)`` int64 (replacing any content)."""

    @abstractmethod
    def search(
        self, queries: np.ndarray, k: int, *, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` most similar vectors to each query.

        Parameters
        ----------
        queries : np.ndarray, shape (n_queries, dim) or (dim,)
        k : int
            Number of neighbours (>= 1).
        allowed : np.ndarray of int64, optional
            Only these keys may be returned.

        Returns
        -------
        scores : np.ndarray, float32, shape (n_queries, k)
            Similarity, best first; ``-inf`` in padded slots.
        keys : np.ndarray, int64, shape (n_queries, k)
            Keys of the hits; ``-1`` in padded slots.
        """

    def __len__(self) -> int:
        return int(getattr(self, "ntotal", 0))

    @property
    def params(self) -> dict[str, Any]:
        """Constructor parameters (JSON-serialisable), saved with the index."""
        return {}

    def get_vectors(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact stored vectors of those ``keys`` that are in the index.

        Returns ``(vectors (m, dim) float32, keys (m,) int64)``; unknown keys are dropped.
        """
        raise SearchError(f"the {self.kind!r} index cannot return exact vectors")

    def exact_search(
        self, queries: np.ndarray, k: int, *, allowed: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Brute-force search restricted to ``allowed`` (exact, whatever the index type)."""
        queries = check_queries(queries, getattr(self, "dim", None))
        k = check_k(k)
        vectors, keys = self.get_vectors(np.asarray(check_allowed(allowed)))
        return brute_force(queries, vectors, keys, k)

    def save(self, directory: str | os.PathLike) -> None:
        """Write the index into ``directory`` (created if needed)."""
        raise StoreError(f"the {self.kind!r} index cannot be saved to files")

    @classmethod
    def load(cls, directory: str | os.PathLike) -> VectorIndex:
        """Read an index written by :meth:`save`."""
        raise StoreError(f"the {cls.kind!r} index cannot be loaded from files")


# ----------------------------------------------------------------------------- validation helpers


def check_vectors(vectors: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate build input; returns C-contiguous float32 vectors and int64 keys."""
    vectors = np.asarray(vectors)
    keys = np.asarray(keys)
    if vectors.ndim != 2 or vectors.shape[1] < 1:
        raise ConfigError(f"vectors must have shape (n, dim), got {vectors.shape}")
    if keys.ndim != 1 or keys.shape[0] != vectors.shape[0]:
        raise ConfigError(f"keys must have shape ({vectors.shape[0]},), got {keys.shape}")
    if keys.size and not np.issubdtype(keys.dtype, np.integer):
        raise ConfigError(f"keys must be integers, got dtype {keys.dtype}")
    keys = keys.astype(np.int64, copy=False)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if keys.size:
        if keys.min() < 0:
            raise ConfigError("keys must be non-negative (-1 is reserved for padding)")
        if np.unique(keys).size != keys.size:
            raise ConfigError("keys must be unique")
        if not np.isfinite(vectors).all():
            raise ConfigError("vectors contain NaN or infinite values")
    return vectors, np.ascontiguousarray(keys)


def check_queries(queries: np.ndarray, dim: int | None, *, normalize: bool = True) -> np.ndarray:
    """Validate queries; a single ``(dim,)`` query becomes ``(1, dim)``.

    With ``normalize`` (default) rows are L2-normalised, so inner products with the stored
    (normalised) vectors are cosine similarities, as LanceDB's cosine metric reports them.
    """
    queries = np.asarray(queries, dtype=np.float32)
    if queries.ndim == 1:
        queries = queries[None, :]
    if queries.ndim != 2:
        raise SearchError(f"queries must have shape (n_queries, dim), got {queries.shape}")
    if dim is not None and queries.shape[1] != dim:
        raise SearchError(f"query dimension {queries.shape[1]} does not match the index dimension {dim}")
    if not np.isfinite(queries).all():
        raise SearchError("queries contain NaN or infinite values")
    if normalize and queries.size:
        norms = np.linalg.norm(queries, axis=1, keepdims=True)
        if (norms <= 0).any():
            raise SearchError("a query vector has zero norm (cosine similarity is undefined)")
        queries = queries / norms
    return np.ascontiguousarray(queries, dtype=np.float32)


def check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ConfigError(f"k must be a positive integer, got {k!r}")
    return int(k)


def check_allowed(allowed: np.ndarray | None) -> np.ndarray | None:
    """``None`` or a sorted unique int64 array of keys."""
    if allowed is None:
        return None
    allowed = np.asarray(allowed)
    if allowed.ndim != 1:
        allowed = allowed.ravel()
    if allowed.size and not np.issubdtype(allowed.dtype, np.integer):
        raise SearchError(f"allowed must hold integer keys, got dtype {allowed.dtype}")
    return np.unique(allowed.astype(np.int64, copy=False))


def empty_result(n_queries: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """All-padding result of shape ``(n_queries, k)``."""
    return (
        np.full((n_queries, k), PAD_SCORE, dtype=np.float32),
        np.full((n_queries, k), PAD_KEY, dtype=np.int64),
    )


def brute_force(
    queries: np.ndarray, vectors: np.ndarray, keys: np.ndarray, k: int, *, chunk_bytes: int = 64 << 20
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` by inner product, ties broken by smaller key; padded to ``k``.

    Parameters
    ----------
    queries : np.ndarray, float32, shape (q, dim)
    vectors : np.ndarray, float32, shape (n, dim)
    keys : np.ndarray, int64, shape (n,)
    k : int
    chunk_bytes : int
        Upper bound on the temporary score matrix; queries are processed in chunks.
    """
    nq = queries.shape[0]
    scores_out, keys_out = empty_result(nq, k)
    n = vectors.shape[0]
    if n == 0 or nq == 0:
        return scores_out, keys_out
    kk = min(k, n)
    step = max(1, chunk_bytes // (4 * n))
    for start in range(0, nq, step):
        sims = queries[start : start + step] @ vectors.T  # (c, n)
        if kk < n:
            part = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
        else:
            part = np.broadcast_to(np.arange(n), sims.shape).copy()
        part_scores = np.take_along_axis(sims, part, axis=1)
        part_keys = keys[part]
        # Sort by score descending, then key ascending (deterministic tie-breaking).
        for r in range(part.shape[0]):
            order = np.lexsort((part_keys[r], -part_scores[r]))
            scores_out[start + r, :kk] = part_scores[r, order]
            keys_out[start + r, :kk] = part_keys[r, order]
    return scores_out, keys_out


class KeyMap:
    """Maps stable ``int64`` keys to row positions ``0..n-1`` of an index and back."""

    def __init__(self, keys: np.ndarray):
        self.keys = np.ascontiguousarray(keys, dtype=np.int64)
        self._order = np.argsort(self.keys, kind="stable")
        self._sorted = self.keys[self._order]

    def __len__(self) -> int:
        return int(self.keys.shape[0])

    def rows_of(self, keys: np.ndarray) -> np.ndarray:
        """Row positions of those ``keys`` present (unknown keys dropped), in the order given."""
        keys = np.asarray(keys, dtype=np.int64).ravel()
        if self._sorted.size == 0 or keys.size == 0:
            return np.zeros(0, dtype=np.int64)
        pos = np.clip(np.searchsorted(self._sorted, keys), 0, self._sorted.size - 1)
        found = self._sorted[pos] == keys
        return self._order[pos[found]]

    def keys_of(self, rows: np.ndarray) -> np.ndarray:
        """Keys of row positions; negative rows (faiss padding) map to ``-1``."""
        rows = np.asarray(rows, dtype=np.int64)
        if self.keys.size == 0:
            return np.full(rows.shape, PAD_KEY, dtype=np.int64)
        return np.where(rows >= 0, self.keys[np.maximum(rows, 0)], PAD_KEY)


# ----------------------------------------------------------------------------- atomic files


def sha256_file(path: str | os.PathLike, *, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def tmp_path_for(path: Path) -> Path:
    """A unique temporary name in the same directory (so ``os.replace`` is atomic)."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    tmp = tmp_path_for(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def atomic_save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    path = Path(path)
    tmp = tmp_path_for(path)
    try:
        with open(tmp, "wb") as f:
            np.save(f, array, allow_pickle=False)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def load_npy(path: str | os.PathLike) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise StoreError(f"unreadable array file {path}: {exc}") from exc


def read_index_config(directory: Path, kind: str) -> dict[str, Any]:
    try:
        config = json.loads((directory / INDEX_CONFIG).read_text())
    except (OSError, ValueError) as exc:
        raise StoreError(f"unreadable {INDEX_CONFIG} in {directory}: {exc}") from exc
    if not isinstance(config, dict) or config.get("kind") != kind:
        raise StoreError(f"{directory} does not hold a {kind!r} index")
    return config
