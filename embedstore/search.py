"""Nearest-neighbour retrieval of similar performances over the store.

Queries
-------
- a stored recording (``recording_id=`` id, path, file name or stem): its stored vectors are used as they are;
- a file (``query_path=``): if its content is already indexed with the setup, the stored vectors are used;
  otherwise it is embedded exactly as the setup was indexed (same encoder, model revision, window and hop);
- a passage (``start_s``/``end_s``): the passage is cut from the audio and embedded (one vector, mean of its windows).

Results
-------
- whole-recording query: recordings ranked by cosine similarity of their pooled vectors; each hit carries the
  window of the hit that best matches the query (``start_s``/``end_s``);
- passage query, or ``windows=True``: windows ranked by cosine similarity; grouped to the best window per recording
  unless ``windows=True``.

Filters (``where``, SQL over the recordings table, e.g. ``composer = 'Chopin'``) apply before ranking with every
backend; selective filters fall back to exact search over the allowed subset so no recall is lost.

``mode="interpretation"`` removes what the piece explains (per-piece mean, see :mod:`embedstore.interpretation`)
and by default restricts results to other performances of the query's piece (``any_piece=True`` lifts that).
Interpretation vectors are derived on the fly, so they are always searched exactly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from embedstore.errors import ConfigError, SearchError, StoreError, check_choice
from embedstore.store import CORE_RECORDING_COLUMNS, EmbeddingSet, Space, Store

Backend = Literal["auto", "exact", "faiss", "faiss-hnsw", "faiss-ivfpq", "lance"]
BACKENDS = ("auto", "exact", "faiss", "faiss-hnsw", "faiss-ivfpq", "lance")
MODES = ("plain", "interpretation")


@dataclass
class Hit:
    recording_id: str
    path: str
    score: float
    start_s: float
    end_s: float
    window_index: int
    metadata: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        d = {
            "recording_id": self.recording_id,
            "path": self.path,
            "score": round(float(self.score), 6),
            "start_s": round(float(self.start_s), 3),
            "end_s": round(float(self.end_s), 3),
            "window_index": int(self.window_index),
        }
        for k, v in self.metadata.items():
            if k not in d and k not in ("content_hash", "added_at"):
                d[k] = v
        return d


@dataclass
class SearchResult:
    hits: list[Hit]
    query: dict
    space: str
    backend: str
    timings: dict

    def as_dict(self) -> dict:
        return {
            "query": self.query,
            "space": self.space,
            "backend": self.backend,
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
            "hits": [h.as_dict() for h in self.hits],
        }


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(n, 1e-12)


# ---------------------------------------------------------------------------------------------- loaded spaces
_LOADED: dict[tuple, EmbeddingSet] = {}


def _load_space(store: Store, space: Space) -> EmbeddingSet:
    """Vectors of a space (cached per table version, so a changed table is re-read)."""
    version = store.table_version(space.table_name)
    key = (store.uri, space.space_id, version)
    if key not in _LOADED:
        for k in [k for k in _LOADED if k[:2] == key[:2]]:
            del _LOADED[k]
        _LOADED[key] = store.load(space, with_metadata=True)
    return _LOADED[key]


def index_dir(store: Store, space: Space) -> Path | None:
    if "://" in store.uri:
        return None
    return Path(store.uri) / "_indexes" / space.space_id


def get_index(store: Store, space: Space, es: EmbeddingSet, backend: str, *, memory_budget: int = 4 << 30):
    """The search index of a space for a backend (FAISS indexes are a derived, verified cache)."""
    from indexers import choose_index, make_index, spec_for

    n, dim = es.vectors.shape
    if backend == "lance":
        from indexers.lance_index import LanceIndex

        idx = LanceIndex(store.table(space.table_name))
        if not store.table(space.table_name).list_indices():
            idx.build()
        return idx, "lance"
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
    if spec.kind == "exact":
        idx = make_index(spec)
        idx.build(_normalise(es.vectors), es.keys)
        return idx, "exact"
    from indexers import load_or_build

    d = index_dir(store, space)
    source = {
        "table": space.table_name,
        "table_version": store.table_version(space.table_name),
        "row_count": n,
        "fingerprint": _fingerprint(es.keys),
    }
    if d is None:
        idx = make_index(spec)
        idx.build(_normalise(es.vectors), es.keys)
        return idx, spec.kind
    idx, status = load_or_build(d, spec, source=source, loader=lambda: (_normalise(es.vectors), es.keys))
    return idx, f"{spec.kind} ({status})"


def _fingerprint(keys: np.ndarray) -> str:
    import hashlib

    return hashlib.sha256(np.sort(np.asarray(keys, np.int64)).tobytes()).hexdigest()[:16]


def _ranked(
    store: Store,
    space: Space,
    es: EmbeddingSet,
    queries: np.ndarray,
    k: int,
    allowed: np.ndarray | None,
    backend: str,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Top-k (scores, keys) with the filter policy of :func:`indexers.search_filtered`."""
    from indexers import search_filtered

    q = _normalise(queries)
    if len(es) == 0:
        return np.full((len(q), k), -np.inf), np.full((len(q), k), -1, np.int64), "empty"
    if allowed is not None and len(allowed) == 0:
        return np.full((len(q), k), -np.inf), np.full((len(q), k), -1, np.int64), "empty"
    idx, used = get_index(store, space, es, backend)
    scores, keys = search_filtered(
        idx, q, k, allowed, n_total=len(es), exact_fallback=lambda ks: _vectors_for_keys(es, ks)
    )
    return scores, keys, used


