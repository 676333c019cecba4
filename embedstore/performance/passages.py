"""Two-stage passage search: window candidates from the vector index, then subsequence DTW around them.

Stage 1 asks :func:`embedstore.search.search` for the best-matching windows (any encoder's window space).
Stage 2 aligns the query passage's frame sequence (CENS chroma at :data:`~embedstore.alignment.features.
STORED_RATE` frames/s) with the candidate recording's sequence around its candidate windows (the windows widened
by ``margin`` query lengths on both sides, overlapping regions merged) by subsequence DTW
(:func:`embedstore.alignment.subsequence.find_matches`). A hit then carries frame-accurate ``start_s``/``end_s``,
the alignment ``cost``, a ``confidence`` and a ``margin`` (how much better than the next-best place in the same
recording: near 0 when the music repeats the passage), beside the window score that proposed it. Hits are
ranked by confidence.

Frame sequences are computed from the recordings' audio (cached on disk, see
:mod:`embedstore.performance.sources`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from embedstore.alignment.features import FRAME_RATE, STORED_RATE, FrameFeatures
from embedstore.alignment.refine import Candidate, refine_candidates
from embedstore.errors import ConfigError
from embedstore.performance.sources import cached_features
from embedstore.search import Hit, search
from embedstore.store import Store

__all__ = ["PassageHit", "PassageResult", "passage_features", "refine_hits", "passage_search"]


@dataclass
class PassageHit:
    """A passage found by subsequence DTW around a window hit."""

    recording_id: str
    path: str
    start_s: float
    end_s: float
    cost: float
    confidence: float
    window_score: float
    window_start_s: float
    window_end_s: float
    margin: float = float("nan")
    metadata: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        """JSON-ready fields; metadata columns follow (as in :meth:`embedstore.search.Hit.as_dict`)."""
        d = {
            "recording_id": self.recording_id,
            "path": self.path,
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "cost": round(self.cost, 5),
            "confidence": round(self.confidence, 4),
            "margin": None if self.margin != self.margin else round(self.margin, 4),
            "window_score": round(self.window_score, 6),
            "window_start_s": round(self.window_start_s, 3),
            "window_end_s": round(self.window_end_s, 3),
        }
        for k, v in self.metadata.items():
            if k not in d and k not in ("content_hash", "added_at"):
                d[k] = v
        return d


@dataclass
class PassageResult:
    """Hits and where the time went (``candidates``, ``features``, ``dtw``, ``total``, seconds)."""

    hits: list[PassageHit]
    space: str
    timings: dict

    def as_dict(self) -> dict:
        """JSON-ready result."""
        return {
            "space": self.space,
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
            "hits": [h.as_dict() for h in self.hits],
        }


def passage_features(path: str | Path, *, cache: bool = True) -> FrameFeatures:
    """The frame sequence passage search compares: CENS chroma at ``STORED_RATE`` frames/s of a recording."""
    f = cached_features(path, onsets=False, cache=cache)
    return f.downsample(int(round(FRAME_RATE / STORED_RATE)))


def refine_hits(
    hits: list[Hit],
    query: FrameFeatures,
    *,
    margin: float = 1.0,
    per_recording: bool = True,
    features_of: Callable[[str], FrameFeatures] = passage_features,
) -> list[PassageHit]:
    """Subsequence DTW of a query sequence around window hits (:func:`embedstore.alignment.refine.refine_candidates`).

    Parameters
    ----------
    hits : list of Hit
        Window hits (``embedstore.search.search(..., windows=True)``).
    query : FrameFeatures
        The query passage's sequence (CENS rows at the same rate as ``features_of`` gives).
    margin : float
        Widen each candidate window by this many query lengths on both sides.
    per_recording : bool
        Keep only the best match of each recording (else one per merged candidate region).
    features_of : callable
        ``path -> FrameFeatures`` of a candidate recording (default :func:`passage_features`).

    Returns
    -------
    list of PassageHit, by decreasing confidence
    """
    by_cand: dict[Candidate, Hit] = {}
    paths: dict[str, str] = {}
    for h in hits:
        c = Candidate(h.recording_id, float(h.start_s), float(h.end_s), float(h.score))
        by_cand[c] = h
        paths.setdefault(h.recording_id, h.path)
    found = refine_candidates(
        query, list(by_cand), lambda key: features_of(paths[key]), margin=margin, per_key=per_recording
    )
    out = []
    for c, m in found:
        h = by_cand[c]
        out.append(
            PassageHit(
                recording_id=c.key,
                path=h.path,
                start_s=m.start_s,
                end_s=m.end_s,
                cost=m.cost,
                confidence=m.confidence,
                window_score=c.score,
                window_start_s=c.start_s,
                window_end_s=c.end_s,
                margin=m.margin,
                metadata=dict(h.metadata),
            )
        )
    return out


def passage_search(
    store: Store,
    *,
    start_s: float,
    end_s: float,
    query_path: str | Path | None = None,
    recording_id: str | None = None,
    k: int = 10,
    where: str | None = None,
    encoder: str | None = None,
    exclude_same_recording: bool = False,
    candidates: int = 50,
    margin: float = 1.0,
    per_recording: bool = True,
    backend: str = "auto",
    cache: bool = True,
) -> PassageResult:
    """Find a passage in a store, frame-accurately.

    Parameters
    ----------
    store : Store
    start_s, end_s : float
        The passage of the query recording, seconds.
    query_path, recording_id : one of them
        The query: an audio file or a stored recording key.
    k : int
        Hits to return.
    where, encoder, exclude_same_recording, backend
        As for :func:`embedstore.search.search` (stage 1).
    candidates : int
        Window hits taken from stage 1.
    margin : float
        Search window around a candidate, in query lengths on each side.
    per_recording : bool
        One hit per recording (the best), or one per candidate region.
    cache : bool
        Use the feature cache.

    Returns
    -------
    PassageResult
    """
    t0 = time.perf_counter()
    if not end_s > start_s:
        raise ConfigError(f"need end_s > start_s, got {start_s!r}..{end_s!r}")
    res = search(
        store,
        query_path=query_path,
        recording_id=recording_id,
        start_s=start_s,
        end_s=end_s,
        windows=True,
        k=max(k, candidates),
        where=where,
        encoder=encoder,
        exclude_same_recording=exclude_same_recording,
        backend=backend,  # type: ignore[arg-type]  # validated by search()
    )
    t1 = time.perf_counter()
    qpath = query_path if query_path is not None else store.recording(str(recording_id))["path"]
    q = passage_features(qpath, cache=cache).slice(start_s, end_s)
    t2 = time.perf_counter()
    hits = refine_hits(
        res.hits,
        q,
        margin=margin,
        per_recording=per_recording,
        features_of=lambda p: passage_features(p, cache=cache),
    )
    t3 = time.perf_counter()
    timings = {"candidates": t1 - t0, "query_features": t2 - t1, "dtw": t3 - t2, "total": t3 - t0}
    return PassageResult(hits=hits[:k], space=res.space, timings=timings)
