"""Dynamics change points decoded the way the labels are derived: velocity regression + the same quantiser.

Task: for a recording, the times (seconds from its start) where the DERIVED dynamics level (pp..ff, see
:mod:`embedstore.frames.targets`) changes. The reference change points come from the MIDI: the smoothed mean onset
velocity per beat, quantised with fixed velocity edges and a hysteresis. A peak-picked "change" head has to learn
that rule from ~5 positives per 30 s; this detector instead

1. regresses the smoothed onset velocity of every frame from Bark-scale specific loudness around it
   (:func:`velocity_features`: mean, max and positive flux over +-``context_s``, and the total loudness; a small
   MLP by default; ridge regression, or ``auto`` (whichever scores better on the inner validation split), on request);
2. averages the predicted velocity over a regular ``grid_s`` grid (beats are not needed), runs the same median
   filter and the same edge + hysteresis quantiser as the labels (:func:`changes_from_velocity`), with the
   hysteresis chosen on a grouped inner validation split (never on test data);
3. returns the grid times where the quantised level changes.

Units: features at ``frame_rate`` frames/s; velocities in MIDI units (1-127); times in seconds.
Persistence: ``changepoints.json`` + ``changepoints.safetensors`` (no pickle) in a frame model's folder.
Fitting: :mod:`embedstore.frames.changepoint_fit`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from embedstore.errors import ConfigError
from embedstore.frames.features import FrameFeaturizer
from embedstore.frames.targets import MEDIAN_BEATS, VELOCITY_EDGES, levels_with_hysteresis

#: Context either side of a frame for the velocity features, seconds.
CONTEXT_S = 0.5
#: Grid on which the predicted velocity is averaged and quantised, seconds (about one beat).
GRID_S = 0.5
#: Hysteresis values (velocity units) tried on the inner validation split.
HYSTERESIS_GRID = (1.0, 2.0, 3.0, 5.0, 8.0)
#: Regressors of :class:`ChangePointDetector`.
REGRESSORS = ("mlp", "ridge")
CONFIG_NAME = "changepoints.json"
WEIGHTS_NAME = "changepoints.safetensors"
FORMAT = "embedstore-changepoints"


def velocity_features(loudness, *, frame_rate: float, context_s: float = CONTEXT_S) -> np.ndarray:
    """Per-frame features for onset-velocity regression.

    Parameters
    ----------
    loudness : array-like, shape (n_frames, n_bands)
        Compressed specific loudness (``log1p`` of Bark-band loudness, the ``bssl`` frame feature).
    frame_rate : float
        Frames/s.
    context_s : float
        Half-width of the pooling window, seconds.

    Returns
    -------
    np.ndarray, shape (n_frames, 3 * n_bands + 2), float32
        Windowed mean, windowed max and windowed mean positive flux per band, the windowed total loudness and a
        constant 1.
    """
    import scipy.ndimage as ndi

    x = np.asarray(loudness, dtype=np.float32)
    if x.ndim != 2:
        raise ConfigError(f"loudness must have shape (n_frames, n_bands), got {x.shape}")
    if len(x) == 0:
        return np.zeros((0, 3 * x.shape[1] + 2), dtype=np.float32)
    size = 2 * max(1, int(round(context_s * frame_rate))) + 1
    mean = ndi.uniform_filter1d(x, size=size, axis=0, mode="nearest")
    peak = ndi.maximum_filter1d(x, size=size, axis=0, mode="nearest")
    flux = ndi.uniform_filter1d(np.maximum(np.diff(x, axis=0, prepend=x[:1]), 0.0), size=size, axis=0)
    total = ndi.uniform_filter1d(np.log1p(np.expm1(x).sum(axis=1, keepdims=True)), size=size, axis=0)
    return np.hstack([mean, peak, flux, total, np.ones((len(x), 1), np.float32)]).astype(np.float32)


def frame_velocity(dynamics, n_frames: int, frame_rate: float) -> np.ndarray:
    """The DERIVED smoothed velocity of each frame (that of its beat interval). Shape (n_frames,), float32."""
    t = np.arange(n_frames) / float(frame_rate)
    idx = np.clip(np.searchsorted(dynamics.grid, t, side="right") - 1, 0, len(dynamics.grid) - 1)
    return np.asarray(dynamics.velocity, dtype=np.float32)[idx]


def changes_from_velocity(
    velocity,
    *,
    frame_rate: float,
    hysteresis: float,
    grid_s: float = GRID_S,
    median: int = MEDIAN_BEATS,
    edges=VELOCITY_EDGES,
) -> np.ndarray:
    """Change points of a per-frame velocity curve, quantised like the labels.

    Parameters
    ----------
    velocity : array-like, shape (n_frames,)
        Predicted onset velocity per frame (MIDI units).
    frame_rate : float
    hysteresis : float
        Velocity units an edge must be passed by before the level changes.
    grid_s : float
        Averaging grid, seconds.
    median : int
        Running median over grid points before quantising (1: none).

    Returns
    -------
    np.ndarray, shape (n_changes,)
        Grid times (seconds) where the level differs from the previous grid point's.
    """
    import scipy.ndimage as ndi

    v = np.asarray(velocity, dtype=np.float64)
    n = len(v)
    if n == 0:
        return np.zeros(0)
    starts = np.unique(np.round(np.arange(0.0, n / float(frame_rate), grid_s) * frame_rate).astype(int))
    starts = starts[starts < n]
    per = np.add.reduceat(v, starts) / np.diff(np.r_[starts, n])
    if median > 1:
        per = ndi.median_filter(per, size=int(median), mode="nearest")
    levels = levels_with_hysteresis(per, edges=edges, hysteresis=hysteresis)
    return starts[1:][np.diff(levels) != 0] / float(frame_rate)


@dataclass
class ChangePointDetector:
    """A fitted velocity regressor plus the quantiser settings.

    Attributes
    ----------
    regressor : {"mlp", "ridge"}
    weights : dict of np.ndarray
        ``mean``/``std`` (feature standardisation) and ``w`` (ridge) or ``w1``/``b1``/``w2``/``b2``/``y_scale``
        (MLP).
    hysteresis : float
        Chosen on the inner validation split.
    frame_rate, context_s, grid_s : float
    info : dict
        Training description (clips, hours, validation F1 per hysteresis).
    """

    regressor: str
    weights: dict
    hysteresis: float
    frame_rate: float
    context_s: float = CONTEXT_S
    grid_s: float = GRID_S
    info: dict = field(default_factory=dict)

    def predict_velocity(self, loudness) -> np.ndarray:
        """Predicted onset velocity per frame, shape (n_frames,), from ``bssl`` frames (n_frames, n_bands)."""
        x = velocity_features(loudness, frame_rate=self.frame_rate, context_s=self.context_s)
        w = self.weights
        if x.shape[1] != len(w["mean"]):
            raise ConfigError(
                f"change-point detector expects {len(w['mean'])} features, got {x.shape[1]}",
                hint="use the loudness frames (bssl) the detector was trained on",
            )
        z = (x - w["mean"]) / w["std"]
        if self.regressor == "ridge":
            return (z @ w["w"]).astype(np.float32)
        h = np.maximum(z @ w["w1"].T + w["b1"], 0.0)
        out = (h @ w["w2"].T + w["b2"])[:, 0]
        return (out * w["y_scale"][1] + w["y_scale"][0]).astype(np.float32)

    def change_points(self, loudness) -> np.ndarray:
        """Change-point times (seconds) of one recording from its ``bssl`` frames (n_frames, n_bands)."""
        return changes_from_velocity(
            self.predict_velocity(loudness),
            frame_rate=self.frame_rate,
            hysteresis=self.hysteresis,
            grid_s=self.grid_s,
        )

    def save(self, folder) -> Path:
        """Write ``changepoints.json`` + ``changepoints.safetensors`` into ``folder``."""
        from safetensors.numpy import save_file

        d = Path(folder)
        d.mkdir(parents=True, exist_ok=True)
        save_file(
            {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in self.weights.items()}, d / WEIGHTS_NAME
        )
        cfg = {
            "format": FORMAT,
            "format_version": 1,
            "regressor": self.regressor,
            "hysteresis": self.hysteresis,
            "frame_rate": self.frame_rate,
            "context_s": self.context_s,
            "grid_s": self.grid_s,
            "features": "bssl (log1p specific loudness)",
            "info": self.info,
        }
        (d / CONFIG_NAME).write_text(json.dumps(cfg, indent=2))
        return d


def load_change_detector(folder) -> ChangePointDetector | None:
    """The detector saved in ``folder``, or ``None`` when there is none."""
    from safetensors.numpy import load_file

    d = Path(folder)
    if not (d / CONFIG_NAME).is_file():
        return None
    try:
        cfg = json.loads((d / CONFIG_NAME).read_text())
        weights = load_file(str(d / WEIGHTS_NAME))
    except (OSError, ValueError) as e:
        raise ConfigError(
            f"unreadable change-point detector in {d}: {e}", hint="retrain with train-frames"
        ) from e
    if cfg.get("format") != FORMAT:
        raise ConfigError(f"{d / CONFIG_NAME} is not an embedstore change-point detector")
    return ChangePointDetector(
        regressor=cfg["regressor"],
        weights=dict(weights),
        hysteresis=float(cfg["hysteresis"]),
        frame_rate=float(cfg["frame_rate"]),
        context_s=float(cfg.get("context_s", CONTEXT_S)),
        grid_s=float(cfg.get("grid_s", GRID_S)),
        info=dict(cfg.get("info", {})),
    )


def loudness_frames(samples, sample_rate: int, *, frame_rate: float) -> np.ndarray:
    """The detector's input for a mono signal: ``bssl`` frames (log1p), shape (n_frames, n_bands)."""
    return FrameFeaturizer(encoder="bssl", frame_rate=frame_rate)(
        np.asarray(samples, np.float32), sample_rate
    )