def _vectors_for_keys(es: EmbeddingSet, keys: np.ndarray) -> np.ndarray:
    pos = _key_positions(es)
    rows = np.array([pos[int(k)] for k in keys], dtype=np.int64)
    return _normalise(es.vectors[rows])


def _key_positions(es: EmbeddingSet) -> dict[int, int]:
    cache = getattr(es, "_pos", None)
    if cache is None:
        cache = {int(k): i for i, k in enumerate(es.keys)}
        es._pos = cache  # type: ignore[attr-defined]
    return cache


# ---------------------------------------------------------------------------------------------- main entry
def search(
    store: Store | str,
    *,
    query_path: str | Path | None = None,
    recording_id: str | None = None,
    vector: np.ndarray | None = None,
    encoder: str | None = None,
    layer: int | str | None = None,
    pooling: str = "mean",
    k: int = 10,
    where: str | None = None,
    exclude_same_recording: bool = False,
    start_s: float | None = None,
    end_s: float | None = None,
    windows: bool = False,
    backend: Backend = "auto",
    mode: Literal["plain", "interpretation"] = "plain",
    any_piece: bool = False,
    piece_column: str = "piece_id",
) -> SearchResult:
    """Find the performances most similar to a query.

    Parameters
    ----------
    store : Store or URI
    query_path, recording_id, vector : exactly one query (a vector must come from the chosen space)
    encoder : setup key (``chroma-w10-h5``) or encoder name; optional when the store holds one setup
    layer : layer index or name (default: the last layer)
    pooling : recording-level pooling of the space to search (``mean`` or ``max``)
    k : number of hits (recordings, or windows with ``windows=True``)
    where : SQL filter over the recordings table
    exclude_same_recording : drop the query's own recording from the hits
    start_s, end_s : query a passage of the query recording
    windows : return window hits instead of the best window per recording
    backend : ``auto`` (``choose_index``), ``exact``, ``faiss``/``faiss-hnsw``, ``faiss-ivfpq`` or ``lance``
    mode : ``plain`` or ``interpretation`` (remove the piece's mean before comparing)
    any_piece : interpretation mode: search across pieces instead of other performances of the same piece
    """
    t0 = time.perf_counter()
    check_choice("backend", backend, BACKENDS)
    check_choice("mode", mode, MODES)
    if k < 1:
        raise ConfigError(f"k must be >= 1 (got {k})")
    given = [x is not None for x in (query_path, recording_id, vector)]
    if sum(given) != 1:
        raise ConfigError("give exactly one query: a file (--query), a stored recording (--id) or a vector")
    if (start_s is not None or end_s is not None) and vector is not None:
        raise ConfigError("a passage (--start/--end) needs an audio query, not a vector")
    st = store if isinstance(store, Store) else Store(store, create=False)
    passage = start_s is not None or end_s is not None
    level = "window" if (passage or windows) else "recording"
    space = st.find_space(encoder=encoder, layer=layer, level=level, pooling=pooling)
    win_space = (
        space
        if level == "window"
        else st.find_space(setup=space.setup_key, layer=space.layer, level="window")
    )
    timings: dict[str, float] = {}

    # ---- the query
    t = time.perf_counter()
    qinfo: dict = {"setup": space.setup_key, "layer": space.layer, "level": level}
    q_rid = None
    q_meta: dict = {}
    recs = st.recordings()
    if recording_id is not None:
        rec = st.recording(recording_id)
        q_rid, q_meta = rec["recording_id"], rec
        qinfo.update(recording_id=q_rid, path=rec["path"])
    elif query_path is not None:
        qp = Path(query_path)
        if not qp.is_file():
            raise SearchError(f"query file not found: {qp}")
        from embedstore.audio import content_hash

        h = content_hash(qp)
        done = st.indexed(space.setup_key)
        if h in done:
            q_rid = done[h]
            row = recs[recs["recording_id"] == q_rid]
            q_meta = row.iloc[0].to_dict() if len(row) else {}
        qinfo.update(path=str(qp), recording_id=q_rid)
    if passage:
        qinfo.update(start_s=start_s, end_s=end_s)
    qvec = _query_vector(
        st,
        space,
        win_space,
        q_rid=q_rid,
        query_path=query_path,
        q_meta=q_meta,
        vector=vector,
        start_s=start_s,
        end_s=end_s,
        pooling=pooling,
    )
    timings["embed_query"] = time.perf_counter() - t

    # ---- candidates
    t = time.perf_counter()
    es = _load_space(st, space)
    allowed_ids: set[str] | None = None
    if where:
        allowed_ids = set(st.recordings(where)["recording_id"])
    if exclude_same_recording and q_rid is not None:
        allowed_ids = (set(recs["recording_id"]) if allowed_ids is None else allowed_ids) - {q_rid}
    timings["filter"] = time.perf_counter() - t

    t = time.perf_counter()
    if mode == "interpretation":
        hits, used = _interpretation(
            st,
            space,
            es,
            qvec,
            q_meta,
            allowed_ids,
            k=k,
            windows=windows,
            any_piece=any_piece,
            piece_column=piece_column,
            q_rid=q_rid,
            exclude_self=exclude_same_recording,
        )
    else:
        allowed = None
        if allowed_ids is not None:
            allowed = es.keys[np.isin(es.recording_ids, list(allowed_ids))]
        if level == "recording" or windows:
            scores, keys, used = _ranked(st, space, es, qvec[None], k, allowed, backend)
            hits = _hits_from_keys(es, scores[0], keys[0])
        else:
            hits, used = _grouped_window_search(st, space, es, qvec, k, allowed, backend)
    timings["search"] = time.perf_counter() - t

    # ---- passages of recording-level hits
    if level == "recording" and hits:
        t = time.perf_counter()
        _attach_best_windows(st, win_space, hits, qvec)
        timings["passages"] = time.perf_counter() - t
    meta = recs.set_index("recording_id") if len(recs) else None
    for h in hits:
        if meta is not None and h.recording_id in meta.index:
            m = meta.loc[h.recording_id].to_dict()
            h.path = m.get("path", h.path)
            h.metadata = {
                kk: _plain(v)
                for kk, v in m.items()
                if kk not in CORE_RECORDING_COLUMNS or kk in ("file_name", "duration_s")
            }
    timings["total"] = time.perf_counter() - t0
    return SearchResult(hits=hits, query=qinfo, space=space.space_id, backend=used, timings=timings)


