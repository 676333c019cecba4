"""Policies: which index to build for a space, and how to search it under a metadata filter.

- :func:`choose_index` is a pure function of the table size, the dimension and a memory budget
  (bytes) returning an :class:`~indexers.base.IndexSpec` with an estimated resident size and the
  recall measured for that structure (:data:`indexers.sizes.MEASURED`, bench/results/search_1m.md).
- :func:`search_filtered` is the one place deciding how a filtered search runs
  (:func:`plan_filtered`; measured in bench/results/filtered.md): few allowed rows -> exact scan
  over them; a ``faiss-ivf`` index -> filter-aware IVF probing (only lists holding allowed rows,
  nearest first, until they hold :data:`FILTER_COVER` allowed rows); another ANN index -> exact
  scan when the filter is selective, else ANN with the filter as a selector, oversampled. Any
  query that comes back short is re-run exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

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
from indexers.faiss_ivf import FaissIVFIndex, IVFFilter
from indexers.sizes import (
    HNSW_M,
    MEASURED,
    default_nlist,
    exact_bytes,
    hnsw_bytes,
    ivf_bytes,
    ivf_nlist,
    ivfpq_bytes,
)

__all__ = [
    "choose_index",
    "default_nlist",
    "exact_bytes",
    "hnsw_bytes",
    "ivf_bytes",
    "ivfpq_bytes",
    "parse_bytes",
    "plan_filtered",
    "prepare_filter",
    "search_filtered",
    "spec_for",
]

#: Below this many vectors exact search is fast enough (~tens of ms a query at dim 768).
EXACT_MAX_N = 50_000
#: Flat matrices up to this size are searched exactly whatever ``n`` (e.g. many low-dim vectors).
EXACT_SMALL_BYTES = 64 << 20
#: Filtered search scans exactly when at most this many rows are allowed.
EXACT_BELOW_COUNT = 2048
#: Filter-aware IVF probes lists until they hold this many allowed rows (bench/results/filtered.md).
FILTER_COVER = 10_000

_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9}
_UNITS.update({"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "t": 10**12, "tb": 10**12, "tib": 1 << 40})


def parse_bytes(text: str | int) -> int:
    """``"2GB"`` -> 2_000_000_000, ``"1.5GiB"`` -> 1_610_612_736, ``123`` -> 123 (bytes)."""
    if isinstance(text, int):
        return text
    s = str(text).strip().lower().replace(" ", "")
    num = s.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = s[len(num) :]
    try:
        value = float(num)
    except ValueError:
        value = -1.0
    if unit not in _UNITS or value <= 0:
        raise ConfigError(f"invalid size {text!r}", hint="e.g. 2GB, 1.5GiB, 800MB or a number of bytes")
    return int(value * _UNITS[unit])


def _measured(storage: str, refine: str) -> str:
    m = MEASURED[f"{storage}+{refine}"]
    return (
        f"expected recall@10 {m['recall']:.3f} at nprobe {m['nprobe']} (measured at 1M x 768, {m['source']})"
    )


def choose_index(
    n: int,
    dim: int,
    memory_budget: int,
    *,
    exact_max_n: int = EXACT_MAX_N,
    exact_small_bytes: int = EXACT_SMALL_BYTES,
) -> IndexSpec:
    """Pick an index kind and parameters for ``n`` vectors of dimension ``dim``.

    Rules, in order (first that fits ``memory_budget``):

    1. ``exact`` when ``n < exact_max_n`` or the flat matrix is at most ``exact_small_bytes``;
    2. ``faiss-ivf``, SQ8 codes + fp16 re-ranking copy (3 bytes a dimension): the fastest at
       recall@10 >= 0.95 in bench/results/search_1m.md and quick to build;
    3. ``faiss-ivf``, SQ8 codes only (1 byte a dimension), scores approximate;
    4. ``faiss-ivfpq`` without re-ranking, with the largest PQ ``m`` (bytes a vector; a divisor of
       ``dim``, at most ``dim // 8``) that fits.

    Parameters
    ----------
    n : int
        Number of vectors (>= 0).
    dim : int
        Dimension (>= 1).
    memory_budget : int
        Bytes the index may occupy in memory (see :func:`parse_bytes`).

    Returns
    -------
    IndexSpec
        ``kind``, constructor ``params``, ``reason`` (with the expected recall and where it was
        measured) and ``est_bytes`` (<= ``memory_budget``).

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
        return IndexSpec("exact", {}, f"{why}: exact search is fast enough and exact (recall 1.0)", flat)

    nlist = ivf_nlist(n)
    for refine in ("fp16", "none"):
        est = ivf_bytes(n, dim, nlist=nlist, storage="sq8", refine=refine)
        if est <= budget and n >= 39:
            what = "SQ8 codes + fp16 re-ranking" if refine == "fp16" else "SQ8 codes only, approximate scores"
            params = {"nlist": nlist, "storage": "sq8", "refine": refine}
            params["nprobe"] = int(MEASURED[f"sq8+{refine}"]["nprobe"])
            return IndexSpec(
                "faiss-ivf",
                params,
                f"IVF with {what} ({est / mib:.0f} MiB) fits the budget ({budget / mib:.0f} MiB); "
                + _measured("sq8", refine),
                est,
            )

    ivf = spec_for("faiss-ivfpq", n, dim)
    base = {k: v for k, v in ivf.params.items() if k not in ("m", "refine")}
    for m in _divisors_desc(dim, max(1, dim // 8)):
        est = ivfpq_bytes(n, dim, nlist=ivf.params["nlist"], m=m, refine=False)
        if est <= budget:
            return IndexSpec(
                "faiss-ivfpq",
                {**base, "m": m, "refine": False},
                f"only PQ codes fit the budget ({budget / mib:.0f} MiB): IVF-PQ m={m} "
                f"({est / mib:.0f} MiB), no re-ranking, approximate scores; recall not measured "
                "at this size (below the SQ8 row of bench/results/search_1m.md)",
                est,
            )
    smallest = ivfpq_bytes(n, dim, nlist=ivf.params["nlist"], m=1, refine=False)
    raise ConfigError(
        f"no index of {n} x {dim} vectors fits memory_budget={budget} bytes",
        hint=f"the smallest (IVF-PQ, 1 byte a vector) needs about {smallest} bytes",
    )


def _divisors_desc(dim: int, at_most: int) -> list[int]:
    return [m for m in range(min(at_most, dim), 0, -1) if dim % m == 0]


def spec_for(kind: str, n: int, dim: int) -> IndexSpec:
    """Default parameters for a *forced* ``kind`` (``"exact"``, ``"faiss-hnsw"``, ``"faiss-ivfpq"``,
    ``"faiss-ivf"``), without a budget."""
    check_choice("kind", kind, ("exact", "faiss-hnsw", "faiss-ivfpq", "faiss-ivf"))
    n, dim = max(0, int(n)), max(1, int(dim))
    if kind == "exact":
        return IndexSpec("exact", {}, "requested", exact_bytes(n, dim))
    if kind == "faiss-hnsw":
        params: dict[str, Any] = {
            "m": HNSW_M,
            "ef_construction": 200 if n <= 2_000_000 else 120,
            "ef_search": 128,
        }
        return IndexSpec("faiss-hnsw", params, "requested", hnsw_bytes(n, dim, HNSW_M))
    nlist = default_nlist(n)
    if kind == "faiss-ivf":
        nlist = ivf_nlist(n)
        params = {
            "nlist": nlist,
            "storage": "sq8",
            "refine": "fp16",
            "nprobe": MEASURED["sq8+fp16"]["nprobe"],
        }
        return IndexSpec("faiss-ivf", params, "requested", ivf_bytes(n, dim, nlist=nlist))
    m = _divisors_desc(dim, max(1, dim // 8))[0]
    params = {"nlist": nlist, "nbits": 8, "nprobe": min(nlist, max(8, nlist // 32)), "k_factor": 8}
    params.update(m=m, refine=True)
    return IndexSpec("faiss-ivfpq", params, "requested", ivfpq_bytes(n, dim, nlist=nlist, m=m, refine=True))


# ----------------------------------------------------------------------------- filtered search

FilterPlan = Literal["unfiltered", "exact", "ivf-filter", "ann"]


def plan_filtered(
    n_allowed: int | None,
    n_total: int,
    k: int,
    *,
    filter_aware: bool = False,
    selective_below: float = 0.2,
    exact_below_count: int = EXACT_BELOW_COUNT,
) -> FilterPlan:
    """How :func:`search_filtered` runs a search (pure).

    1. ``"unfiltered"`` without a filter;
    2. ``"exact"`` when at most ``max(exact_below_count, k)`` rows are allowed (a scan of a few
       thousand rows takes ~1-2 ms and is exact);
    3. ``"ivf-filter"`` for a filter-aware index (``faiss-ivf``) at any other selectivity;
    4. otherwise ``"exact"`` when the allowed fraction is below ``selective_below`` (ANN with a
       selector loses recall there), else ``"ann"`` (ANN with the filter as selector).
    """
    if n_allowed is None:
        return "unfiltered"
    if not 0.0 <= selective_below <= 1.0:
        raise ConfigError(f"selective_below must be in [0, 1], got {selective_below}")
    if n_allowed <= max(exact_below_count, k):
        return "exact"
    if filter_aware:
        return "ivf-filter"
    if n_total <= 0 or n_allowed < selective_below * n_total:
        return "exact"
    return "ann"


ExactFallback = Callable[[np.ndarray], "np.ndarray | tuple[np.ndarray, np.ndarray]"]


def prepare_filter(
    index: VectorIndex, allowed: np.ndarray | IVFFilter | None, *, exact_below_count: int = EXACT_BELOW_COUNT
) -> np.ndarray | IVFFilter | None:
    """``allowed`` keys in the form :func:`search_filtered` uses fastest with ``index``.

    For a ``faiss-ivf`` index (with more than :data:`EXACT_BELOW_COUNT` allowed rows) an
    :class:`~indexers.faiss_ivf.IVFFilter` (rows, per-list counts, bitmap), worth reusing across
    calls with the same filter; otherwise the sorted unique keys.
    """
    if allowed is None or isinstance(allowed, IVFFilter):
        return allowed
    keys = check_allowed(allowed)
    if isinstance(index, FaissIVFIndex) and keys is not None and keys.size > exact_below_count:
        return index.prepare_filter(keys)
    return keys


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
    allowed: np.ndarray | IVFFilter | None,
    *,
    n_total: int | None = None,
    exact_fallback: VectorIndex | ExactFallback | None = None,
    selective_below: float = 0.2,
    exact_below_count: int = EXACT_BELOW_COUNT,
    cover: int = FILTER_COVER,
    oversample: float = 2.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` search restricted to ``allowed`` keys, fast and without the recall loss of filtered ANN.

    Parameters
    ----------
    index : VectorIndex
        The ANN (or exact) index of the space.
    queries : np.ndarray, shape (n_queries, dim)
    k : int
    allowed : np.ndarray of int64, IVFFilter or None
        Keys that may be returned (``None``: no filter); :func:`prepare_filter` output is accepted
        (prepare once, search many times).
    n_total : int, optional
        Rows in the space (default ``len(index)``), for the allowed fraction.
    exact_fallback : VectorIndex or callable, optional
        Used for the exact path. An index (e.g. :class:`~indexers.exact.ExactIndex`) is searched
        with ``exact_search``; a callable receives the sorted unique allowed keys and returns their
        vectors ``(m, dim)`` in that order, or a ``(vectors, keys)`` pair. Default: the index's own
        ``exact_search`` (flat FAISS storage, the fp16 copy of ``faiss-ivf``, LanceDB flat scan, ...).
    selective_below, exact_below_count : see :func:`plan_filtered`.
    cover : int
        Filter-aware IVF: allowed rows the probed lists must hold (:data:`FILTER_COVER`).
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
    flt = allowed if isinstance(allowed, IVFFilter) else None
    keys_allowed = flt.keys if flt is not None else check_allowed(allowed)  # type: ignore[arg-type]
    queries = check_queries(queries, getattr(index, "dim", None))
    total = len(index) if n_total is None else int(n_total)
    plan = plan_filtered(
        None if keys_allowed is None else int(keys_allowed.size),
        total,
        k,
        filter_aware=isinstance(index, FaissIVFIndex),
        selective_below=selective_below,
        exact_below_count=exact_below_count,
    )
    if plan == "unfiltered" or keys_allowed is None:
        return index.search(queries, k)
    if keys_allowed.size == 0:
        return empty_result(queries.shape[0], k)
    if plan == "exact":
        return _exact(index, queries, k, keys_allowed, exact_fallback)
    if plan == "ivf-filter":
        assert isinstance(index, FaissIVFIndex)
        flt = flt if flt is not None else index.prepare_filter(keys_allowed)
        scores, keys = index.search_prepared(queries, k, flt, cover=cover)
    else:  # plan "ann" implies allowed.size > k, so k_ann >= k
        k_ann = min(int(keys_allowed.size), max(k, math.ceil(k * oversample)))
        scores, keys = index.search(queries, k_ann, allowed=keys_allowed)
        scores, keys = scores[:, :k], keys[:, :k]
    short = np.flatnonzero((keys >= 0).sum(axis=1) < min(k, int(keys_allowed.size)))
    if short.size:
        s2, k2 = _exact(index, queries[short], k, keys_allowed, exact_fallback)
        scores[short], keys[short] = s2, k2
    return scores, keys
