"""Fitting the dynamics change-point detector of :mod:`embedstore.frames.changepoints` (method and units there).

:func:`fit_change_detector` fits the velocity regressor (MLP or ridge) on loudness frames and chooses the
hysteresis (and, with ``regressor="auto"``, the regressor) on a grouped inner validation split;
:func:`train_change_detector` does it for the recordings of a manifest or store (``train-frames``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from embedstore.errors import ConfigError, check_choice
from embedstore.evaluation.splits import inner_split
from embedstore.frames.changepoints import (
    CONTEXT_S,
    GRID_S,
    HYSTERESIS_GRID,
    REGRESSORS,
    ChangePointDetector,
    changes_from_velocity,
    frame_velocity,
    velocity_features,
)
from embedstore.frames.evaluate import CHANGE_TOLERANCE_S, event_counts, f1_from_counts
from embedstore.frames.features import FrameFeaturizer
from embedstore.frames.items import add_extra_items, load_items


def _fit_ridge(x: np.ndarray, y: np.ndarray, *, alpha: float = 1e-3) -> dict:
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-6
    sd[-1], mu[-1] = 1.0, 0.0  # the constant column
    z = (x - mu) / sd
    w = np.linalg.solve(z.T @ z + alpha * len(z) * np.eye(z.shape[1]), z.T @ y)
    return {"mean": mu, "std": sd, "w": w.astype(np.float32)}


def _fit_mlp(x: np.ndarray, y: np.ndarray, *, hidden: int, epochs: int, seed: int) -> dict:
    import torch

    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-6
    sd[-1], mu[-1] = 1.0, 0.0
    g = torch.Generator().manual_seed(seed)
    z = torch.from_numpy(((x - mu) / sd).astype(np.float32))
    t = torch.from_numpy(y.astype(np.float32))
    ym, ys = float(t.mean()), float(t.std()) + 1e-6
    t = (t - ym) / ys
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(z.shape[1], hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1)
    )
    opt = torch.optim.Adam(net.parameters(), lr=3e-3, weight_decay=1e-4)
    batch = 1024
    for _ in range(int(epochs)):
        perm = torch.randperm(len(z), generator=g)
        for i in range(0, len(z), batch):
            idx = perm[i : i + batch]
            loss = torch.nn.functional.smooth_l1_loss(net(z[idx]).squeeze(1), t[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    sd_ = {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}
    return {
        "mean": mu,
        "std": sd,
        "w1": sd_["0.weight"],
        "b1": sd_["0.bias"],
        "w2": sd_["2.weight"],
        "b2": sd_["2.bias"],
        "y_scale": np.array([ym, ys], dtype=np.float32),
    }


def _stack(loudness: list, velocity: list, frame_rate: float, context_s: float, stride: int):
    xs = [velocity_features(x, frame_rate=frame_rate, context_s=context_s)[::stride] for x in loudness]
    ys = [np.asarray(v, dtype=np.float32)[::stride] for v in velocity]
    return np.vstack(xs), np.concatenate(ys)


def _fit(regressor: str, x, y, *, hidden: int, epochs: int, seed: int) -> dict:
    if regressor == "ridge":
        return _fit_ridge(x, y)
    return _fit_mlp(x, y, hidden=hidden, epochs=epochs, seed=seed)


def fit_change_detector(
    loudness: list,
    velocity: list,
    references: list,
    groups,
    *,
    frame_rate: float,
    regressor: Literal["auto", "mlp", "ridge"] = "mlp",
    val_fraction: float = 0.2,
    hysteresis_grid=HYSTERESIS_GRID,
    context_s: float = CONTEXT_S,
    hidden: int = 32,
    epochs: int = 6,
    stride: int = 2,
    seed: int = 0,
) -> ChangePointDetector:
    """Fit the velocity regressor and choose the hysteresis on a grouped inner validation split.

    Parameters
    ----------
    loudness : list of np.ndarray, each (n_frames_i, n_bands)
        ``bssl`` frames of the training clips.
    velocity : list of np.ndarray, each (n_frames_i,)
        DERIVED smoothed velocity per frame (:func:`frame_velocity`); NaN frames are dropped.
    references : list of np.ndarray
        Reference change-point times per clip, seconds.
    groups : array-like, shape (n_clips,)
        Piece of each clip: the validation split holds whole pieces.
    regressor : {"auto", "mlp", "ridge"}
        ``auto``: the regressor with the best validation F1 (chosen with the hysteresis, on the inner split).
    stride : int
        Use every ``stride``-th frame for fitting (neighbouring frames are nearly identical).

    Returns
    -------
    ChangePointDetector
        Refitted on all given clips with the hysteresis of the best validation F1.
    """
    check_choice("regressor", regressor, (*REGRESSORS, "auto"))
    n = len(loudness)
    if n == 0 or not (n == len(velocity) == len(references)):
        raise ConfigError("fit_change_detector needs as many loudness, velocity and reference entries (>= 1)")
    g = np.asarray(groups)
    tr, va = inner_split(g, val_fraction=val_fraction, seed=seed) if n > 1 else (np.arange(n), np.arange(0))
    candidates = REGRESSORS if regressor == "auto" else (regressor,)
    scores: dict[str, float] = {}
    best = (candidates[0], 3.0)
    if len(va):
        x, y = _stack([loudness[i] for i in tr], [velocity[i] for i in tr], frame_rate, context_s, stride)
        ok = np.isfinite(y)
        for reg in candidates:
            w = _fit(reg, x[ok], y[ok], hidden=hidden, epochs=epochs, seed=seed)
            probe = ChangePointDetector(reg, w, 0.0, frame_rate, context_s)
            vel = [probe.predict_velocity(loudness[i]) for i in va]
            for h in hysteresis_grid:
                counts = np.array(
                    [
                        event_counts(
                            references[i],
                            changes_from_velocity(v, frame_rate=frame_rate, hysteresis=h),
                            window=CHANGE_TOLERANCE_S,
                        )
                        for i, v in zip(va, vel)
                    ]
                )
                scores[f"{reg} {h:g}"] = f1_from_counts(*counts.sum(axis=0))
        key = max(scores, key=lambda k: scores[k])
        best = (key.split()[0], float(key.split()[1]))
    regressor, hysteresis = best
    x, y = _stack(loudness, velocity, frame_rate, context_s, stride)
    ok = np.isfinite(y)
    w = _fit(regressor, x[ok], y[ok], hidden=hidden, epochs=epochs, seed=seed)
    hours = sum(len(v) for v in velocity) / frame_rate / 3600.0
    info = {"clips": n, "hours": round(hours, 3), "validation_f1": scores, "regressor": regressor}
    return ChangePointDetector(regressor, w, hysteresis, frame_rate, context_s, GRID_S, info)


def train_change_detector(
    data,
    *,
    extra=(),
    where: str | None = None,
    limit: int | None = None,
    cache: bool = True,
    regressor: Literal["auto", "mlp", "ridge"] = "mlp",
    seed: int = 0,
) -> ChangePointDetector:
    """Fit a detector on the recordings of a manifest or store whose dynamics can be derived (MIDI velocities).

    Parameters
    ----------
    data : str or Path
        As for :func:`embedstore.frames.items.load_items` (``midi`` + ``t0`` or ``notes`` columns give the
        velocities; ``beats`` the beat grid of the labels).
    extra : sequence of str or Path
        Extra manifests (``train-frames --extra``): their clips of ``data``'s pieces are added
        (:func:`~embedstore.frames.items.add_extra_items`).
    where, limit, cache
        As for :func:`~embedstore.frames.items.load_items`.

    Raises
    ------
    ConfigError
        No recording has velocity-derived change points.
    """
    fz = FrameFeaturizer(encoder="bssl")
    items = load_items(data, fz, where=where, limit=limit, cache=cache)
    items = add_extra_items(items, extra, fz, cache=cache)
    items = [it for it in items if it.targets.dynamics is not None and it.targets.dynamics.changes_known]
    if not items:
        raise ConfigError(
            f"no recording in {data} has note velocities to derive dynamics change points from",
            hint="give a manifest with 'midi' (+ 't0') or 'notes' columns",
        )
    return fit_change_detector(
        [it.features for it in items],
        [frame_velocity(it.targets.dynamics, it.n_frames, it.frame_rate) for it in items],
        [it.targets.change_points for it in items],
        [it.group for it in items],
        frame_rate=items[0].frame_rate,
        regressor=regressor,
        seed=seed,
    )
