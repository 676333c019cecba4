"""Search with the stored frame sequences: frame-accurate passages, and interpretation curves.

Passages

When the searched setup (or, for a projected space, its source setup) stores frame sequences
(:mod:`embedstore.store.sequences`, ``index --frames``), each hit's recording is searched for the query passage by
subsequence DTW around the hit's windows (:func:`embedstore.alignment.refine.refine_candidates`; all candidate
sequences are read in one store query). A refined hit gets the matching stretch as ``start_s``/``end_s`` and an
``alignment`` entry: ``cost``, ``confidence``, ``margin`` (near 0 when the music repeats the passage) and the
window that proposed it. Hits keep the order of their windows' scores (overlapping candidate windows of a recording
merge into one region, so ``--windows`` returns distinct passages); hits whose recording has no stored sequence
follow unrefined.

Interpretation curves (``search --mode interpretation --features curves``)
The other performances of the query's piece are ranked by how closely their tempo and loudness curves, relative
to the consensus of the piece's performances, follow the query's (:func:`embedstore.alignment.compare.
rank_by_curves`, aligned on the stored sequences). A hit's ``score`` is the mean curve correlation; its
``alignment`` entry holds ``tempo_corr`` and ``loudness_corr``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from embedstore.alignment.compare import rank_by_curves
from embedstore.alignment.features import index_sequence
from embedstore.alignment.refine import Candidate, refine_candidates
from embedstore.alignment.sequence import FrameFeatures
from embedstore.audio import load_audio
from embedstore.errors import SearchError
from embedstore.search.results import Hit
from embedstore.store import Space, Store
from embedstore.transforms import source_setup_of

__all__ = ["frames_space_for", "refine_passage_hits", "curve_hits"]


def frames_space_for(store: Store, space: Space) -> Space | None:
    """The sequence space that goes with a searched space (its own setup's, else its source setup's)."""
    seq = store.sequence_space(space.setup_key)
    src = source_setup_of(space.provenance)
    if seq is None and src:
        seq = store.sequence_space(src)
    return seq


def _features(frames: np.ndarray, seq: Space) -> FrameFeatures:
    return FrameFeatures.from_compact(frames, float(seq.provenance["frame_rate"]), seq.provenance)


def refine_passage_hits(
    store: Store,
    seq: Space,
    hits: list[Hit],
    *,
    query_recording_id: str | None,
    query_path: str | Path | None,
    start_s: float,
    end_s: float | None,
    per_recording: bool = True,
) -> list[Hit]:
    """Refined copies of passage hits (see the module docstring).

    Parameters
    ----------
    store : Store
    seq : Space
        The sequence space (:func:`frames_space_for`).
    hits : list of Hit
        Window hits of a passage query.
    query_recording_id : str or None
        The query's stored recording (its stored sequence is used when present).
    query_path : str, Path or None
        The query's audio (used when the query has no stored sequence).
    start_s, end_s : float
        The passage, seconds (``end_s=None``: to the end of the query).
    per_recording : bool
        One hit per recording (the best region), else one per candidate region.

    Returns
    -------
    list of Hit
    """
    rids = list(dict.fromkeys(h.recording_id for h in hits))
    stored = store.load_sequences(seq, rids + ([query_recording_id] if query_recording_id else []))
    if query_recording_id in stored:
        q = _features(stored[query_recording_id], seq)
    elif query_path is not None:
        audio = load_audio(query_path)
        q = _features(index_sequence(audio.samples, audio.sample_rate), seq)
    else:
        raise SearchError("the passage query has neither a stored frame sequence nor audio")
    q = q.slice(start_s, q.duration_s if end_s is None else end_s)
    by_cand = {Candidate(h.recording_id, float(h.start_s), float(h.end_s), float(h.score)): h for h in hits}
    have = [c for c in by_cand if c.key in stored]
    found = refine_candidates(
        q, have, lambda key: _features(stored[key], seq), per_key=per_recording, order="score"
    )
    out = []
    for c, m in found:
        h = by_cand[c]
        out.append(
            replace(
                h,
                start_s=m.start_s,
                end_s=m.end_s,
                alignment={
                    "cost": round(m.cost, 5),
                    "confidence": round(m.confidence, 4),
                    "margin": None if not np.isfinite(m.margin) else round(m.margin, 4),
                    "window_start_s": round(float(h.start_s), 3),
                    "window_end_s": round(float(h.end_s), 3),
                },
            )
        )
    rest = [h for h in hits if h.recording_id not in stored]
    if per_recording:  # the best window of each recording without a sequence
        rest = list({h.recording_id: h for h in reversed(rest)}.values())[::-1]
    return out + rest


def curve_hits(
    store: Store,
    seq: Space,
    candidates: list[str],
    *,
    query_recording_id: str | None,
    query_path: str | Path | None,
    k: int,
) -> list[Hit]:
    """Hits ranked by interpretation-curve similarity (see the module docstring).

    Parameters
    ----------
    store : Store
    seq : Space
        The sequence space.
    candidates : list of str
        Recording ids of the other performances of the query's piece (the query's own id may be among them).
    query_recording_id : str or None
        The query's stored recording.
    query_path : str, Path or None
        The query's audio, used when it has no stored sequence.
    k : int
        Number of hits.

    Returns
    -------
    list of Hit
        ``start_s``/``end_s`` span the whole recording; ``window_index`` is -1.
    """
    wanted = [*candidates, *([query_recording_id] if query_recording_id else [])]
    stored = store.load_sequences(seq, list(dict.fromkeys(wanted)))
    key = query_recording_id if query_recording_id in stored else "__query__"
    if key == "__query__":
        if query_path is None:
            raise SearchError("the query has neither a stored frame sequence nor audio")
        audio = load_audio(query_path)
        stored[key] = index_sequence(audio.samples, audio.sample_rate)
    perfs = {r: _features(a, seq) for r, a in stored.items() if r in candidates or r == key}
    if len(perfs) < 2:
        raise SearchError(
            "no other performance of the query's piece has a stored frame sequence",
            hint="index the performances with `embedstore index ... --frames`",
        )
    hits = []
    for d in rank_by_curves(key, perfs)[:k]:
        f = perfs[d["key"]]
        hits.append(
            Hit(
                recording_id=d["key"],
                path="",
                score=float(np.nan_to_num(d["score"], nan=-1.0)),
                start_s=0.0,
                end_s=round(f.duration_s, 3),
                window_index=-1,
                alignment={
                    "tempo_corr": None if not np.isfinite(d["tempo_corr"]) else round(d["tempo_corr"], 4),
                    "loudness_corr": None
                    if not np.isfinite(d["loudness_corr"])
                    else round(d["loudness_corr"], 4),
                },
            )
        )
    return hits
