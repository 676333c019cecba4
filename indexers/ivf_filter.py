"""Filter-aware IVF probing for :class:`indexers.faiss_ivf.FaissIVFIndex` (the rule is in :mod:`indexers.choose`).

An :class:`IVFFilter` is prepared once per filter: the allowed rows, a bitmap ``IDSelector`` over them and how
many allowed rows each inverted list holds. :func:`search_prepared` ranks only the lists holding allowed rows by
exact centroid similarity and probes them nearest first until they hold ``cover`` allowed rows and number at
least ``nprobe / selectivity`` (capped at the lists holding ``2 * cover`` allowed rows, so the cost is bounded);
rows outside the filter are skipped by the bitmap before any distance is computed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from indexers.base import check_allowed, check_k, check_queries, empty_result


def _faiss():
    import faiss

    return faiss


@dataclass
class IVFFilter:
    """An ``allowed`` set prepared for :meth:`FaissIVFIndex.search_prepared` (reuse it across queries).

    Attributes
    ----------
    keys : np.ndarray, int64
        Sorted allowed keys present in the index.
    rows : np.ndarray, int64
        Their row positions (sorted).
    list_counts : np.ndarray, int64, shape (nlist,)
        Allowed rows held by each inverted list.
    selector : faiss.IDSelectorBitmap
        Row bitmap (``bitmap`` keeps its memory alive).
    """

    keys: np.ndarray
    rows: np.ndarray
    list_counts: np.ndarray
    bitmap: np.ndarray
    selector: Any

    @property
    def size(self) -> int:
        return int(self.rows.size)


def prepare(index: Any, allowed: np.ndarray) -> IVFFilter:
    """Rows, per-list counts and a bitmap selector of ``allowed`` keys (unknown keys dropped)."""
    faiss = _faiss()
    checked = check_allowed(allowed)
    rows = np.sort(index._map.rows_of(checked if checked is not None else np.zeros(0, np.int64)))
    n = index.ntotal
    mask = np.zeros(n, dtype=bool)
    mask[rows] = True
    bitmap = np.packbits(mask, bitorder="little")
    sel = faiss.IDSelectorBitmap(n, faiss.swig_ptr(bitmap))
    counts = np.bincount(index.list_of_row[rows], minlength=index.centroids.shape[0]).astype(np.int64)
    return IVFFilter(index._map.keys[rows], rows, counts, bitmap, sel)


def search_prepared(
    index: Any,
    queries: np.ndarray,
    k: int,
    flt: IVFFilter,
    *,
    cover: int | None = None,
    nprobe: int | None = None,
    max_lists: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Filter-aware search: probe only lists holding allowed rows, nearest first.

    Parameters
    ----------
    queries : np.ndarray, shape (n_queries, dim)
    k : int
    flt : IVFFilter
        From :func:`prepare`.
    cover : int, optional
        Stop adding lists once they hold this many allowed rows (default ``10_000``,
        :data:`indexers.choose.FILTER_COVER`).
    nprobe : int, optional
        At least this many lists (with allowed rows) are probed (default: the index's).
    max_lists : int, optional
        Upper bound on probed lists (default: all lists with allowed rows).

    Returns
    -------
    scores, keys : as :meth:`indexers.base.VectorIndex.search`.
    """
    queries = check_queries(queries, index.dim)
    k = check_k(k)
    nq = queries.shape[0]
    if flt.size == 0 or nq == 0:
        return empty_result(nq, k)
    cover = 10_000 if cover is None else int(cover)
    nprobe = index.nprobe if nprobe is None else int(nprobe)
    n_useful = int(np.count_nonzero(flt.list_counts))
    sims = queries @ index.centroids.T  # (nq, nlist)
    sims[:, flt.list_counts == 0] = -np.inf
    order = np.argsort(-sims, axis=1)
    cum = np.cumsum(flt.list_counts[order], axis=1)
    need = (cum < min(cover, flt.size)).sum(axis=1) + 1
    # nprobe / selectivity lists (the allowed neighbours of a broad filter lie further out),
    # but never more than the lists holding 2 * cover allowed rows (bounded cost)
    wide = math.ceil(nprobe * index.ntotal / flt.size)
    need2 = (cum < min(2 * cover, flt.size)).sum(axis=1) + 1
    n_lists = np.clip(np.maximum(need, np.minimum(wide, need2)), 1, n_useful)
    if max_lists is not None:
        n_lists = np.minimum(n_lists, int(max_lists))
    width = int(n_lists.max())
    assign = order[:, :width].astype(np.int64)
    dis = np.take_along_axis(sims, order[:, :width], axis=1).astype(np.float32)
    assign[np.arange(width)[None, :] >= n_lists[:, None]] = -1
    assign = np.ascontiguousarray(assign)
    dis = np.ascontiguousarray(dis)
    dist, rows = index._scan(queries, k, assign, dis, flt.selector, n_allowed=flt.size)
    keys = index._map.keys_of(rows)
    return np.where(keys >= 0, dist, -np.inf).astype(np.float32), keys
