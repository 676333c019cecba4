"""Ranking over a space: load its vectors (cached per table version), get its index for a backend, and return the
top-k rows under a metadata filter with the policy of :func:`indexers.search_filtered` (selective filters fall back
to exact search over the allowed subset, so no recall is lost).

FAISS indexes are a derived cache in ``<store>/_indexes/<space id>/`` (for a remote store, in a local cache folder
keyed by the store's URI: :func:`embedstore.store.remote_cache_dir`), verified against the table version, row
count and a fingerprint of the row keys before use.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

import numpy as np

from embedstore.search.results import Hit, hits_from_keys
from embedstore.store import EmbeddingSet, Space, Store
from indexers import (
    LanceIndex,
    VectorIndex,
    choose_index,
    load_or_build,
    make_index,
    search_filtered,
    spec_for,
)

Backend = Literal["auto", "exact", "faiss", "faiss-hnsw", "faiss-ivfpq", "faiss-ivf", "lance"]
BACKENDS = ("auto", "exact", "faiss", "faiss-hnsw", "faiss-ivfpq", "faiss-ivf", "lance")
#: Memory budget for choosing an index kind, bytes.
DEFAULT_MEMORY_BUDGET = 4 << 30

_LOADED: dict[tuple[str, str, int], EmbeddingSet] = {}


def normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero): (..., d) -> (..., d) float32."""
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(n, 1e-12)


def load_space(store: Store, space: Space) -> EmbeddingSet:
    """Vectors and metadata of a space, cached per table version (a changed table is re-read)."""
    version = store.table_version(space.table_name)
    key = (store.uri, space.space_id, version)
    if key not in _LOADED:
        for old in [k for k in _LOADED if k[:2] == key[:2]]:
            del _LOADED[old]
        _LOADED[key] = store.load(space, with_metadata=True)
    return _LOADED[key]


def index_dir(store: Store, space: Space) -> Path | None:
    """Folder of a space's cached FAISS indexes (for a remote store: in the local cache, keyed by its URI)."""
    return store.index_dir(space.space_id)


def keys_fingerprint(keys: np.ndarray) -> str:
    """16 hex digits identifying a set of row keys (order-independent)."""
    return hashlib.sha256(np.sort(np.asarray(keys, np.int64)).tobytes()).hexdigest()[:16]


def get_index(
    store: Store, space: Space, es: EmbeddingSet, backend: str, *, memory_budget: int = DEFAULT_MEMORY_BUDGET
) -> tuple[VectorIndex, str]:
    """The search index of a space for a backend.

    Parameters
    ----------
    store : Store
    space : Space
    es : EmbeddingSet
        The space's vectors (:func:`load_space`).
    backend : str
        One of :data:`BACKENDS`.
    memory_budget : int
        Bytes available to the index, for ``auto`` and ``faiss`` (:func:`indexers.choose_index`).

    Returns
    -------
    index : VectorIndex
    used : str
        The kind used, with the cache status for FAISS (e.g. ``hnsw (built)``).
    """
    n, dim = es.vectors.shape
    if backend == "lance":
        table = store.table(space.table_name)
        lance = LanceIndex(table)
        if not table.list_indices():
            lance.build()
        return lance, "lance"
    if backend == "auto":
        spec = choose_index(n, dim, memory_budget)
    elif backend == "exact":
        spec = spec_for("exact", n, dim)
    elif backend == "faiss":
        spec = choose_index(n, dim, memory_budget)
        if spec.kind == "exact":
            spec = spec_for("faiss-hnsw", n, dim)
    else:
        spec = spec_for(backend, n, dim)
    d = index_dir(store, space)
    if spec.kind == "exact" or d is None:
        idx = make_index(spec)
        idx.build(normalise(es.vectors), es.keys)
        return idx, spec.kind
    source = {
        "table": space.table_name,
        "table_version": store.table_version(space.table_name),
        "row_count": n,
        "fingerprint": keys_fingerprint(es.keys),
    }
    idx, status = load_or_build(d, spec, source=source, loader=lambda: (normalise(es.vectors), es.keys))
    return idx, f"{spec.kind} ({status})"


def vectors_for_keys(es: EmbeddingSet, keys: np.ndarray) -> np.ndarray:
    """Normalised vectors of the rows with these keys: (len(keys), dim) float32."""
    pos = es.key_positions()
    rows = np.array([pos[int(k)] for k in keys], dtype=np.int64)
    return normalise(es.vectors[rows])


def ranked(
    store: Store,
    space: Space,
    es: EmbeddingSet,
    queries: np.ndarray,
    k: int,
    allowed: np.ndarray | None,
    backend: str,
    *,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Top-k rows for each query under a filter.

    Parameters
    ----------
    store, space, es
        The space and its loaded vectors.
    queries : np.ndarray
        (q, dim) raw query vectors (normalised here).
    k : int
    allowed : np.ndarray or None
        Row keys allowed by the filter (``None``: all).
    backend : str

    Returns
    -------
    scores : np.ndarray
        (q, k) cosine similarities, ``-inf`` padding.
    keys : np.ndarray
        (q, k) int64 row keys, ``-1`` padding.
    used : str
        The index that answered (``empty`` when nothing could match).
    """
    q = normalise(queries)
    if len(es) == 0 or (allowed is not None and len(allowed) == 0):
        return np.full((len(q), k), -np.inf), np.full((len(q), k), -1, np.int64), "empty"
    idx, used = get_index(store, space, es, backend, memory_budget=memory_budget)
    scores, keys = search_filtered(
        idx, q, k, allowed, n_total=len(es), exact_fallback=lambda ks: vectors_for_keys(es, ks)
    )
    return scores, keys, used


def best_window_per_recording(
    store: Store,
    space: Space,
    es: EmbeddingSet,
    qvec: np.ndarray,
    k: int,
    allowed: np.ndarray | None,
    backend: str,
    *,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> tuple[list[Hit], str]:
    """The k recordings with the best-matching window: window hits are oversampled until k recordings are found.

    Returns
    -------
    hits : list of Hit
        One per recording, best first.
    used : str
        The index that answered.
    """
    n = len(es)
    kk = min(n, max(4 * k, 32))
    n_allowed = n if allowed is None else len(allowed)
    while True:
        scores, keys, used = ranked(
            store, space, es, qvec[None], kk, allowed, backend, memory_budget=memory_budget
        )
        best: dict[str, Hit] = {}
        for h in hits_from_keys(es, scores[0], keys[0]):
            best.setdefault(h.recording_id, h)
        if len(best) >= k or kk >= n_allowed:
            return list(best.values())[:k], used
        kk = min(n_allowed, kk * 4)
