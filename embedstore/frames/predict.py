"""Analyse a recording with a saved frame model: dynamics curve, change points, beats and downbeats.

All times are seconds from the start of the recording, inside ``[0, duration]``. Dynamics levels are the
DERIVED velocity classes of :mod:`embedstore.frames.targets` (pp..ff), smoothed per beat.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from embedstore.audio import load_audio
from embedstore.frames.changepoints import loudness_frames
from embedstore.frames.ensemble import apply_blend
from embedstore.frames.inference import predict_activations, with_dynamics_from
from embedstore.frames.postprocess import events_from_activations
from embedstore.frames.targets import DYNAMICS_LEVELS


@dataclass
class FrameAnalysis:
    """Outputs of a frame model on one recording.

    Attributes
    ----------
    duration : float
        Seconds.
    frame_rate : float
        Frames/s of ``levels`` and ``activations``.
    levels : np.ndarray, shape (n_frames,), int64
        Dynamics level per frame (0 = pp ... 5 = ff), constant within a beat.
    beats, downbeats, change_points : np.ndarray
        Event times, seconds.
    activations : dict
        ``dynamics`` (n_frames, 6), ``beat``, ``downbeat``, ``change`` (n_frames,) probabilities.
    """

    duration: float
    frame_rate: float
    levels: np.ndarray
    beats: np.ndarray
    downbeats: np.ndarray
    change_points: np.ndarray
    activations: dict = field(default_factory=dict)
    path: str | None = None
    model: dict = field(default_factory=dict)

    def segments(self) -> list[dict]:
        """Runs of constant level: ``{"start", "end", "level"}``."""
        out = []
        lv = self.levels
        if len(lv) == 0:
            return out
        starts = np.concatenate([[0], np.flatnonzero(np.diff(lv) != 0) + 1])
        ends = np.concatenate([starts[1:], [len(lv)]])
        for s, e in zip(starts, ends):
            out.append(
                {
                    "start": round(s / self.frame_rate, 3),
                    "end": round(min(e / self.frame_rate, self.duration), 3),
                    "level": DYNAMICS_LEVELS[int(lv[s])],
                }
            )
        return out

    def as_dict(self, *, curve_rate: float = 10.0) -> dict:
        """JSON-ready dict; the dynamics curve is sampled at ``curve_rate`` points per second."""
        step = max(1, int(round(self.frame_rate / curve_rate)))
        idx = np.arange(0, len(self.levels), step)
        times = idx / self.frame_rate
        lv = self.levels[idx]
        probs = self.activations.get("dynamics")
        loud = None
        if probs is not None and len(probs):
            # expected level (0..5) from the class probabilities: a continuous curve
            loud = np.round((probs[idx] * np.arange(len(DYNAMICS_LEVELS))).sum(axis=1), 3).tolist()

        def r(a):
            return [round(float(x), 3) for x in np.asarray(a)]

        return {
            "path": self.path,
            "duration_s": round(float(self.duration), 3),
            "levels": list(DYNAMICS_LEVELS),
            "times": r(times),
            "dynamics": [DYNAMICS_LEVELS[int(i)] for i in lv],
            "dynamics_index": [int(i) for i in lv],
            "dynamics_expected": loud,
            "beats": r(self.beats),
            "downbeats": r(self.downbeats),
            "change_points": r(self.change_points),
            "segments": self.segments(),
            "model": self.model,
        }


def analyze_samples(
    saved, samples: np.ndarray, sample_rate: int, *, path: str | None = None
) -> FrameAnalysis:
    """Run a :class:`~embedstore.frames.persist.SavedFrameModel` on a mono signal."""

    x = np.asarray(samples, dtype=np.float32)
    duration = len(x) / float(sample_rate)
    feats = saved.featurizer(x, sample_rate)
    fr = saved.frame_rate
    act = predict_activations(saved.model, feats, frame_rate=fr)
    act = apply_blend(with_dynamics_from(act, saved.dynamics_model, feats, frame_rate=fr), feats, saved.blend)
    ev = events_from_activations(
        act, frame_rate=fr, thresholds=saved.thresholds, beat_method=saved.beat_method
    )

    changes = ev["change_points"]
    det = saved.change_detector
    if det is not None:  # velocity regression + the labels' quantiser (bench/results/changepoints.md)
        changes = det.change_points(loudness_frames(x, sample_rate, frame_rate=det.frame_rate))

    def clip(t):
        t = np.asarray(t, dtype=np.float64)
        return t[(t >= 0) & (t <= duration)]

    info = {
        "path": saved.path,
        "kind": saved.config["model"]["kind"],
        "encoder": saved.config["features"]["encoder"],
        "layer": saved.config["features"]["layer"],
        "change_points": "velocity detector" if det is not None else "change head",
        "blend": None if saved.blend is None else {k: saved.blend[k] for k in ("part", "weight")},
        "dynamics_model": None if saved.dynamics_model is None else saved.dynamics_model.kind,
    }
    return FrameAnalysis(
        duration,
        fr,
        ev["levels"],
        clip(ev["beats"]),
        clip(ev["downbeats"]),
        clip(changes),
        act,
        path=path,
        model=info,
    )


def analyze_file(saved, path) -> FrameAnalysis:
    """Load an audio file (at the featurizer's encoder rate) and analyse it."""

    audio = load_audio(path, sample_rate=saved.featurizer.sample_rate)
    return analyze_samples(saved, audio.samples, audio.sample_rate, path=str(path))
