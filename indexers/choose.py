"""Policies: which index to build for a space, and how to search it under a metadata filter.

- :func:`choose_index` is a pure function of the table size, the dimension and a memory budget
  (bytes) returning an :class:`~indexers.base.IndexSpec` with an estimated resident size.
- :func:`search_filtered` is the one place deciding how a filtered search runs: ANN indexes lose
  recall when only a small fraction of the rows is allowed (bench/results/search.md, 100k x 768,
  5 % filter, recall@10 of ANN + filter: FAISS HNSW32 efSearch 128 0.75, FAISS IVF-PQ + refine
  0.91, LanceDB IVF_PQ 0.57, LanceDB IVF_HNSW_SQ 0.98), so a selective filter runs an exact
  search over the allowed rows instead (recall 1.0, ~13 ms with numpy at that size); a broad
  one runs the ANN index with the filter as a selector, oversampled, and re-runs exactly any
  query that came back short.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import numpy as np

from embedstore.errors import ConfigError, SearchError, check_choice
from indexers.base import (
    IndexSpec,
    VectorIndex,
    brute_force,
    check_allowed,
    check_k,
    check_queries,
    empty_result,
)

#: Below this many vectors exact search is fast enough (~tens of ms a query at dim 768).
EXACT_MAX_N = 50_000
#: Flat matrices up to this size are searched exactly whatever ``n`` (e.g. many low-dim vectors).
EXACT_SMALL_BYTES = 64 << 20
#: HNSW graph degree used by :func:`choose_index`.
HNSW_M = 32


def exact_bytes(n: int, dim: int) -> int:
    """Resident bytes of an exact index: float32 vectors plus int64 keys."""
    return n * dim * 4 + n * 8


def hnsw_bytes(n: int, dim: int, m: int = HNSW_M) -> int:
    """Resident bytes of ``faiss-hnsw``: flat vectors, keys, ``2m`` base links (int32) a vector,
    ``m`` links on the ``~1/(m-1)`` upper levels, and per-vector offsets/levels (12 bytes)."""
    graph = 4 * 2 * m + math.ceil(4 * m / max(1, m - 1)) + 12
    return exact_bytes(n, dim) + n * graph


def ivfpq_bytes(n: int, dim: int, *, nlist: int, m: int, nbits: int = 8, refine: bool) -> int:
    """Resident bytes of ``faiss-ivfpq``: PQ codes + int64 list ids + keys, coarse and PQ
    centroids, and with ``refine`` the flat float32 vectors."""
    codes = n * math.ceil(m * nbits / 8)
    lists = n * 8 + n * 8  # inverted-list ids + our key array
    centroids = nlist * dim * 4 + dim * (2**nbits) * 4
    return codes + lists + centroids + (n * dim * 4 if refine else 0)


def default_nlist(n: int) -> int:
    """About ``4 * sqrt(n)`` IVF cells, at most ``n // 39`` (FAISS wants >= 39 points a cell)."""
    return max(1, min(int(round(4 * math.sqrt(max(n, 1)))), n // 39))


def _divisors_desc(dim: int, at_most: int) -> list[int]:
    return [m for m in range(min(at_most, dim), 0, -1) if dim % m == 0]


def choose_index(
    n: int,
    dim: int,
    memory_budget: int,
    *,
    exact_max_n: int = EXACT_MAX_N,
    exact_small_bytes: int = EXACT_SMALL_BYTES,
) -> IndexSpec:
    """Pick an index kind and parameters for ``n`` vectors of dimension ``dim``.

    Rules, in order:

    1. ``exact`` when ``n < exact_max_n`` or the flat matrix is at most ``exact_small_bytes``,
       and it fits ``memory_budget``;
    2. ``faiss-hnsw`` (M=32) when flat vectors + graph fit;
    3. ``faiss-ivfpq`` with exact re-ranking (``refine=True``) when flat vectors + PQ codes fit;
    4. ``faiss-ivfpq`` without re-ranking, with the largest PQ ``m`` (bytes a vector; a divisor of
       ``dim``, at most ``dim // 8``) that fits.

    Parameters
    ----------
    n : int
        Number of vectors (>= 0).
    dim : int
        Dimension (>= 1).
    memory_budget : int
        Bytes the index may occupy in memory.

    Returns
    -------
    IndexSpec
        ``kind``, constructor ``params``, ``reason`` and ``est_bytes`` (<= ``memory_budget``).

    Raises
    ------
    ConfigError
        When even the smallest IVF-PQ index does not fit the budget.
    """
    if isinstance(n, bool) or int(n) != n or n < 0:
        raise ConfigError(f"n must be a non-negative integer, got {n!r}")
    if isinstance(dim, bool) or int(dim) != dim or dim < 1:
        raise ConfigError(f"dim must be a positive integer, got {dim!r}")
    if memory_budget <= 0:
        raise ConfigError(f"memory_budget must be positive (bytes), got {memory_budget!r}")
    n, dim, budget = int(n), int(dim), int(memory_budget)
    mib = 1 << 20

    flat = exact_bytes(n, dim)
    if (n < exact_max_n or n * dim * 4 <= exact_small_bytes) and flat <= budget:
        why = (
            f"n={n} < {exact_max_n}"
            if n < exact_max_n
            else f"flat matrix {n * dim * 4 / mib:.1f} MiB is small"
        )
        return IndexSpec("exact", {}, f"{why}: exact search is fast enough and exact", flat)

    hnsw = hnsw_bytes(n, dim, HNSW_M)
    if hnsw <= budget:
        return IndexSpec(
            "faiss-hnsw",
            spec_for("faiss-hnsw", n, dim).params,
            f"flat vectors + HNSW graph ({hnsw / mib:.0f} MiB) fit the budget ({budget / mib:.0f} MiB)",
            hnsw,
        )

    ivf = spec_for("faiss-ivfpq", n, dim)
    nlist, refined = ivf.params["nlist"], ivf.est_bytes
    base = {k: v for k, v in ivf.params.items() if k not in ("m", "refine")}
    if refined <= budget:
        return IndexSpec(
            "faiss-ivfpq",
            ivf.params,
            f"HNSW ({hnsw / mib:.0f} MiB) exceeds the budget ({budget / mib:.0f} MiB); "
            f"IVF-PQ with exact re-ranking ({refined / mib:.0f} MiB) fits",
            refined,
        )
    for m in _divisors_desc(dim, max(1, dim // 8)):
        est = ivfpq_bytes(n, dim, nlist=nlist, m=m, refine=False)
        if est <= budget:
            return IndexSpec(
                "faiss-ivfpq",
                {**base, "m": m, "refine": False},
                f"only compressed codes fit the budget ({budget / mib:.0f} MiB): IVF-PQ m={m} "
                f"({est / mib:.0f} MiB), no re-ranking, approximate scores",
                est,
            )
    smallest = ivfpq_bytes(n, dim, nlist=nlist, m=1, refine=False)
    raise ConfigError(
        f"no index of {n} x {dim} vectors fits memory_budget={budget} bytes",
        hint=f"the smallest (IVF-PQ, 1 byte a vector) needs about {smallest} bytes",
    )


def spec_for(kind: str, n: int, dim: int) -> IndexSpec:
    """Default parameters for a *forced* ``kind`` (``"exact"``, ``"faiss-hnsw"``, ``"faiss-ivfpq"``).

    Same parameter rules as :func:`choose_index` (IVF-PQ with exact re-ranking), without a budget.
    """
    check_choice("kind", kind, ("exact", "faiss-hnsw", "faiss-ivfpq"))
    n, dim = max(0, int(n)), max(1, int(dim))
    if kind == "exact":
        return IndexSpec("exact", {}, "requested", exact_bytes(n, dim))
    if kind == "faiss-hnsw":
        params = {"m": HNSW_M, "ef_construction": 200 if n <= 2_000_000 else 120, "ef_search": 128}
        return IndexSpec("faiss-hnsw", params, "requested", hnsw_bytes(n, dim, HNSW_M))
    nlist = default_nlist(n)
    m = _divisors_desc(dim, max(1, dim // 8))[0]
    params = {"nlist": nlist, "nbits": 8, "nprobe": min(nlist, max(8, nlist // 32)), "k_factor": 8}
    params.update(m=m, refine=True)
    return IndexSpec("faiss-ivfpq", params, "requested", ivfpq_bytes(n, dim, nlist=nlist, m=m, refine=True))


# ----------------------------------------------------------------------------- filtered search

FilterPlan = Literal["unfiltered", "exact", "ann"]


def plan_filtered(
    n_allowed: int | None,
    n_total: int,
    k: int,
    *,
    selective_below: float = 0.2,
    exact_below_count: int = 2048,
) -> FilterPlan:
    """How :func:`search_filtered` runs a search (pure).

    ``"unfiltered"`` without a filter; ``"exact"`` when the filter is selective (allowed fraction
    below ``selective_below``, or at most ``max(exact_below_count, k)`` rows allowed); else ``"ann"``.
    """
    if n_allowed is None:
        return "unfiltered"
    if not 0.0 <= selective_below <= 1.0:
        raise ConfigError(f"selective_below must be in [0, 1], got {selective_below}")
    if n_allowed <= max(exact_below_count, k):
        return "exact"
    if n_total <= 0 or n_allowed < selective_below * n_total:
        return "exact"
    return "ann"


ExactFallback = Callable[[np.ndarray], "np.ndarray | tuple[np.ndarray, np.ndarray]"]


def _exact(index, queries, k, allowed, exact_fallback):
    if exact_fallback is None:
        return index.exact_search(queries, k, allowed=allowed)
    if isinstance(exact_fallback, VectorIndex):
        return exact_fallback.exact_search(queries, k, allowed=allowed)
    got = exact_fallback(allowed)
    if isinstance(got, tuple):
        vectors, keys = got
    else:
        vectors, keys = got, allowed
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    keys = np.asarray(keys, dtype=np.int64)
    if vectors.ndim != 2 or vectors.shape[0] != keys.shape[0] or vectors.shape[1] != queries.shape[1]:
        raise SearchError(
            f"exact_fallback returned vectors of shape {vectors.shape} for {keys.shape[0]} keys "
            f"(queries have dim {queries.shape[1]})"
        )
    return brute_force(queries, vectors, keys, k)


def search_filtered(
    index: VectorIndex,
    queries: np.ndarray,
    k: int,
    allowed: np.ndarray | None,
    *,
    n_total: int | None = None,
    exact_fallback: VectorIndex | ExactFallback | None = None,
    selective_below: float = 0.2,
    exact_below_count: int = 2048,
    oversample: float = 2.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` search restricted to ``allowed`` keys, without the recall loss of filtered ANN.

    Parameters
    ----------
    index : VectorIndex
        The ANN (or exact) index of the space.
    queries : np.ndarray, shape (n_queries, dim)
    k : int
    allowed : np.ndarray of int64 or None
        Keys that may be returned (``None``: no filter).
    n_total : int, optional
        Rows in the space (default ``len(index)``), for the allowed fraction.
    exact_fallback : VectorIndex or callable, optional
        Used for the exact path. An index (e.g. :class:`~indexers.exact.ExactIndex`) is searched
        with ``exact_search``; a callable receives the sorted unique allowed keys and returns their
        vectors ``(m, dim)`` in that order, or a ``(vectors, keys)`` pair. Default: the index's own
        ``exact_search`` (flat FAISS storage, LanceDB flat scan, ...).
    selective_below, exact_below_count : see :func:`plan_filtered`.
    oversample : float
        The ANN path asks for ``ceil(k * oversample)`` hits (at most the allowed count) and keeps
        the best ``k``; queries returning fewer than ``min(k, n_allowed)`` are re-run exactly.

    Returns
    -------
    scores : np.ndarray, float32, shape (n_queries, k)
    keys : np.ndarray, int64, shape (n_queries, k), ``-1`` padded
    """
    k = check_k(k)
    if oversample < 1.0:
        raise ConfigError(f"oversample must be >= 1, got {oversample}")
    allowed = check_allowed(allowed)
    queries = check_queries(queries, getattr(index, "dim", None))
    total = len(index) if n_total is None else int(n_total)
    plan = plan_filtered(
        None if allowed is None else int(allowed.size),
        total,
        k,
        selective_below=selective_below,
        exact_below_count=exact_below_count,
    )
    if plan == "unfiltered" or allowed is None:
        return index.search(queries, k)
    if allowed.size == 0:
        return empty_result(queries.shape[0], k)
    if plan == "exact":
        return _exact(index, queries, k, allowed, exact_fallback)

    # plan "ann" implies allowed.size > k, so k_ann >= k
    k_ann = min(int(allowed.size), max(k, math.ceil(k * oversample)))
    scores, keys = index.search(queries, k_ann, allowed=allowed)
    scores, keys = scores[:, :k], keys[:, :k]
    short = np.flatnonzero((keys >= 0).sum(axis=1) < min(k, int(allowed.size)))
    if short.size:
        s2, k2 = _exact(index, queries[short], k, allowed, exact_fallback)
        scores[short], keys[short] = s2, k2
    return scores, keys
