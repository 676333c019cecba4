"""``mode="interpretation"``: rank by what is left after removing what the piece explains.

Residuals are the vectors minus their piece's centroid (:func:`embedstore.interpretation.residualize`), derived on
the fly, so they are always searched exactly. By default the candidates are other performances of the query's piece
(the query's ``piece_column`` value, or the nearest piece centroid for an outside file); ``any_piece=True`` searches
every piece.
"""

from __future__ import annotations

import numpy as np

from embedstore.errors import SearchError
from embedstore.interpretation import PieceStats, residualize
from embedstore.search.ranking import normalise
from embedstore.search.results import Hit, hit_at
from embedstore.store import EmbeddingSet


def interpretation_search(
    es: EmbeddingSet,
    qvec: np.ndarray,
    query_metadata: dict,
    allowed_ids: set[str] | None,
    *,
    k: int,
    windows: bool,
    any_piece: bool,
    piece_column: str,
    query_recording_id: str | None,
    exclude_self: bool,
    residuals: tuple[np.ndarray, PieceStats] | None = None,
) -> tuple[list[Hit], str]:
    """Exact cosine search on per-piece residuals.

    Parameters
    ----------
    es : EmbeddingSet
        The candidates (window or recording level), with metadata.
    qvec : np.ndarray
        (dim,) raw query vector.
    query_metadata : dict
        The query recording's row (empty for an outside file).
    allowed_ids : set of str or None
        Recording ids allowed by the filter.
    k : int
        Hits wanted.
    windows : bool
        Return window hits (several per recording) instead of the best per recording.
    any_piece : bool
        Search across pieces.
    piece_column : str
        Metadata column naming the piece.
    query_recording_id : str or None
    exclude_self : bool
        Drop the query's own recording.
    residuals : (np.ndarray, PieceStats), optional
        ``residualize(es.vectors, pieces)`` computed once by the caller for many queries
        (:func:`embedstore.search.batch.search_many`).

    Returns
    -------
    hits : list of Hit
    used : str
        ``exact (interpretation, piece=...)``.
    """
    meta = es.metadata
    if meta is None or piece_column not in meta.columns:
        raise SearchError(
            f"interpretation mode needs a {piece_column!r} metadata column",
            hint="index with --metadata <csv with a piece column> or pass --piece-column",
        )
    pieces = meta[piece_column].astype(str).to_numpy()
    resid, stats = residuals if residuals is not None else residualize(es.vectors, pieces)
    q_piece = query_metadata.get(piece_column) if query_metadata else None
    q_piece = None if q_piece is None or (isinstance(q_piece, float) and np.isnan(q_piece)) else str(q_piece)
    qres, inferred = stats.apply(qvec[None], q_piece)
    qres = normalise(qres)[0]
    was_inferred = q_piece is None
    if q_piece is None:
        q_piece = inferred[0]
    mask = np.ones(len(es), dtype=bool)
    if allowed_ids is not None:
        mask &= np.isin(es.recording_ids, list(allowed_ids))
    if not any_piece and q_piece is not None:
        mask &= pieces == str(q_piece)
    if exclude_self and query_recording_id is not None:
        mask &= es.recording_ids != query_recording_id
    idx = np.flatnonzero(mask)
    sims = normalise(resid[idx]) @ qres
    order = idx[np.argsort(-sims, kind="stable")]
    sims_sorted = np.sort(sims)[::-1]
    hits: list[Hit] = []
    seen: set[str] = set()
    for i, s in zip(order, sims_sorted):
        rid = str(es.recording_ids[i])
        if not windows and rid in seen:
            continue
        seen.add(rid)
        hit = hit_at(es, int(i), float(s))
        hit.query_piece = {"piece": None if q_piece is None else str(q_piece), "inferred": was_inferred}
        hits.append(hit)
        if len(hits) >= k:
            break
    return hits, f"exact (interpretation, piece={q_piece if not any_piece else 'any'})"
