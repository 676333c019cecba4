"""The query vector of a search, in the space being searched.

- a vector given by the caller is used as it is (it must have the space's dimension);
- a stored recording (whole-recording query) uses its stored vector; a passage of a stored recording on the
  setup's window grid (from a window's start to a window's end or the recording's end) uses the stored windows it
  is made of (:func:`stored_grid_passage`), so nothing is decoded or embedded; with no audio for any other
  passage, the stored windows overlapping the passage are averaged;
- otherwise the audio (a file, or the stored recording's file) is embedded exactly as the setup was indexed
  (:func:`embedstore.query.embed_file`). For a projected space the query is embedded with the source setup and then
  mapped by the space's stored transform (:mod:`embedstore.transforms`, numpy only).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from embedstore.errors import SearchError
from embedstore.query import embed_file
from embedstore.store import Space, Store, sql_quote, window_weights
from embedstore.transforms import source_setup_of, transform_for_provenance

#: Seconds within which a passage bound counts as on a stored window's start (window starts are sample-exact).
GRID_TOLERANCE_S = 2e-3


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
    warnings: list[str] | None = None,
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
    warnings : list of str, optional
        Appended to when the answer is an approximation the caller should be told about (a passage of a stored
        recording whose audio is gone, from the stored windows overlapping it).

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
    if recording_id is not None and passage and transform_for_provenance(space.provenance) is None:
        on_grid = stored_grid_passage(store, win_space, recording_id, start_s, end_s)
        if on_grid is not None:
            return on_grid
    path = query_path if query_path is not None else stored_path
    if path is None or not Path(path).is_file():
        if recording_id is not None and passage:
            stored = _stored_passage(store, win_space, recording_id, start_s, end_s)
            if stored is not None:
                if warnings is not None:
                    warnings.append(
                        f"the audio of recording {recording_id} is gone ({path}): the passage is the mean of the "
                        "stored windows that overlap it, not the passage itself"
                    )
                return stored
        raise SearchError(
            f"cannot read the query audio ({path})", hint="the file moved? give it with --query"
        )
    return _embedded(store, space, Path(path), start_s=start_s, end_s=end_s, pooling=pooling)


def stored_grid_passage(
    store: Store, win_space: Space, recording_id: str, start_s: float | None, end_s: float | None
) -> np.ndarray | None:
    """The vector of a passage on the setup's window grid, from the stored windows (nothing decoded or embedded).

    A passage is on the grid when it starts at a stored window's start and ends at a stored window's end, or at
    the end of the recording. Its vector is the mean of the stored windows it is made of, weighted by their share
    of audio like :meth:`embedstore.query.QueryEmbedding.passage_vector`. For a passage that runs to the end this
    is exactly what embedding it gives; for one that ends at a window's end, embedding would add one more window
    of which half or more is zero padding (:func:`embedstore.audio.frame_windows` keeps a last partial window), so
    the stored windows represent the passage's audio and nothing else.

    Returns
    -------
    np.ndarray or None
        (dim,) float32, or ``None`` when the passage is off the grid or shorter than a window (the caller embeds
        it).
    """
    setup = store.setups().get(win_space.setup_key)
    rec = store.recordings(f"recording_id = {sql_quote(recording_id)}")
    if setup is None or not len(rec):
        return None
    window_s, hop_s = float(setup["window_s"]), float(setup["hop_s"])
    duration = float(rec["duration_s"].iloc[0])
    a = max(0.0, float(start_s or 0.0))
    b = duration if end_s is None else min(duration, float(end_s))
    if b - a < window_s or window_s <= 0 or hop_s <= 0:
        return None
    es = store.load(win_space, recording_ids=[recording_id], with_metadata=False)
    tol = GRID_TOLERANCE_S
    if not len(es) or not np.any(np.abs(es.start_s - a) <= tol):
        return None
    if b >= duration - tol:  # to the end: exactly the windows embedding the passage would give
        starts = _window_starts(b - a, window_s, hop_s)
        rows = [np.flatnonzero(np.abs(es.start_s - (a + s0)) <= tol) for s0 in starts]
        if any(len(r) == 0 for r in rows):
            return None
        idx = np.array([int(r[0]) for r in rows])
        w = window_weights(starts, window_s, b - a)
    else:
        if not np.any(np.abs(es.start_s + window_s - b) <= tol):
            return None
        idx = np.flatnonzero((es.start_s >= a - tol) & (es.start_s + window_s <= b + tol))
        w = np.ones(len(idx), np.float32)
    w = w / max(float(w.sum()), 1e-9)
    return (es.vectors[idx] * w[:, None]).sum(axis=0).astype(np.float32)


def _window_starts(length: float, window_s: float, hop_s: float) -> np.ndarray:
    """Window starts (seconds from the passage start) of :func:`embedstore.audio.frame_windows` on a passage."""
    if length < window_s:
        return np.zeros(1)
    n_full = int(np.floor((length - window_s) / hop_s + 1e-9)) + 1
    starts = list(np.arange(n_full) * hop_s)
    nxt = n_full * hop_s
    if nxt < length and length - nxt >= window_s / 2:
        starts.append(nxt)
    return np.asarray(starts, dtype=np.float64)


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
