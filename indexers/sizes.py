"""Resident-size estimates of every index kind, and the measured recall/speed table behind the choice.

Pure arithmetic (no faiss import). :func:`indexers.choose.choose_index` compares these estimates with
a memory budget and states the recall :data:`MEASURED` recorded for the chosen structure.
"""

from __future__ import annotations

import math
from typing import Any

#: HNSW graph degree used by :func:`indexers.choose.choose_index`.
HNSW_M = 32

#: Bytes a dimension of each scalar code / refine copy.
CODE_BYTES = {"none": 0, "sq8": 1, "fp16": 2, "flat": 4}

#: Operating points measured by ``bench/bench_search.py --n 1000000`` (bench/results/search_1m.md):
#: the cheapest ``nprobe`` with recall@10 >= 0.95 against exact search on the synthetic catalogue
#: (1M x 768, 2,000 lists), the recall reached there and queries per CPU-second on one thread.
#: Keyed by ``storage+refine``.
MEASURED: dict[str, dict[str, Any]] = {
    "sq8+fp16": {"nprobe": 16, "recall": 0.963, "qps": 340, "source": "bench/results/search_1m.md"},
    "sq8+none": {"nprobe": 16, "recall": 0.956, "qps": 589, "source": "bench/results/search_1m.md"},
}


def exact_bytes(n: int, dim: int) -> int:
    """Resident bytes of an exact index: float32 vectors plus int64 keys."""
    return n * dim * 4 + n * 8


def hnsw_bytes(n: int, dim: int, m: int = HNSW_M, *, storage: str = "flat") -> int:
    """Resident bytes of ``faiss-hnsw``: vectors (``storage``), keys, ``2m`` base links (int32) a
    vector, ``m`` links on the ``~1/(m-1)`` upper levels, and per-vector offsets/levels (12 bytes)."""
    graph = 4 * 2 * m + math.ceil(4 * m / max(1, m - 1)) + 12
    return n * dim * CODE_BYTES[storage] + n * 8 + n * graph


def ivfpq_bytes(n: int, dim: int, *, nlist: int, m: int, nbits: int = 8, refine: bool) -> int:
    """Resident bytes of ``faiss-ivfpq``: PQ codes + int64 list ids + keys, coarse and PQ
    centroids, and with ``refine`` the flat float32 vectors."""
    codes = n * math.ceil(m * nbits / 8)
    lists = n * 8 + n * 8  # inverted-list ids + our key array
    centroids = nlist * dim * 4 + dim * (2**nbits) * 4
    return codes + lists + centroids + (n * dim * 4 if refine else 0)


def ivf_bytes(n: int, dim: int, *, nlist: int, storage: str = "sq8", refine: str = "fp16") -> int:
    """Resident bytes of ``faiss-ivf``: scalar codes, refine copy, int64 list ids, keys, the
    row -> list map (int32), centroids twice (HNSW quantizer + cached copy) and the quantizer graph."""
    per_vector = dim * (CODE_BYTES[storage] + CODE_BYTES[refine]) + 8 + 8 + 4
    return n * per_vector + nlist * (2 * dim * 4 + 300)


def default_nlist(n: int) -> int:
    """About ``4 * sqrt(n)`` IVF cells, at most ``n // 39`` (FAISS wants >= 39 points a cell)."""
    return max(1, min(int(round(4 * math.sqrt(max(n, 1)))), n // 39))


def ivf_nlist(n: int) -> int:
    """Lists of ``faiss-ivf``: about ``2 * sqrt(n)`` (2,000 at 1M), at most ``n // 39``.

    Fewer, longer lists than IVF-PQ's ``4 * sqrt(n)``: k-means on a 100k sample then has ~50
    points a centroid; with 16 a centroid (4,000 lists) the lists came out 6x imbalanced at 1M.
    """
    return max(1, min(int(round(2 * math.sqrt(max(n, 1)))), n // 39))
