"""Search backends for embedstore behind one small interface (:class:`VectorIndex`).

- :class:`ExactIndex` (numpy brute force), :class:`FaissIVFIndex` (IVF-SQ8 + fp16 re-ranking, the
  default above 50k vectors), :class:`FaissHNSWIndex`, :class:`FaissIVFPQIndex` (FAISS, persisted as
  a verified cache by :func:`load_or_build`), :class:`LanceIndex` (LanceDB's own index inside the table);
- :func:`choose_index` picks a kind for a size and a memory budget;
- :func:`search_filtered` runs metadata-filtered searches (exact scan of few rows, filter-aware IVF
  probing otherwise; docs/search.md).

Scores are cosine similarities of L2-normalised vectors (inner products), higher = more similar;
result rows shorter than ``k`` are padded with key ``-1`` and score ``-inf``.
faiss and lancedb are imported only when an index is built, loaded or searched.
"""

from indexers.base import (
    PAD_KEY,
    PAD_SCORE,
    IndexSpec,
    VectorIndex,
    brute_force,
)
from indexers.cache import check_cache, load_or_build, read_manifest
from indexers.choose import choose_index, plan_filtered, search_filtered, spec_for
from indexers.exact import ExactIndex
from indexers.factory import index_class, load_index, make_index
from indexers.faiss_index import FaissHNSWIndex, FaissIVFPQIndex
from indexers.faiss_ivf import FaissIVFIndex
from indexers.ivf_filter import IVFFilter
from indexers.lance_index import LanceIndex

__all__ = [
    "PAD_KEY",
    "PAD_SCORE",
    "ExactIndex",
    "FaissHNSWIndex",
    "FaissIVFIndex",
    "FaissIVFPQIndex",
    "IVFFilter",
    "IndexSpec",
    "LanceIndex",
    "VectorIndex",
    "brute_force",
    "check_cache",
    "choose_index",
    "index_class",
    "load_index",
    "load_or_build",
    "make_index",
    "plan_filtered",
    "read_manifest",
    "search_filtered",
    "spec_for",
]
