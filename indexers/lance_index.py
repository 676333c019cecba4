"""Search with LanceDB's own vector index on an embedding table.

Task: k-NN on a LanceDB table without a separate cache: the ANN index lives in the table.

Conventions
-----------
- The table has a stable ``int64`` key column (``row_key``) and a ``FixedSizeList<float32>`` vector
  column (L2-normalised by the writer).
- LanceDB reports cosine *distance* ``d``; scores here are similarities ``1 - d`` (higher = better).
- ``allowed`` becomes a ``row_key IN (...)`` *prefilter*, applied before the vector search.
- Tables with fewer than ``min_rows_for_index`` rows get no index: LanceDB then searches them flat
  (exact). Rows appended after :meth:`LanceIndex.build` are searched flat until the next build.
- With ``index_type="IVF_HNSW_SQ"`` (default) filtered recall holds up; ``"IVF_PQ"`` loses recall
  under selective filters (use :func:`indexers.choose.search_filtered`).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

import numpy as np

from embedstore.errors import ConfigError, SearchError, StoreError, check_choice
from indexers.base import (
    VectorIndex,
    brute_force,
    check_allowed,
    check_k,
    check_queries,
    check_vectors,
    empty_result,
)

LanceIndexType = Literal["IVF_HNSW_SQ", "IVF_PQ"]
_INDEX_TYPES = ("IVF_HNSW_SQ", "IVF_PQ")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def in_filter(column: str, keys: np.ndarray) -> str:
    """SQL prefilter ``column IN (k1, k2, ...)`` for integer keys."""
    return f"{column} IN ({','.join(map(str, np.asarray(keys, dtype=np.int64).tolist()))})"


class LanceIndex(VectorIndex):
    """k-NN over a LanceDB table using the table's own ANN index.

    Parameters
    ----------
    table : lancedb.table.Table
        An open LanceDB table.
    vector_column, key_column : str
        Column names of the vectors and of the stable int64 keys.
    index_type : {"IVF_HNSW_SQ", "IVF_PQ"}
        Index built by :meth:`build`.
    min_rows_for_index : int
        Smaller tables are searched flat (LanceDB cannot train an index on few rows).
    num_partitions : int, optional
        IVF partitions. Default: 1 per 250k rows for ``IVF_HNSW_SQ`` (one HNSW graph per partition),
        ``sqrt(n)`` for ``IVF_PQ``.
    num_sub_vectors : int, optional
        PQ sub-vectors (``IVF_PQ``), must divide the dimension. Default: ``dim // 8`` rounded to a divisor.
    m, ef_construction : int
        HNSW graph degree and build candidate list (``IVF_HNSW_SQ``).
    nprobes : int, optional
        Partitions searched per query (``IVF_*``; LanceDB default 20).
    ef : int, optional
        HNSW candidate list per query (LanceDB default ``1.5 * k``).
    refine_factor : int, optional
        Re-rank ``k * refine_factor`` candidates with exact distances (exact scores, slower).
    key_index : bool
        :meth:`build` also creates a BTREE scalar index on ``key_column`` (if it has none), which
        makes ``row_key IN (...)`` filters several times faster.
    """

    kind: ClassVar[str] = "lance"

    def __init__(
        self,
        table,
        *,
        vector_column: str = "vector",
        key_column: str = "row_key",
        index_type: LanceIndexType = "IVF_HNSW_SQ",
        min_rows_for_index: int = 5000,
        num_partitions: int | None = None,
        num_sub_vectors: int | None = None,
        m: int = 20,
        ef_construction: int = 300,
        nprobes: int | None = None,
        ef: int | None = None,
        refine_factor: int | None = None,
        key_index: bool = True,
    ):
        check_choice("index_type", index_type, _INDEX_TYPES)
        for name, col in (("vector_column", vector_column), ("key_column", key_column)):
            if not _IDENT.match(col):
                raise ConfigError(f"{name}={col!r} must be a plain identifier")
        self.table = table
        self.vector_column, self.key_column = vector_column, key_column
        self.index_type = index_type
        self.min_rows_for_index = int(min_rows_for_index)
        self.num_partitions, self.num_sub_vectors = num_partitions, num_sub_vectors
        self.m, self.ef_construction = int(m), int(ef_construction)
        self.nprobes, self.ef, self.refine_factor = nprobes, ef, refine_factor
        self.key_index = bool(key_index)
        schema = table.schema
        if vector_column not in schema.names or key_column not in schema.names:
            raise StoreError(
                f"table lacks column {vector_column!r} or {key_column!r} (has {', '.join(schema.names)})"
            )
        vtype = schema.field(vector_column).type
        size = getattr(vtype, "list_size", None)
        if size is None or size < 1:
            raise StoreError(f"column {vector_column!r} is not a fixed-size list of floats ({vtype})")
        self.dim = int(size)

    @property
    def params(self) -> dict[str, Any]:
        return {
            "vector_column": self.vector_column,
            "key_column": self.key_column,
            "index_type": self.index_type,
            "min_rows_for_index": self.min_rows_for_index,
            "num_partitions": self.num_partitions,
            "num_sub_vectors": self.num_sub_vectors,
            "m": self.m,
            "ef_construction": self.ef_construction,
            "nprobes": self.nprobes,
            "ef": self.ef,
            "refine_factor": self.refine_factor,
            "key_index": self.key_index,
        }

    @property
    def ntotal(self) -> int:
        return int(self.table.count_rows())

    @property
    def has_index(self) -> bool:
        """Whether the table has an index on ``vector_column``."""
        return any(self.vector_column in list(ix.columns) for ix in self.table.list_indices())

    @classmethod
    def from_arrays(
        cls, db, name: str, vectors: np.ndarray, keys: np.ndarray, *, build: bool = True, **kwargs
    ) -> LanceIndex:
        """Create (overwrite) table ``name`` in ``db`` with ``row_key`` and ``vector`` columns; index it.

        Meant for tests and benchmarks; the store writes its own tables.
        """
        import pyarrow as pa

        vectors, keys = check_vectors(vectors, keys)
        vcol = kwargs.get("vector_column", "vector")
        kcol = kwargs.get("key_column", "row_key")
        flat = pa.array(vectors.reshape(-1), type=pa.float32())
        data = pa.table(
            {
                kcol: pa.array(keys, type=pa.int64()),
                vcol: pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1]),
            }
        )
        table = db.create_table(name, data, mode="overwrite")
        idx = cls(table, **kwargs)
        if build:
            idx.build()
        return idx

    def build(self, vectors: np.ndarray | None = None, keys: np.ndarray | None = None) -> None:
        """(Re)build the table's vector index from the rows already in the table.

        ``vectors``/``keys`` are accepted for interface compatibility only: rows are written by the
        store, so when given they must match the table's row count.
        """
        n = self.ntotal
        if vectors is not None or keys is not None:
            if vectors is None or keys is None:
                raise ConfigError("LanceIndex.build takes both vectors and keys, or neither")
            vectors, keys = check_vectors(vectors, keys)
            if vectors.shape[0] != n or vectors.shape[1] != self.dim:
                raise ConfigError(
                    "LanceIndex indexes the rows of its table; write rows through the store",
                    hint=f"the table has {n} rows of dim {self.dim}, got {vectors.shape}",
                )
        if n < self.min_rows_for_index:
            return  # flat search: exact, and fast enough at this size
        from lancedb.index import BTree, HnswSq, IvfPq

        if self.key_index and not any(
            list(ix.columns) == [self.key_column] for ix in self.table.list_indices()
        ):
            self.table.create_index(self.key_column, config=BTree(), replace=True)

        config: HnswSq | IvfPq
        if self.index_type == "IVF_HNSW_SQ":
            parts = self.num_partitions or max(1, round(n / 250_000))
            config = HnswSq(
                distance_type="cosine",
                num_partitions=parts,
                m=self.m,
                ef_construction=self.ef_construction,
            )
        else:
            parts = self.num_partitions or max(1, int(round(np.sqrt(n))))
            sub = self.num_sub_vectors or max(1, self.dim // 8)
            while self.dim % sub:
                sub -= 1
            config = IvfPq(distance_type="cosine", num_partitions=parts, num_sub_vectors=sub)
        self.table.create_index(self.vector_column, config=config, replace=True)

    def _query(self, queries: np.ndarray, k: int, where: str | None):
        q = self.table.search(
            list(queries) if queries.shape[0] > 1 else queries[0], vector_column_name=self.vector_column
        )
        q = q.distance_type("cosine").select([self.key_column, "_distance"]).limit(k)
        if self.nprobes is not None:
            q = q.nprobes(int(self.nprobes))
        if self.ef is not None:
            q = q.ef(max(int(self.ef), k))
        if self.refine_factor is not None:
            q = q.refine_factor(int(self.refine_factor))
        if where is not None:
            q = q.where(where, prefilter=True)
        try:
            return q.to_arrow()
        except Exception as exc:  # LanceDB raises plain RuntimeError/ValueError from Rust
            raise SearchError(f"LanceDB search failed: {exc}") from exc

    def _collect(self, result, n_queries: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores, keys = empty_result(n_queries, k)
        if result.num_rows == 0:
            return scores, keys
        qidx = (
            result.column("query_index").to_numpy().astype(np.int64)
            if "query_index" in result.column_names
            else np.zeros(result.num_rows, dtype=np.int64)
        )
        found = result.column(self.key_column).to_numpy().astype(np.int64)
        sims = (1.0 - result.column("_distance").to_numpy().astype(np.float64)).astype(np.float32)
        for r in range(n_queries):
            sel = np.flatnonzero(qidx == r)
            order = np.lexsort((found[sel], -sims[sel]))[:k]
            scores[r, : order.size] = sims[sel][order]
            keys[r, : order.size] = found[sel][order]
        return scores, keys

    def _run(self, queries, k, allowed, where):
        queries = check_queries(queries, self.dim)
        k = check_k(k)
        allowed = check_allowed(allowed)
        if allowed is not None and allowed.size == 0:
            return empty_result(queries.shape[0], k)
        if queries.shape[0] == 0:
            return empty_result(0, k)
        clauses = [] if where is None else [f"({where})"]
        if allowed is not None:
            clauses.append(in_filter(self.key_column, allowed))
        sql = " AND ".join(clauses) if clauses else None
        return self._collect(self._query(queries, k, sql), queries.shape[0], k)

    def search(
        self, queries: np.ndarray, k: int, *, allowed: np.ndarray | None = None, where: str | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """See :meth:`VectorIndex.search`; ``where`` adds an SQL prefilter on the table's columns
        (e.g. ``"recording_id = 'abc'"``), cheaper than a long ``allowed`` key list."""
        return self._run(queries, k, allowed, where)

    def exact_search(
        self, queries: np.ndarray, k: int, *, allowed: np.ndarray | None, where: str | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact search over the ``allowed`` (and ``where``) rows: their vectors are read from the
        table once and scored with numpy (much faster than LanceDB's flat scan with an ``IN`` filter)."""
        queries = check_queries(queries, self.dim)
        k = check_k(k)
        allowed = check_allowed(allowed)
        if allowed is not None and allowed.size == 0:
            return empty_result(queries.shape[0], k)
        vectors, keys = self._fetch(allowed, where)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = vectors / np.where(norms > 0, norms, 1.0)  # cosine, as LanceDB's metric
        return brute_force(queries, vectors.astype(np.float32), keys, k)

    def get_vectors(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        keys = np.asarray(check_allowed(keys), dtype=np.int64)
        if keys.size == 0:
            return np.zeros((0, self.dim), dtype=np.float32), np.zeros(0, dtype=np.int64)
        return self._fetch(keys, None)

    def _fetch(self, allowed: np.ndarray | None, where: str | None) -> tuple[np.ndarray, np.ndarray]:
        clauses = [] if where is None else [f"({where})"]
        if allowed is not None:
            clauses.append(in_filter(self.key_column, allowed))
        q = self.table.search().select([self.key_column, self.vector_column]).limit(None)
        if clauses:
            q = q.where(" AND ".join(clauses))
        try:
            tbl = q.to_arrow()
        except Exception as exc:  # LanceDB raises plain RuntimeError/ValueError from Rust
            raise SearchError(f"LanceDB scan failed: {exc}") from exc
        found = tbl.column(self.key_column).to_numpy().astype(np.int64)
        vec = tbl.column(self.vector_column).combine_chunks()
        vectors = vec.flatten().to_numpy(zero_copy_only=False).astype(np.float32).reshape(-1, self.dim)
        return vectors, found

    def __repr__(self) -> str:
        return f"LanceIndex({self.table.name!r}, index_type={self.index_type!r}, rows={self.ntotal})"
