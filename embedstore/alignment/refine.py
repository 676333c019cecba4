"""Refine window candidates into frame-accurate passage matches (stage 2 of passage search).

Task
    Window search proposes where a query passage may be (recording, window start/end, score). For each recording,
    the candidate windows are widened by ``margin`` query lengths on both sides, overlapping ones merged into
    regions, and subsequence DTW (:func:`embedstore.alignment.subsequence.find_matches`) finds the passage inside
    each region. The best region of a recording also gets the gap to its runner-up region as a margin.

Pure: frame sequences come from a callable (the store, a cache or the audio), so any caller (search over stored
sequences, the performance layer over audio) uses the same refinement.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from embedstore.alignment.sequence import FrameFeatures
from embedstore.alignment.subsequence import Match, find_matches
from embedstore.errors import ConfigError, check_choice

__all__ = ["Candidate", "merge_regions", "refine_candidates"]


@dataclass(frozen=True)
class Candidate:
    """A window proposed by stage 1: recording ``key``, ``start_s``-``end_s`` (s), similarity ``score``."""

    key: str
    start_s: float
    end_s: float
    score: float


def merge_regions(
    candidates: Sequence[Candidate], *, pad_s: float, duration_s: float
) -> list[tuple[float, float, Candidate]]:
    """Candidate windows widened by ``pad_s`` (clipped to the recording), overlapping ones merged.

    Returns
    -------
    list of (start_s, end_s, best candidate of the region), in time order
    """
    spans = sorted(
        ((max(0.0, c.start_s - pad_s), min(duration_s, c.end_s + pad_s), c) for c in candidates),
        key=lambda x: (x[0], x[1]),
    )
    out: list[list] = []
    for a, b, c in spans:
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
            if c.score > out[-1][2].score:
                out[-1][2] = c
        else:
            out.append([a, b, c])
    return [(a, b, c) for a, b, c in out]


def refine_candidates(
    query: FrameFeatures,
    candidates: Sequence[Candidate],
    sequence_of: Callable[[str], FrameFeatures],
    *,
    margin: float = 1.0,
    per_key: bool = True,
    order: Literal["confidence", "score"] = "confidence",
) -> list[tuple[Candidate, Match]]:
    """Subsequence DTW of a query sequence around candidate windows.

    Parameters
    ----------
    query : FrameFeatures
        The query passage (CENS chroma rows, same frame rate as the recordings' sequences).
    candidates : sequence of Candidate
    sequence_of : callable
        ``key -> FrameFeatures`` of a candidate recording (called once per key).
    margin : float
        Widen each candidate window by this many query lengths on both sides.
    per_key : bool
        Keep only the best match of each recording (else one per region).
    order : {"confidence", "score"}
        Rank the results by the match's confidence (then cost), or by the proposing window's score.

    Returns
    -------
    list of (Candidate that proposed the region, Match)
    """
    check_choice("order", order, ("confidence", "score"))
    if len(query) < 2:
        raise ConfigError("the query passage is too short", hint="use --start/--end at least a second apart")
    by_key: dict[str, list[Candidate]] = {}
    for c in candidates:
        by_key.setdefault(c.key, []).append(c)
    out: list[tuple[Candidate, Match]] = []
    for key, cs in by_key.items():
        seq = sequence_of(key)
        if abs(seq.frame_rate - query.frame_rate) > 1e-9:
            raise ConfigError(f"frame rates differ: query {query.frame_rate:g}, {key} {seq.frame_rate:g}")
        found = []
        for a, b, c in merge_regions(cs, pad_s=margin * query.duration_s, duration_s=seq.duration_s):
            seg = seq.slice(a, b)
            m = find_matches(
                query.chroma, seg.chroma, frame_rate=seq.frame_rate, offset_s=seg.provenance["offset_s"]
            )
            if m:
                found.append((c, m[0]))
        found.sort(key=lambda x: (-x[1].confidence, x[1].cost))
        if len(found) > 1:  # the best match of another region is an alternative too
            c0, m0 = found[0]
            gap = (found[1][1].cost - m0.cost) / m0.reference
            if not m0.margin <= gap:
                found[0] = (c0, _with_margin(m0, gap))
        out += found[:1] if per_key else found
    if order == "score":
        out.sort(key=lambda x: -x[0].score)
    else:
        out.sort(key=lambda x: (-x[1].confidence, x[1].cost))
    return out


def _with_margin(m: Match, margin: float) -> Match:
    return Match(m.start_s, m.end_s, m.cost, m.reference, m.confidence, m.path, float(np.float64(margin)))