def _plain(v):
    if isinstance(v, float) and np.isnan(v):
        return None
    if hasattr(v, "item"):
        return v.item()
    return v


def _query_vector(
    st: Store, space: Space, win_space: Space, *, q_rid, query_path, q_meta, vector, start_s, end_s, pooling
) -> np.ndarray:
    if vector is not None:
        v = np.asarray(vector, np.float32).reshape(-1)
        if v.shape[0] != space.dim:
            raise SearchError(f"query vector has dim {v.shape[0]}, space {space.space_id} has {space.dim}")
        return v
    passage = start_s is not None or end_s is not None
    if q_rid is not None and not passage:
        es = st.load(space, recording_ids=[q_rid], with_metadata=False)
        if len(es):
            return es.vectors.mean(axis=0) if space.level == "window" else es.vectors[0]
    path = query_path if query_path is not None else q_meta.get("path")
    if path is None or not Path(path).is_file():
        if q_rid is not None and passage:
            # audio gone: fall back to the stored windows overlapping the passage
            es = st.load(win_space, recording_ids=[q_rid], with_metadata=False)
            a = start_s or 0.0
            b = end_s if end_s is not None else float("inf")
            m = (es.start_s < b) & (es.end_s > a)
            if m.any():
                return es.vectors[m].mean(axis=0)
        raise SearchError(
            f"cannot read the query audio ({path})", hint="the file moved? give it with --query"
        )
    from embedstore.pipeline import embed_file

    # a projected space: embed with its source setup, then apply the stored projection head
    proj, setup = None, space.setup_key
    if space.provenance.get("kind") == "projection":
        from embedstore.projections.persist import projection_for_space

        proj, setup = projection_for_space(space), space.provenance["source_setup_key"]
    qe = embed_file(path, store=st, setup_key=setup, start_s=start_s, end_s=end_s)
    if passage or space.level == "window":
        w = qe.weights / max(qe.weights.sum(), 1e-9)
        v = (qe.window_vectors[space.layer] * w[:, None]).sum(axis=0)
    else:
        v = qe.pooled(pooling)[space.layer]
    if proj is not None:
        v = np.asarray(proj.transform(v[None].astype(np.float32)), np.float32)[0]
    return v


