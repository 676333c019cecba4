"""Approximate inner-product search with FAISS: HNSW (flat storage) and IVF-PQ with exact re-ranking.

Task: fast k-NN over L2-normalised float32 vectors (inner product = cosine similarity).

Conventions
-----------
- FAISS indexes the rows ``0..n-1``; the stable ``int64`` keys live beside it in ``keys.npy`` and a
  :class:`~indexers.base.KeyMap` translates both ways. (This is what ``IndexIDMap2`` does, but it
  also works through ``IndexRefineFlat``, whose search does not pass an ``IDSelector`` from an
  enclosing ``IndexIDMap2`` on to the IVF-PQ stage, so filters would be silently ignored.)
- ``allowed`` becomes an ``IDSelectorBatch`` over rows in the FAISS ``SearchParameters``; ANN
  search with a selective filter loses recall. Use :func:`indexers.choose.search_filtered`, which
  switches to exact search over the allowed rows when the filter is selective.
- Files: ``index.json`` (kind, params, dim, ntotal), ``index.faiss`` (``faiss.write_index``) and
  ``keys.npy``. No pickle.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from embedstore.errors import ConfigError, SearchError, StoreError, check_choice
from indexers.base import (
    INDEX_CONFIG,
    KeyMap,
    VectorIndex,
    atomic_save_npy,
    atomic_write_json,
    check_allowed,
    check_k,
    check_queries,
    check_vectors,
    empty_result,
    load_npy,
    read_index_config,
    register_index,
    tmp_path_for,
)

INDEX_FILE = "index.faiss"


def _faiss():
    import faiss

    return faiss


def largest_divisor_at_most(dim: int, m: int) -> int:
    """The largest divisor of ``dim`` that is ``<= m`` (PQ needs ``dim % m == 0``)."""
    m = max(1, min(int(m), int(dim)))
    while dim % m:
        m -= 1
    return m


class _FaissIndex(VectorIndex):
    """Common key mapping, filtering, padding and persistence of the FAISS backends."""

    def __init__(self) -> None:
        self._index: Any = None  # a faiss.Index once built or loaded (faiss has no type stubs)
        self._map = KeyMap(np.zeros(0, dtype=np.int64))
        self.dim: int | None = None

    @property
    def ntotal(self) -> int:
        return len(self._map)

    @property
    def keys(self) -> np.ndarray:
        return self._map.keys

    @property
    def faiss_index(self):
        """The underlying ``faiss.Index`` (rows ``0..n-1``)."""
        return self._index

    # subclasses: create the faiss index, train/add; search with a row selector.
    def _create(self, vectors: np.ndarray):
        raise NotImplementedError

    def _search(self, queries: np.ndarray, k: int, sel) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def build(self, vectors: np.ndarray, keys: np.ndarray) -> None:
        vectors, keys = check_vectors(vectors, keys)
        self.dim = int(vectors.shape[1])
        self._map = KeyMap(keys)
        self._index = self._create(vectors)

    def search(
        self, queries: np.ndarray, k: int, *, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        if self._index is None:
            raise SearchError("the index is empty: call build() first")
        queries = check_queries(queries, self.dim)
        k = check_k(k)
        allowed = check_allowed(allowed)
        sel = None
        if allowed is not None:
            rows = self._map.rows_of(allowed)
            if rows.size == 0:
                return empty_result(queries.shape[0], k)
            if rows.size < self.ntotal:
                sel = _faiss().IDSelectorBatch(rows)
        if self.ntotal == 0 or queries.shape[0] == 0:
            return empty_result(queries.shape[0], k)
        dist, rows = self._search(queries, k, sel)
        keys = self._map.keys_of(rows)
        scores = np.where(keys >= 0, dist, -np.inf).astype(np.float32)
        return scores, keys

    def get_vectors(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._index is None:
            raise SearchError("the index is empty: call build() first")
        rows = self._map.rows_of(keys)
        if rows.size == 0:
            return np.zeros((0, self.dim or 0), dtype=np.float32), np.zeros(0, dtype=np.int64)
        return self._reconstruct(rows), self._map.keys[rows]

    def _reconstruct(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(self._index.reconstruct_batch(rows), dtype=np.float32)

    def _config(self) -> dict[str, Any]:
        return {"kind": self.kind, "params": self.params, "dim": self.dim, "ntotal": self.ntotal}

    def save(self, directory: str | os.PathLike) -> None:
        if self._index is None:
            raise StoreError("cannot save an index that was never built")
        faiss = _faiss()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / INDEX_FILE
        tmp = tmp_path_for(target)
        try:
            faiss.write_index(self._index, str(tmp))
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                tmp.unlink()
        atomic_save_npy(directory / "keys.npy", self._map.keys)
        atomic_write_json(directory / INDEX_CONFIG, self._config())

    @classmethod
    def load(cls, directory: str | os.PathLike):
        faiss = _faiss()
        directory = Path(directory)
        config = read_index_config(directory, cls.kind)
        try:
            index = faiss.read_index(str(directory / INDEX_FILE))
        except (RuntimeError, OSError) as exc:
            raise StoreError(f"unreadable FAISS index in {directory}: {exc}") from exc
        keys = load_npy(directory / "keys.npy")
        if keys.ndim != 1 or index.ntotal != keys.shape[0] or config.get("ntotal") != keys.shape[0]:
            raise StoreError(f"FAISS index and keys.npy in {directory} disagree on the number of vectors")
        if config.get("dim") != index.d:
            raise StoreError(
                f"FAISS index in {directory} has dim {index.d}, index.json says {config.get('dim')}"
            )
        obj = cls(**config.get("params", {}))
        obj._index = index
        obj._map = KeyMap(keys.astype(np.int64, copy=False))
        obj.dim = int(index.d)
        obj._after_load(config)
        return obj

    def _after_load(self, config: dict[str, Any]) -> None:
        pass


@register_index
class FaissHNSWIndex(_FaissIndex):
    """HNSW graph over flat (uncompressed) vectors, inner product.

    Parameters
    ----------
    m : int
        Graph degree (``2 * m`` links on the base layer). Memory is about ``dim * 4 + m * 8`` bytes a vector.
    ef_construction : int
        Candidate list size while building (quality vs. build time).
    ef_search : int
        Candidate list size while searching (recall vs. latency); at least ``k`` is used.
        With ``ef_search >= n`` the search visits the whole (connected) graph, so it is exact.
    storage : {"flat", "sq8", "fp16"}
        Vectors in the graph: float32, 8-bit or 16-bit scalar-quantised (``dim``, ``dim / 4`` or
        ``dim / 2`` of the flat bytes; quantised distances are cheaper, so building is faster).
    """

    kind: ClassVar[str] = "faiss-hnsw"

    def __init__(
        self, *, m: int = 32, ef_construction: int = 200, ef_search: int = 128, storage: str = "flat"
    ):
        super().__init__()
        check_choice("storage", storage, ("flat", "sq8", "fp16"))
        self.storage = storage
        for name, v in (("m", m), ("ef_construction", ef_construction), ("ef_search", ef_search)):
            if int(v) < 1:
                raise ConfigError(f"{name} must be >= 1, got {v}")
        self.m, self.ef_construction, self.ef_search = int(m), int(ef_construction), int(ef_search)

    @property
    def params(self) -> dict[str, Any]:
        return {
            "m": self.m,
            "ef_construction": self.ef_construction,
            "ef_search": self.ef_search,
            "storage": self.storage,
        }

    def _create(self, vectors: np.ndarray):
        faiss = _faiss()
        d = vectors.shape[1]
        if self.storage == "flat":
            index = faiss.IndexHNSWFlat(d, self.m, faiss.METRIC_INNER_PRODUCT)
        else:
            qtype = faiss.ScalarQuantizer.QT_8bit if self.storage == "sq8" else faiss.ScalarQuantizer.QT_fp16
            index = faiss.IndexHNSWSQ(d, qtype, self.m, faiss.METRIC_INNER_PRODUCT)
            if vectors.shape[0]:
                index.train(vectors[:: max(1, vectors.shape[0] // 100_000)])
        index.hnsw.efConstruction = self.ef_construction
        for s in range(0, vectors.shape[0], 100_000):
            index.add(np.ascontiguousarray(vectors[s : s + 100_000], dtype=np.float32))
        return index

    def _search(self, queries: np.ndarray, k: int, sel, *, ef_search: int | None = None):
        faiss = _faiss()
        params = faiss.SearchParametersHNSW()
        params.efSearch = max(int(ef_search or self.ef_search), k)
        if sel is not None:
            params.sel = sel
        return self._index.search(queries, k, params=params)

    def search_ef(
        self, queries: np.ndarray, k: int, *, ef_search: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`search` with a one-off ``ef_search``."""
        old = self.ef_search
        self.ef_search = int(ef_search)
        try:
            return self.search(queries, k, allowed=allowed)
        finally:
            self.ef_search = old


