"""What a search returns: :class:`Hit` (one recording or window) and :class:`SearchResult` (hits, query, timings)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embedstore.store import EmbeddingSet

#: Recordings columns left out of a hit's JSON (internal bookkeeping).
HIDDEN_COLUMNS = ("content_hash", "added_at")


@dataclass
class Hit:
    """One search hit.

    Attributes
    ----------
    recording_id, path : str
    score : float
        Cosine similarity to the query (higher = more similar).
    start_s, end_s : float
        The hit window (for a recording hit: its window most similar to the query), seconds.
    window_index : int
        Window number (``-1`` for a pooled recording vector without a window attached).
    metadata : dict
        The recording's metadata columns (plus ``file_name`` and ``duration_s``).
    alignment : dict or None
        For a passage refined by subsequence DTW (:mod:`embedstore.search.frames`): ``cost``, ``confidence``,
        ``margin`` and the proposing window's ``window_start_s``/``window_end_s``.
    query_piece : dict or None
        Interpretation mode: ``{"piece": ..., "inferred": bool}``, the piece whose mean was removed from the query
        (``inferred`` when the query had no piece and the nearest piece mean was used).
    """

    recording_id: str
    path: str
    score: float
    start_s: float
    end_s: float
    window_index: int
    metadata: dict = field(default_factory=dict)
    alignment: dict | None = None
    query_piece: dict | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the hit's fields (rounded) followed by its metadata columns."""
        d: dict[str, Any] = {
            "recording_id": self.recording_id,
            "path": self.path,
            "score": round(float(self.score), 6),
            "start_s": round(float(self.start_s), 3),
            "end_s": round(float(self.end_s), 3),
            "window_index": int(self.window_index),
        }
        if self.alignment is not None:
            d["alignment"] = dict(self.alignment)
        if self.query_piece is not None:
            d["query_piece"] = dict(self.query_piece)
        for k, v in self.metadata.items():
            if k not in d and k not in HIDDEN_COLUMNS:
                d[k] = v
        return d


@dataclass
class SearchResult:
    """The hits of a search with what was searched.

    Attributes
    ----------
    hits : list of Hit
        Best first.
    query : dict
        Setup, layer, level and the query's recording id / path / passage.
    space : str
        Id of the space searched.
    backend : str
        The index that answered (e.g. ``exact``, ``hnsw (loaded)``).
    timings : dict
        Stage -> seconds (``embed_query``, ``filter``, ``search``, ``passages``, ``total``).
    warnings : list of str
        What the caller should know about how the answer was made (e.g. a passage approximated from stored
        windows because the audio is gone); printed by the CLI and in its JSON.
    """

    hits: list[Hit]
    query: dict
    space: str
    backend: str
    timings: dict
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (timings rounded to 0.1 ms)."""
        return {
            "query": self.query,
            "space": self.space,
            "backend": self.backend,
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
            "warnings": list(self.warnings),
            "hits": [h.as_dict() for h in self.hits],
        }


def hit_at(es: EmbeddingSet, row: int, score: float) -> Hit:
    """The hit for row ``row`` of a loaded space (path and metadata are attached later)."""
    return Hit(
        recording_id=str(es.recording_ids[row]),
        path="",
        score=float(score),
        start_s=float(es.start_s[row]),
        end_s=float(es.end_s[row]),
        window_index=int(es.window_index[row]),
    )


def hits_from_keys(es: EmbeddingSet, scores: np.ndarray, keys: np.ndarray) -> list[Hit]:
    """Hits of one query's top-k (scores, row keys); padding keys (< 0) are dropped."""
    pos = es.key_positions()
    return [hit_at(es, pos[int(kk)], s) for s, kk in zip(scores, keys) if kk >= 0]


def plain(value: Any) -> Any:
    """A metadata value as a plain Python value (numpy scalars unwrapped, NaN -> None)."""
    if isinstance(value, float) and np.isnan(value):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value