def _hits_from_keys(es: EmbeddingSet, scores: np.ndarray, keys: np.ndarray) -> list[Hit]:
    pos = _key_positions(es)
    hits = []
    for s, kk in zip(scores, keys):
        if kk < 0:
            continue
        i = pos[int(kk)]
        hits.append(
            Hit(
                recording_id=str(es.recording_ids[i]),
                path="",
                score=float(s),
                start_s=float(es.start_s[i]),
                end_s=float(es.end_s[i]),
                window_index=int(es.window_index[i]),
            )
        )
    return hits


def _grouped_window_search(st, space, es, qvec, k, allowed, backend):
    """Best window per recording: oversample window hits until k distinct recordings are found."""
    n = len(es)
    kk = min(n, max(4 * k, 32))
    used = ""
    while True:
        scores, keys, used = _ranked(st, space, es, qvec[None], kk, allowed, backend)
        hits = _hits_from_keys(es, scores[0], keys[0])
        best: dict[str, Hit] = {}
        for h in hits:
            if h.recording_id not in best:
                best[h.recording_id] = h
        n_allowed = n if allowed is None else len(allowed)
        if len(best) >= k or kk >= n_allowed:
            return list(best.values())[:k], used
        kk = min(n_allowed, kk * 4)


def _attach_best_windows(st: Store, win_space: Space, hits: list[Hit], qvec: np.ndarray) -> None:
    """For recording-level hits, the window of each hit most similar to the query."""
    es = _load_space(st, win_space)
    q = _normalise(qvec)
    ids = {h.recording_id for h in hits}
    m = np.isin(es.recording_ids, list(ids))
    if not m.any():
        return
    sims = _normalise(es.vectors[m]) @ q
    rids, st_s, en_s, wi = es.recording_ids[m], es.start_s[m], es.end_s[m], es.window_index[m]
    for h in hits:
        sel = np.flatnonzero(rids == h.recording_id)
        if len(sel):
            j = sel[np.argmax(sims[sel])]
            h.start_s, h.end_s, h.window_index = float(st_s[j]), float(en_s[j]), int(wi[j])


