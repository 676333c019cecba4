"""The entry point :func:`search`: resolve the space and the query, filter, rank, attach passages and metadata."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from embedstore.errors import ConfigError, SearchError, check_choice
from embedstore.search.frames import curve_hits, frames_space_for, refine_passage_hits
from embedstore.search.interpretation_mode import interpretation_search
from embedstore.search.passages import attach_best_windows
from embedstore.search.queries import query_vector
from embedstore.search.ranking import (
    BACKENDS,
    DEFAULT_MEMORY_BUDGET,
    Backend,
    best_window_per_recording,
    load_space,
    ranked,
)
from embedstore.search.results import Hit, SearchResult, hits_from_keys, plain
from embedstore.store import CORE_RECORDING_COLUMNS, Space, Store
from embedstore.utils import sha256_file
from indexers.choose import parse_bytes

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

Mode = Literal["plain", "interpretation"]
MODES = ("plain", "interpretation")
Features = Literal["embeddings", "curves"]
FEATURES = ("embeddings", "curves")
#: Window candidates taken from the index for a refined passage search: at least this many, ...
REFINE_CANDIDATES = 50
#: ... and this many per requested hit.
REFINE_PER_HIT = 5
#: Recordings columns kept in a hit's metadata besides the user's columns.
HIT_CORE_COLUMNS = ("file_name", "duration_s")


def search(
    store: Store | str | Path,
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
    backend: Backend | str = "auto",
    mode: Mode | str = "plain",
    any_piece: bool = False,
    piece_column: str = "piece_id",
    refine: bool | None = None,
    features: Features | str = "embeddings",
    memory_budget: int | str = DEFAULT_MEMORY_BUDGET,
) -> SearchResult:
    """Find the performances most similar to a query.

    Parameters
    ----------
    store : Store, str or Path
        The store or its URI.
    query_path, recording_id, vector
        Exactly one query: an audio file, a stored recording (id, path, file name or stem), or a vector of the
        chosen space, (dim,).
    encoder : str, optional
        Setup key (``chroma-w10-h5``) or encoder name; optional when the store holds one setup.
    layer : int or str, optional
        Layer index or name (default: the last layer).
    pooling : str
        Recording-level pooling of the space to search (``mean`` or ``max``).
    k : int
        Number of hits (recordings, or windows with ``windows=True``).
    where : str, optional
        SQL filter over the recordings table, e.g. ``composer = 'Chopin'``.
    exclude_same_recording : bool
        Drop the query's own recording from the hits.
    start_s, end_s : float, optional
        Query a passage of the query recording, seconds.
    windows : bool
        Return window hits instead of the best window per recording.
    backend : str
        ``auto`` (:func:`indexers.choose_index`), ``exact``, ``faiss``/``faiss-hnsw``, ``faiss-ivfpq``,
        ``faiss-ivf`` or ``lance``.
    mode : str
        ``plain``, or ``interpretation`` (remove the piece's mean before comparing).
    any_piece : bool
        Interpretation mode: search across pieces instead of other performances of the same piece.
    piece_column : str
        Metadata column naming the piece (interpretation mode).
    refine : bool, optional
        Passage queries: refine the hits frame-accurately with the stored frame sequences
        (:mod:`embedstore.search.frames`). Default: when the setup stores them; ``True`` without them is an error.
    features : str
        ``embeddings``, or ``curves`` (interpretation mode, other performances of the query's piece): rank by the
        correlation of tempo and loudness curves computed from the stored frame sequences.
    memory_budget : int or str
        Memory the index may occupy, bytes or e.g. ``"2GB"`` (``auto``/``faiss``: :func:`indexers.choose_index`
        picks the most accurate index that fits).

    Returns
    -------
    SearchResult
        Hits best first, with the matching window of each and the recording's metadata.
    """
    t0 = time.perf_counter()
    _check_request(backend, mode, k, query_path, recording_id, vector, start_s, end_s)
    budget = parse_bytes(memory_budget)
    _check_features(features, mode, any_piece, vector, start_s, end_s)
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

    t = time.perf_counter()
    recs = st.recordings()
    q_rid, q_meta = _query_recording(st, space, recs, query_path=query_path, recording_id=recording_id)
    qinfo: dict[str, Any] = {"setup": space.setup_key, "layer": space.layer, "level": level}
    if recording_id is not None:
        qinfo.update(recording_id=q_rid, path=q_meta.get("path"))
    elif query_path is not None:
        qinfo.update(path=str(query_path), recording_id=q_rid)
    if passage:
        qinfo.update(start_s=start_s, end_s=end_s)
    if features == "curves":
        hits = _curve_search(st, space, recs, q_rid, q_meta, query_path, where, piece_column, k)
        _attach_metadata(hits, recs)
        timings["total"] = time.perf_counter() - t0
        qinfo["features"] = "curves"
        return SearchResult(hits=hits, query=qinfo, space=space.space_id, backend="curves", timings=timings)
    warnings: list[str] = []
    qvec = query_vector(
        st,
        space,
        win_space,
        recording_id=q_rid,
        query_path=query_path,
        stored_path=q_meta.get("path"),
        vector=vector,
        start_s=start_s,
        end_s=end_s,
        pooling=pooling,
        warnings=warnings,
    )
    timings["embed_query"] = time.perf_counter() - t

    seq = frames_space_for(st, space) if passage and refine is not False else None
    if refine and passage and seq is None:
        raise SearchError(
            f"setup {space.setup_key} stores no frame sequences",
            hint="re-index with `embedstore index ... --frames`, or search with --no-refine",
        )
    t = time.perf_counter()
    es = load_space(st, space)
    allowed_ids: set[str] | None = None
    if where:
        allowed_ids = set(st.recordings(where)["recording_id"])
    if exclude_same_recording and q_rid is not None:
        allowed_ids = (set(recs["recording_id"]) if allowed_ids is None else allowed_ids) - {q_rid}
    timings["filter"] = time.perf_counter() - t

    t = time.perf_counter()
    if mode == "interpretation":
        hits, used = interpretation_search(
            es,
            qvec,
            q_meta,
            allowed_ids,
            k=k,
            windows=windows,
            any_piece=any_piece,
            piece_column=piece_column,
            query_recording_id=q_rid,
            exclude_self=exclude_same_recording,
        )
        if hits and hits[0].query_piece is not None:
            qinfo["piece"] = hits[0].query_piece
    else:
        allowed = None if allowed_ids is None else es.keys[np.isin(es.recording_ids, list(allowed_ids))]
        if level == "recording" or windows or seq is not None:
            n = k if seq is None else max(REFINE_CANDIDATES, REFINE_PER_HIT * k)
            scores, keys, used = ranked(st, space, es, qvec[None], n, allowed, backend, memory_budget=budget)
            hits = hits_from_keys(es, scores[0], keys[0])
        else:
            hits, used = best_window_per_recording(
                st, space, es, qvec, k, allowed, backend, memory_budget=budget
            )
    timings["search"] = time.perf_counter() - t

    if seq is not None and hits:
        t = time.perf_counter()
        hits = refine_passage_hits(
            st,
            seq,
            hits,
            query_recording_id=q_rid,
            query_path=query_path if query_path is not None else q_meta.get("path"),
            start_s=float(start_s or 0.0),
            end_s=None if end_s is None else float(end_s),
            per_recording=not windows,
        )[:k]
        qinfo["refined"] = True
        timings["align"] = time.perf_counter() - t

    if level == "recording" and hits:
        t = time.perf_counter()
        attach_best_windows(st, win_space, hits, qvec)
        timings["passages"] = time.perf_counter() - t
    _attach_metadata(hits, recs)
    timings["total"] = time.perf_counter() - t0
    return SearchResult(
        hits=hits, query=qinfo, space=space.space_id, backend=used, timings=timings, warnings=warnings
    )


def _check_request(
    backend: str,
    mode: str,
    k: int,
    query_path: str | Path | None,
    recording_id: str | None,
    vector: np.ndarray | None,
    start_s: float | None,
    end_s: float | None,
) -> None:
    """Refuse a malformed request before opening anything."""
    check_choice("backend", backend, BACKENDS)
    check_choice("mode", mode, MODES)
    if k < 1:
        raise ConfigError(f"k must be >= 1 (got {k})")
    if sum(x is not None for x in (query_path, recording_id, vector)) != 1:
        raise ConfigError("give exactly one query: a file (--query), a stored recording (--id) or a vector")
    if (start_s is not None or end_s is not None) and vector is not None:
        raise ConfigError("a passage (--start/--end) needs an audio query, not a vector")


def _check_features(
    features: str,
    mode: str,
    any_piece: bool,
    vector: np.ndarray | None,
    start_s: float | None,
    end_s: float | None,
) -> None:
    """``features="curves"`` compares whole performances of one piece in interpretation mode."""
    check_choice("features", features, FEATURES)
    if features != "curves":
        return
    if mode != "interpretation":
        raise ConfigError("--features curves compares interpretations", hint="add --mode interpretation")
    if any_piece:
        raise ConfigError(
            "--features curves compares performances of one piece",
            hint="across pieces, store style statistics with `embedstore style --write-space` and use "
            "`embedstore evaluate-retrieval --features curves`",
        )
    if vector is not None or start_s is not None or end_s is not None:
        raise ConfigError("--features curves needs a whole recording as the query (no vector, no passage)")


def _curve_search(
    st: Store,
    space: Space,
    recs: pd.DataFrame,
    q_rid: str | None,
    q_meta: dict,
    query_path: str | Path | None,
    where: str | None,
    piece_column: str,
    k: int,
) -> list[Hit]:
    """Other performances of the query's piece (or of the ``where`` selection) ranked by curve similarity."""
    seq = frames_space_for(st, space)
    if seq is None:
        raise SearchError(
            f"setup {space.setup_key} stores no frame sequences",
            hint="re-index with `embedstore index ... --frames` to compare interpretation curves",
        )
    if where:
        cands = list(st.recordings(where)["recording_id"])
    elif q_rid is not None and piece_column in recs.columns and q_meta.get(piece_column) is not None:
        cands = list(recs.loc[recs[piece_column] == q_meta[piece_column], "recording_id"])
    else:
        raise SearchError(
            f"the query's {piece_column!r} is unknown",
            hint="query a stored recording indexed with --metadata, or select the performances with --where",
        )
    return curve_hits(st, seq, cands, query_recording_id=q_rid, query_path=query_path, k=k)


def _query_recording(
    st: Store, space: Space, recs: pd.DataFrame, *, query_path: str | Path | None, recording_id: str | None
) -> tuple[str | None, dict]:
    """The query's recording id and row when it is stored: a stored recording, or a file whose content the setup
    has indexed. ``(None, {})`` otherwise."""
    if recording_id is not None:
        rec = st.recording(recording_id)
        return rec["recording_id"], rec
    if query_path is None:
        return None, {}
    qp = Path(query_path)
    if not qp.is_file():
        raise SearchError(f"query file not found: {qp}")
    q_rid = st.indexed(space.setup_key).get(sha256_file(qp))
    if q_rid is None:
        return None, {}
    row = recs[recs["recording_id"] == q_rid]
    return q_rid, (row.iloc[0].to_dict() if len(row) else {})


def _attach_metadata(hits: list[Hit], recs: pd.DataFrame) -> None:
    """Fill each hit's path and metadata from the recordings table."""
    if not len(recs):
        return
    meta = recs.set_index("recording_id")
    for h in hits:
        if h.recording_id in meta.index:
            m = meta.loc[h.recording_id].to_dict()
            h.path = m.get("path", h.path)
            h.metadata = {
                kk: plain(v)
                for kk, v in m.items()
                if kk not in CORE_RECORDING_COLUMNS or kk in HIT_CORE_COLUMNS
            }
