"""The query vector of a search, in the space being searched.

- a vector given by the caller is used as it is (it must have the space's dimension);
- a stored recording (whole-recording query) uses its stored vector; with no audio for a passage query, the
  stored windows overlapping the passage are averaged;
- otherwise the audio (a file, or the stored recording's file) is embedded exactly as the setup was indexed
  (:func:`embedstore.query.embed_file`). For a projected space the query is embedded with the source setup and then
  mapped by the space's stored transform (:mod:`embedstore.transforms`, numpy only).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from embedstore.errors import SearchError
from embedstore.query import embed_file
from embedstore.store import Space, Store
from embedstore.transforms import source_setup_of, transform_for_provenance


def query_vector(
    store: Store,
    space: Space,
    win_space: Space,
    *,
    recording_id: str | None,
    query_path: str | Path | None,
    stored_path: str | None,
    vector: np.ndarray | None,
    start_s: float | None,
    end_s: float | None,
    pooling: str,
) -> np.ndarray:
    """One query vector in ``space``.

    Parameters
    ----------
    store : Store
    space : Space
        The space searched.
    win_space : Space
        The window space of the same setup and layer (for the stored-window fallback of passage queries).
    recording_id : str or None
        The query's recording id when it is stored with this setup.
    query_path : str, Path or None
        The query file given by the caller.
    stored_path : str or None
        The stored recording's path (used when no query file is given).
    vector : np.ndarray or None
        A query vector given by the caller, (dim,).
    start_s, end_s : float or None
        Passage bounds, seconds.
    pooling : str
        Pooling of a recording-level space.

    Returns
    -------
    np.ndarray
        (space.dim,) float32, not normalised.
    """
    if vector is not None:
        v = np.asarray(vector, np.float32).reshape(-1)
        if v.shape[0] != space.dim:
            raise SearchError(f"query vector has dim {v.shape[0]}, space {space.space_id} has {space.dim}")
        return v
    passage = start_s is not None or end_s is not None
    if recording_id is not None and not passage:
        es = store.load(space, recording_ids=[recording_id], with_metadata=False)
        if len(es):
            return es.vectors.mean(axis=0) if space.level == "window" else es.vectors[0]
    path = query_path if query_path is not None else stored_path
    if path is None or not Path(path).is_file():
        if recording_id is not None and passage:
            stored = _stored_passage(store, win_space, recording_id, start_s, end_s)
            if stored is not None:
                return stored
        raise SearchError(
            f"cannot read the query audio ({path})", hint="the file moved? give it with --query"
        )
    return _embedded(store, space, Path(path), start_s=start_s, end_s=end_s, pooling=pooling)


def _stored_passage(
    store: Store, win_space: Space, recording_id: str, start_s: float | None, end_s: float | None
) -> np.ndarray | None:
    """Mean of the stored windows overlapping the passage (the audio is gone); ``None`` when none overlaps."""
    es = store.load(win_space, recording_ids=[recording_id], with_metadata=False)
    a = start_s or 0.0
    b = end_s if end_s is not None else float("inf")
    m = (es.start_s < b) & (es.end_s > a)
    return es.vectors[m].mean(axis=0) if m.any() else None


def _embedded(
    store: Store, space: Space, path: Path, *, start_s: float | None, end_s: float | None, pooling: str
) -> np.ndarray:
    """Embed the audio like the space's setup (its source setup for a projected space), then map it if projected."""
    transform = transform_for_provenance(space.provenance, space_id=space.space_id)
    setup = source_setup_of(space.provenance) or space.setup_key
    qe = embed_file(path, store=store, setup_key=setup, start_s=start_s, end_s=end_s)
    passage = start_s is not None or end_s is not None
    if passage or space.level == "window":
        v = qe.passage_vector(space.layer)
    else:
        v = qe.pooled(pooling)[space.layer]
    if transform is not None:
        v = transform.apply(v[None].astype(np.float32))[0]
    return v