def _interpretation(
    st, space, es, qvec, q_meta, allowed_ids, *, k, windows, any_piece, piece_column, q_rid, exclude_self
):
    """Interpretation mode: residuals after removing the per-piece mean, exact cosine search."""
    from embedstore.interpretation import residualize

    meta = es.metadata
    if meta is None or piece_column not in meta.columns:
        raise SearchError(
            f"interpretation mode needs a {piece_column!r} metadata column",
            hint="index with --metadata <csv with a piece column> or pass --piece-column",
        )
    pieces = meta[piece_column].astype(str).to_numpy()
    resid, stats = residualize(es.vectors, pieces)
    q_piece = q_meta.get(piece_column) if q_meta else None
    q_piece = None if q_piece is None or (isinstance(q_piece, float) and np.isnan(q_piece)) else str(q_piece)
    qres, inferred = stats.apply(qvec[None], q_piece)
    qres = _normalise(qres)[0]
    if q_piece is None:
        q_piece = inferred[0] if isinstance(inferred, list | tuple | np.ndarray) else inferred
    mask = np.ones(len(es), dtype=bool)
    if allowed_ids is not None:
        mask &= np.isin(es.recording_ids, list(allowed_ids))
    if not any_piece and q_piece is not None:
        mask &= pieces == str(q_piece)
    if exclude_self and q_rid is not None:
        mask &= es.recording_ids != q_rid
    idx = np.flatnonzero(mask)
    sims = _normalise(resid[idx]) @ qres
    order = idx[np.argsort(-sims, kind="stable")]
    sims_sorted = np.sort(sims)[::-1]
    hits = []
    seen = set()
    for i, s in zip(order, sims_sorted):
        rid = str(es.recording_ids[i])
        if not windows and rid in seen:
            continue
        seen.add(rid)
        hits.append(
            Hit(
                recording_id=rid,
                path="",
                score=float(s),
                start_s=float(es.start_s[i]),
                end_s=float(es.end_s[i]),
                window_index=int(es.window_index[i]),
            )
        )
        if len(hits) >= k:
            break
    return hits, f"exact (interpretation, piece={q_piece if not any_piece else 'any'})"


def passage_similarity(
    store: Store | str,
    recording_a: str,
    recording_b: str,
    *,
    encoder: str | None = None,
    layer: int | str | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Window-by-window cosine similarity of two stored recordings (for plots).

    Returns
    -------
    starts_a : (Wa,), starts_b : (Wb,), sim : (Wa, Wb)
    """
    st = store if isinstance(store, Store) else Store(store, create=False)
    sp = st.find_space(encoder=encoder, layer=layer, level="window")
    a = st.load(sp, recording_ids=[st.recording(recording_a)["recording_id"]], with_metadata=False)
    b = st.load(sp, recording_ids=[st.recording(recording_b)["recording_id"]], with_metadata=False)
    if not len(a) or not len(b):
        raise StoreError("no window vectors for one of the recordings")
    return a.start_s, b.start_s, _normalise(a.vectors) @ _normalise(b.vectors).T
