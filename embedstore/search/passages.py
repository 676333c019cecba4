"""Passages: which window of a hit matches the query best, and window-by-window similarity of two recordings."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from embedstore.errors import StoreError
from embedstore.search.ranking import load_space, normalise
from embedstore.search.results import Hit
from embedstore.store import Space, Store


def attach_best_windows(store: Store, win_space: Space, hits: list[Hit], qvec: np.ndarray) -> None:
    """Set each recording-level hit's ``start_s``/``end_s``/``window_index`` to its window most similar to the query.

    Parameters
    ----------
    store : Store
    win_space : Space
        The window space of the searched setup and layer.
    hits : list of Hit
        Modified in place.
    qvec : np.ndarray
        (dim,) raw query vector (in the window space's units: same setup and layer).
    """
    es = load_space(store, win_space)
    q = normalise(qvec)
    m = np.isin(es.recording_ids, [h.recording_id for h in hits])
    if not m.any():
        return
    sims = normalise(es.vectors[m]) @ q
    rids, st_s, en_s, wi = es.recording_ids[m], es.start_s[m], es.end_s[m], es.window_index[m]
    for h in hits:
        sel = np.flatnonzero(rids == h.recording_id)
        if len(sel):
            j = sel[np.argmax(sims[sel])]
            h.start_s, h.end_s, h.window_index = float(st_s[j]), float(en_s[j]), int(wi[j])


def passage_similarity(
    store: Store | str | Path,
    recording_a: str,
    recording_b: str,
    *,
    encoder: str | None = None,
    layer: int | str | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Window-by-window cosine similarity of two stored recordings (for plots).

    Parameters
    ----------
    store : Store, str or Path
    recording_a, recording_b : str
        Recording ids, paths, file names or stems.
    encoder : str, optional
        Setup key or encoder name (optional when the store holds one setup).
    layer : int or str, optional
        Layer index or name (default: the last layer).

    Returns
    -------
    starts_a : np.ndarray
        (Wa,) window starts of recording a, seconds.
    starts_b : np.ndarray
        (Wb,) window starts of recording b, seconds.
    sim : np.ndarray
        (Wa, Wb) float32 cosine similarities.
    """
    st = store if isinstance(store, Store) else Store(store, create=False)
    sp = st.find_space(encoder=encoder, layer=layer, level="window")
    a = st.load(sp, recording_ids=[st.recording(recording_a)["recording_id"]], with_metadata=False)
    b = st.load(sp, recording_ids=[st.recording(recording_b)["recording_id"]], with_metadata=False)
    if not len(a) or not len(b):
        raise StoreError("no window vectors for one of the recordings")
    return a.start_s, b.start_s, normalise(a.vectors) @ normalise(b.vectors).T