@register_index
class FaissIVFPQIndex(_FaissIndex):
    """Inverted file + product quantisation, optionally re-ranked exactly (``IndexRefineFlat``).

    Parameters
    ----------
    nlist : int
        Number of IVF cells (about ``4 * sqrt(n)``); lowered to ``n // 39`` on small inputs.
    m : int, optional
        PQ sub-quantisers (bytes a code with ``nbits=8``); lowered to a divisor of ``dim``.
        Default: ``dim // 8``.
    nbits : int
        Bits per sub-quantiser code.
    nprobe : int
        Cells visited per query.
    refine : bool
        Keep flat vectors and re-rank ``k * k_factor`` PQ candidates exactly (``IndexRefineFlat``).
        Costs ``dim * 4`` bytes a vector; without it scores are PQ approximations.
    k_factor : int
        Re-ranking oversampling.
    min_train : int
        Below ``max(min_train, 4 * 2**nbits)`` vectors PQ cannot be trained: a flat index is built
        instead (exact; ``effective == "flat"``).
    max_train : int
        Vectors sampled for training (FAISS subsamples further).
    seed : int
        Sampling seed for the training set.
    """

    kind: ClassVar[str] = "faiss-ivfpq"

    def __init__(
        self,
        *,
        nlist: int = 1024,
        m: int | None = None,
        nbits: int = 8,
        nprobe: int = 32,
        refine: bool = True,
        k_factor: int = 8,
        min_train: int = 1024,
        max_train: int = 200_000,
        seed: int = 0,
    ):
        super().__init__()
        if int(nlist) < 1 or int(nprobe) < 1 or int(k_factor) < 1:
            raise ConfigError("nlist, nprobe and k_factor must be >= 1")
        if not 1 <= int(nbits) <= 16:
            raise ConfigError(f"nbits must be in 1..16, got {nbits}")
        if m is not None and int(m) < 1:
            raise ConfigError(f"m must be >= 1, got {m}")
        self.nlist, self.nbits, self.nprobe = int(nlist), int(nbits), int(nprobe)
        self.m = None if m is None else int(m)
        self.refine, self.k_factor = bool(refine), int(k_factor)
        self.min_train, self.max_train, self.seed = int(min_train), int(max_train), int(seed)
        #: What was actually built: {"structure": "ivfpq"|"flat", "nlist", "m"}.
        self.effective: dict[str, Any] = {}

    @property
    def params(self) -> dict[str, Any]:
        return {
            "nlist": self.nlist,
            "m": self.m,
            "nbits": self.nbits,
            "nprobe": self.nprobe,
            "refine": self.refine,
            "k_factor": self.k_factor,
            "min_train": self.min_train,
            "max_train": self.max_train,
            "seed": self.seed,
        }

    def _create(self, vectors: np.ndarray):
        faiss = _faiss()
        n, d = vectors.shape
        if n < max(self.min_train, 4 * 2**self.nbits):
            self.effective = {"structure": "flat"}
            index = faiss.IndexFlatIP(d)
            if n:
                index.add(vectors)
            return index
        nlist = max(1, min(self.nlist, n // 39))
        m = largest_divisor_at_most(d, self.m if self.m is not None else max(1, d // 8))
        self.effective = {"structure": "ivfpq", "nlist": nlist, "m": m}
        quantizer = faiss.IndexFlatIP(d)
        ivf = faiss.IndexIVFPQ(quantizer, d, nlist, m, self.nbits, faiss.METRIC_INNER_PRODUCT)
        ivf.cp.seed = self.seed
        ivf.pq.cp.seed = self.seed
        index = faiss.IndexRefineFlat(ivf) if self.refine else ivf
        if self.refine:
            index.k_factor = float(self.k_factor)
        train = vectors
        if n > self.max_train:
            rng = np.random.default_rng(self.seed)
            train = vectors[np.sort(rng.choice(n, self.max_train, replace=False))]
        index.train(train)
        index.add(vectors)
        # Keep Python references so SWIG does not free the sub-indexes.
        self._parts = (quantizer, ivf)
        return index

    def _search(self, queries: np.ndarray, k: int, sel, *, nprobe: int | None = None):
        faiss = _faiss()
        structure = self.effective.get("structure", "ivfpq")
        if structure == "flat":
            params = faiss.SearchParameters()
            if sel is not None:
                params.sel = sel
            return self._index.search(queries, k, params=params)
        base = faiss.SearchParametersIVF()
        base.nprobe = int(nprobe or self.nprobe)
        if sel is not None:
            base.sel = sel
        if not self.refine:
            return self._index.search(queries, k, params=base)
        params = faiss.IndexRefineSearchParameters()
        params.k_factor = float(self.k_factor)
        params.base_index_params = base
        return self._index.search(queries, k, params=params)

    def _reconstruct(self, rows: np.ndarray) -> np.ndarray:
        if self.effective.get("structure") == "ivfpq" and not self.refine:
            raise SearchError(
                "an IVF-PQ index without refinement holds only compressed codes, not exact vectors",
                hint="pass exact_fallback= (a loader of stored vectors) to search_filtered",
            )
        return super()._reconstruct(rows)

    def _config(self) -> dict[str, Any]:
        config = super()._config()
        config["effective"] = self.effective
        return config

    def _after_load(self, config: dict[str, Any]) -> None:
        effective = config.get("effective")
        if not isinstance(effective, dict) or effective.get("structure") not in ("flat", "ivfpq"):
            raise StoreError("index.json of the IVF-PQ index lacks its 'effective' structure")
        self.effective = effective
