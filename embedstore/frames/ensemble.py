"""Blending a frame model's beat / downbeat activations with another tracker's (e.g. madmom's RNN ensemble).

:func:`blend` mixes the two per-frame probabilities linearly; :func:`tune_blend` picks the mixing weight that scores
best (mean of beat and downbeat F-measure after madmom's DBN decoder) on validation clips, which must never be the
clips the blend is then scored on.
"""

from __future__ import annotations

import numpy as np

from embedstore.errors import ConfigError
from embedstore.frames.evaluate import beat_f_measure

#: Candidate weights of our model's activations (1 - weight goes to the other tracker's).
BLEND_WEIGHTS = (0.0, 0.5, 1.0)


def blend(ours: dict, other: dict, weight: float) -> dict:
    """``weight * ours + (1 - weight) * other`` for ``beat`` and ``downbeat``; the other keys come from ``ours``.

    Parameters
    ----------
    ours, other : dict of np.ndarray, shape (n_frames,) each, probabilities on one frame grid
        ``other`` may be a few frames shorter or longer (padded with 0 / cut to ``ours``).
    weight : float in [0, 1]
    """
    if not 0.0 <= weight <= 1.0:
        raise ConfigError(f"blend weight must lie in [0, 1], got {weight!r}")
    out = dict(ours)
    for k in ("beat", "downbeat"):
        a = np.asarray(ours[k], dtype=np.float64)
        b = np.zeros_like(a)
        o = np.asarray(other[k], dtype=np.float64)[: len(a)]
        b[: len(o)] = o
        out[k] = weight * a + (1.0 - weight) * b
    return out


def tune_blend(
    ours: list[dict],
    other: list[dict],
    refs: list[dict],
    *,
    frame_rate: float,
    dbn: dict,
    weights=BLEND_WEIGHTS,
) -> dict:
    """The weight of ``weights`` whose blend decodes best on the given (validation) clips.

    Parameters
    ----------
    ours, other : list of dict with ``beat`` and ``downbeat`` activations, one per clip
    refs : list of dict with ``beats`` and ``downbeats`` (seconds; clips with ``beats`` None are skipped)
    dbn : dict
        Options of :func:`embedstore.encoders.madmom_rnn.track_downbeats` (``min_bpm``, ``max_bpm``,
        ``transition_lambda``).

    Returns
    -------
    dict with ``weight`` and ``score`` (mean over clips of the mean of beat and downbeat F-measure) and ``scores``
    (weight -> score).
    """
    from embedstore.encoders.madmom_rnn import track_downbeats

    use = [i for i, r in enumerate(refs) if r.get("beats") is not None]
    scores = {}
    for w in weights:
        s = []
        for i in use:
            a = blend(ours[i], other[i], float(w))
            b, d = track_downbeats(a["beat"], a["downbeat"], frame_rate=frame_rate, **dbn)
            s.append(0.5 * (beat_f_measure(refs[i]["beats"], b) + beat_f_measure(refs[i]["downbeats"], d)))
        scores[float(w)] = float(np.mean(s)) if s else 0.0
    best = max(scores, key=lambda w: (scores[w], w))
    return {"weight": best, "score": scores[best], "scores": scores}
