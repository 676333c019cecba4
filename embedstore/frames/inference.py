"""Inference with a frame model: activations of whole clips in overlapping chunks (:func:`predict_activations`),
post-processing into events and levels (:func:`postprocess_item`), thresholds tuned on validation clips
(:func:`tune_thresholds`) and the validation score used for early stopping (:func:`validation_score`).
"""

from __future__ import annotations

import numpy as np

from embedstore.frames.evaluate import (
    BEAT_WINDOW_S,
    CHANGE_TOLERANCE_S,
    evaluate_clips,
    event_counts,
    f1_from_counts,
)
from embedstore.frames.items import FrameItem
from embedstore.frames.postprocess import events_from_activations, pick_peaks, tune_dbn


def validation_score(model, items: list[FrameItem], *, beat_method: str = "dbn") -> tuple[float, dict]:
    """Mean of the beat, downbeat, dynamics and change-point F-measures on ``items`` (thresholds 0.5), and the
    per-task values."""

    clips = []
    for it in items:
        act = predict_activations(model, it.features, frame_rate=it.frame_rate)
        est = postprocess_item(act, frame_rate=it.frame_rate, thresholds={}, beat_method=beat_method)
        clips.append({"ref": it.reference(), "est": est})
    skip = ("change_from_levels", "meter", "beat_any_level")
    m = {k: v["value"] for k, v in evaluate_clips(clips, n_boot=0).items() if k not in skip}
    vals = [v for v in m.values() if np.isfinite(v)]
    model.train()
    return (float(np.mean(vals)) if vals else 0.0), m


def predict_activations(
    model, features: np.ndarray, *, chunk_s: float = 600.0, margin_s: float = 20.0, frame_rate: float = 50.0
) -> dict[str, np.ndarray]:
    """Per-frame probabilities of a trained model.

    Parameters
    ----------
    features : np.ndarray, shape (n_frames, dim)

    Returns
    -------
    dict: ``dynamics`` (n_frames, 6) softmax probabilities; ``change``, ``beat``, ``downbeat`` (n_frames,)
    sigmoid probabilities. Long inputs run in overlapping chunks (centres kept).
    """
    import torch

    x = np.asarray(features, dtype=np.float32)
    n = len(x)
    # multiples of 16 frames keep the phase of strided layers the same as in one pass over the whole input
    chunk = max(16, int(chunk_s * frame_rate) // 16 * 16)
    margin = int(np.ceil(margin_s * frame_rate / 16)) * 16
    model.eval()
    outs: dict[str, list] = {}
    with torch.no_grad():
        for s in range(0, max(n, 1), chunk):
            a, b = max(0, s - margin), min(n, s + chunk + margin)
            o = model(torch.from_numpy(x[a:b])[None])
            keep = slice(s - a, min(s + chunk, n) - a)
            for k, v in o.items():
                v = torch.softmax(v, dim=-1) if k == "dynamics" else torch.sigmoid(v)
                outs.setdefault(k, []).append(v[0, keep].numpy())
    return {k: np.concatenate(v).astype(np.float32) for k, v in outs.items()}


def with_dynamics_from(act: dict, dynamics_model, features: np.ndarray, *, frame_rate: float) -> dict:
    """``act`` with its ``dynamics`` probabilities replaced by those of ``dynamics_model`` on the same features (a
    saved model's ``dynamics/`` sub-model: e.g. the TCN for dynamics beside the linear head for beats); ``act``
    itself when ``dynamics_model`` is None."""
    if dynamics_model is None:
        return act
    dyn = predict_activations(dynamics_model, features, frame_rate=frame_rate)["dynamics"]
    return {**act, "dynamics": dyn}


def tune_thresholds(
    model,
    items: list[FrameItem],
    *,
    beat_method: str = "dbn",
    grid=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
) -> dict:
    """Peak-picking thresholds maximising the pooled F-measure on ``items`` (change points always; beats and
    downbeats in ``peaks`` mode)."""

    acts = [predict_activations(model, it.features, frame_rate=it.frame_rate) for it in items]
    refs = [it.reference() for it in items]
    th = {"beat": 0.5, "downbeat": 0.5, "change": 0.5}
    tasks = [("change", "change_points", CHANGE_TOLERANCE_S, 1.0)]
    if beat_method == "peaks":
        tasks += [("beat", "beats", BEAT_WINDOW_S, 0.2), ("downbeat", "downbeats", BEAT_WINDOW_S, 0.8)]
    for task, key, window, dist in tasks:
        use = [i for i, r in enumerate(refs) if r[key] is not None]
        if not use:
            continue
        scores = []
        for g in grid:
            c = np.array(
                [
                    event_counts(
                        refs[i][key],
                        pick_peaks(
                            acts[i][task], frame_rate=items[i].frame_rate, threshold=g, min_distance_s=dist
                        ),
                        window=window,
                    )
                    for i in use
                ]
            )
            scores.append(f1_from_counts(c[:, 0], c[:, 1], c[:, 2]))
        th[task] = float(grid[int(np.argmax(scores))])
    if beat_method == "madmom":
        th.update(
            tune_dbn([a["beat"] for a in acts], [a["downbeat"] for a in acts], refs, items[0].frame_rate)
        )
    return th


def postprocess_item(act: dict, *, frame_rate: float, thresholds: dict, beat_method: str = "dbn") -> dict:

    return events_from_activations(act, frame_rate=frame_rate, thresholds=thresholds, beat_method=beat_method)


# ------------------------------------------------------------------------------------------------ CV
