"""Blending a frame model's beat / downbeat activations with another tracker's (e.g. madmom's RNN ensemble).

:func:`blend` mixes the two per-frame probabilities linearly; :func:`tune_blend` picks the mixing weight that scores
best (mean of beat and downbeat F-measure after madmom's DBN decoder) on validation clips, which must never be the
clips the blend is then scored on. :func:`activations_from_features` reads the other tracker's activations out of
the model's own input features (the ``madmom`` part of ``madmom+bssl``: madmom's networks already ran, so a saved
model blends at no extra cost; ``train-frames`` stores the weight as ``postprocess.blend``).
"""

from __future__ import annotations

import numpy as np

from embedstore.errors import ConfigError
from embedstore.frames.evaluate import beat_f_measure

#: Candidate weights of our model's activations (1 - weight goes to the other tracker's).
BLEND_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


def activations_from_features(features, *, columns, compression: str = "none") -> dict:
    """The ``beat`` / ``downbeat`` probabilities stored in two feature columns (e.g. the ``madmom`` part).

    Parameters
    ----------
    features : np.ndarray, shape (n_frames, dim)
    columns : (int, int)
        ``(start, stop)`` of the part (:meth:`~embedstore.frames.features.FrameFeaturizer.part_columns`); its first
        two columns are (any beat, downbeat).
    compression : {"none", "log1p"}
        The featurizer's compression, undone here.

    Returns
    -------
    dict with ``beat`` and ``downbeat``, np.ndarray shape (n_frames,) each, in [0, 1]
    """
    a, b = int(columns[0]), int(columns[1])
    if b - a < 2:
        raise ConfigError(f"blend needs two activation columns, got columns {columns!r}")
    x = np.asarray(features, dtype=np.float64)[:, a : a + 2]
    if compression == "log1p":
        x = np.expm1(x)
    elif compression != "none":
        raise ConfigError(f"unknown compression {compression!r}; expected 'none' or 'log1p'")
    x = np.clip(x, 0.0, 1.0)
    return {"beat": x[:, 0], "downbeat": x[:, 1]}


def blend_config(featurizer, weight: float, *, part: str = "madmom") -> dict:
    """What a saved model stores to blend at inference: ``{"part", "columns", "compression", "weight"}``."""
    cols = featurizer.part_columns()
    if part not in cols:
        raise ConfigError(f"the features {featurizer.encoder!r} have no {part!r} part to blend with")
    return {
        "part": part,
        "columns": list(cols[part]),
        "compression": featurizer.compression,
        "weight": weight,
    }


def apply_blend(act: dict, features, cfg: dict | None) -> dict:
    """``act`` blended as ``cfg`` (from :func:`blend_config`) says; ``act`` itself when ``cfg`` is None."""
    if not cfg:
        return act
    other = activations_from_features(features, columns=cfg["columns"], compression=cfg["compression"])
    return blend(act, other, float(cfg["weight"]))


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


def fit_feature_blend(model, val_items, featurizer, *, thresholds: dict, part: str = "madmom") -> dict:
    """Choose the weight of ``model``'s activations against those of the features' ``part`` on validation items.

    Parameters
    ----------
    model : a trained frame model
    val_items : list of FrameItem
        Validation clips with beat annotations (never test clips).
    featurizer : FrameFeaturizer
        The features of ``val_items``; must have the ``part``.
    thresholds : dict
        The model's post-processing settings (the DBN's tempo range and penalty, :func:`dbn_options`).

    Returns
    -------
    dict: :func:`blend_config` plus ``scores`` (weight -> validation score) and ``n_val``
    """
    from embedstore.frames.inference import predict_activations
    from embedstore.frames.postprocess import dbn_options

    cfg = blend_config(featurizer, 1.0, part=part)
    use = [it for it in val_items if it.reference().get("beats") is not None]
    if not use:
        raise ConfigError("no validation clips with beat annotations to choose the blend weight on")
    res = tune_blend(
        [predict_activations(model, it.features, frame_rate=it.frame_rate) for it in use],
        [
            activations_from_features(it.features, columns=cfg["columns"], compression=cfg["compression"])
            for it in use
        ],
        [it.reference() for it in use],
        frame_rate=use[0].frame_rate,
        dbn=dbn_options(thresholds),
    )
    return cfg | {"weight": res["weight"], "scores": res["scores"], "n_val": len(use)}
