"""Which moment of a neighbour corresponds to a moment of the reference (the page's A/B switch).

Task
    For each search hit, a *time map* between the reference (the query recording) and the neighbour, so that
    switching players keeps the listener at the same place in the music.

Time maps
    A time map is ``{"method": str, "ref_s": [t0, t1, ...], "hit_s": [u0, u1, ...], "ref_passage": [a, b],
    "hit_passage": [c, d]}``: anchor pairs in seconds, increasing in both recordings, and the two matching
    passages (for display). Between anchors a time is interpolated linearly; before the first and after the
    last anchor it is shifted with slope 1 from the nearest anchor (:func:`map_time`; the page's ``mapTime`` in
    ``static/app.js`` is the same rule). The rule is the same for any number of anchors, so an alignment path
    (``embedstore align``) can replace :func:`time_maps` without touching the page.

Method used now: ``passage-offset``
    One anchor: the starts of the matching passages (so a time moves by the passages' offset). The hit's passage
    is its best window (``start_s``..``end_s``); the reference's passage is the queried passage (``start``/``end``)
    when there is one, else the reference's stored window most similar to the hit's window, else (an uploaded
    file not in the store) the same seconds as the hit's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import numpy as np

from embedstore.search import Hit
from embedstore.serve.catalog import RECHECK_S
from embedstore.store import EmbeddingSet, Space, Store


class WindowVectors:
    """Window vectors of a space grouped by recording, loaded once per table version (thread-safe).

    The table's version is checked at most every :data:`RECHECK_S` seconds.
    """

    def __init__(self, store: Store):
        self.store = store
        self._lock = threading.Lock()
        self._loaded: dict[str, tuple[int, EmbeddingSet, dict[str, slice]]] = {}
        self._checked: dict[str, float] = {}

    def _get(self, space: Space) -> tuple[EmbeddingSet, dict[str, slice]]:
        sid = space.space_id
        have = self._loaded.get(sid)
        if have is not None and time.monotonic() - self._checked.get(sid, 0.0) < RECHECK_S:
            return have[1], have[2]
        version = self.store.table_version(space.table_name)
        with self._lock:
            self._checked[sid] = time.monotonic()
            have = self._loaded.get(sid)
            if have is None or have[0] != version:
                es = self.store.load(space, with_metadata=False)
                ids = np.asarray(es.recording_ids, dtype=object)
                bounds = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1], True]) if len(ids) else []
                rows = {str(ids[a]): slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])}
                norms = np.linalg.norm(es.vectors, axis=1, keepdims=True)
                es.vectors = es.vectors / np.maximum(norms, 1e-12)
                self._loaded = {sid: (version, es, rows)}  # one space at a time
                have = self._loaded[sid]
            return have[1], have[2]

    def of(self, space: Space, recording_id: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(start_s (w,), end_s (w,), unit vectors (w, dim))`` of one recording (empty arrays if unknown)."""
        es, rows = self._get(space)
        sl = rows.get(recording_id)
        if sl is None:
            return np.zeros(0), np.zeros(0), np.zeros((0, space.dim), np.float32)
        return es.start_s[sl], es.end_s[sl], es.vectors[sl]


def time_maps(
    hits: Sequence[Hit],
    *,
    windows: WindowVectors | None,
    window_space: Space | None,
    query_recording_id: str | None,
    query_passage: tuple[float, float] | None,
) -> list[dict]:
    """A time map from the reference to each hit (see the module docstring).

    Parameters
    ----------
    hits : search hits, each with its best-matching window ``start_s``..``end_s`` (seconds)
    windows, window_space : stored window vectors, used to find the reference's passage matching each hit
    query_recording_id : the reference's recording id (``None`` for an uploaded file not in the store)
    query_passage : the queried passage ``(start_s, end_s)`` of the reference, if the query was a passage

    Returns
    -------
    list of dict, one ``{"method", "ref_s", "hit_s", "ref_passage", "hit_passage"}`` per hit
    """
    ref_windows = None
    if query_passage is None and query_recording_id is not None and windows is not None and window_space:
        ref_windows = windows.of(window_space, query_recording_id)
        if not len(ref_windows[0]):
            ref_windows = None
    out = []
    for h in hits:
        hit_s = [float(h.start_s), float(h.end_s)]
        ref_s = list(hit_s)
        if query_passage is not None:
            ref_s = [float(query_passage[0]), float(query_passage[1])]
        elif ref_windows is not None:
            hs, he, hv = windows.of(window_space, h.recording_id)
            j = np.flatnonzero(np.isclose(hs, h.start_s, atol=1e-3))
            if len(j):
                i = int(np.argmax(ref_windows[2] @ hv[j[0]]))
                ref_s = [float(ref_windows[0][i]), float(ref_windows[1][i])]
        out.append(
            {
                "method": "passage-offset",
                "ref_s": _r(ref_s[:1]),
                "hit_s": _r(hit_s[:1]),
                "ref_passage": _r(ref_s),
                "hit_passage": _r(hit_s),
            }
        )
    return out


def _r(xs: Sequence[float]) -> list[float]:
    return [round(float(x), 3) for x in xs]


def map_time(t: float, time_map: dict, *, to: str = "hit") -> float:
    """Map a time (seconds) of the reference to the hit (``to="hit"``) or back (``to="ref"``).

    Linear between anchors, slope 1 outside them, never below 0.
    """
    src = np.asarray(time_map["ref_s" if to == "hit" else "hit_s"], dtype=float)
    dst = np.asarray(time_map["hit_s" if to == "hit" else "ref_s"], dtype=float)
    if t <= src[0]:
        y = dst[0] + (t - src[0])
    elif t >= src[-1]:
        y = dst[-1] + (t - src[-1])
    else:
        y = float(np.interp(t, src, dst))
    return max(0.0, float(y))
