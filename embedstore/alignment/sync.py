"""Full alignment of two performances: multi-resolution DTW from 1 frame/s up to 50 frames/s.

Task
    Align two recordings of the same music (or of overlapping parts of it) and return a :class:`TimeMap` with a
    cost and a confidence. The approach is multi-scale DTW (Mueller, Mattes & Kurth 2006; Praetzlich, Driedger &
    Mueller 2016, the Sync Toolbox's MrMsDTW): align CENS features at a coarse rate over the whole grid, then
    repeat at finer rates inside a band around the coarser path, and at the finest rate add chroma onset
    features for accurate note-level timing.

Levels
    Rates :data:`LEVEL_RATES` (1, 2 and 10 frames/s, then the features' own rate, 50 frames/s), CENS smoothing of
    four output frames per level (Hann windows of 201, 101 and 21 frames at 50 frames/s: the Sync Toolbox's
    defaults). When the coarsest grid still has more than ``max_cells`` cells (recordings over about half an
    hour each), coarser levels (0.5, 0.25 ... frames/s) are added, so memory and time grow about linearly with
    duration. The band around each projected path is widened by ``radius_s`` seconds.

Ends, cost and confidence
    With ``ends="free"`` (default), leaving out a frame at either end costs ``skip_factor`` times the *reference
    cost*: the median local cost of 4,096 random frame pairs of the two recordings (what unrelated music costs).
    Recordings that start or end at different places are then aligned on the music they share; the map's valid
    range says which part that is. ``ends="fixed"`` forces the path from both starts to both ends.
    ``cost`` is the mean local cost along the final path and ``confidence = clip(1 - cost / reference, 0, 1)``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from embedstore.alignment.chunking import chunked_dtw
from embedstore.alignment.dtw import band_around_path, banded_dtw, full_band, local_cost, path_cost
from embedstore.alignment.features import FrameFeatures, features_from_file, normalise_chroma
from embedstore.alignment.timemap import TimeMap
from embedstore.errors import ConfigError, check_choice

__all__ = [
    "LEVEL_RATES",
    "ENDS",
    "ANCHORS",
    "Alignment",
    "align_features",
    "align_files",
    "reference_cost",
    "onset_anchors",
]

#: Coarse levels (frames/s) before the features' own rate.
LEVEL_RATES = (1.0, 2.0, 10.0)
#: Widening of the band around a projected path at the features' own rate, seconds.
RADIUS_S = 1.0
#: Widening of the band at the levels below the features' own rate (cheap there), seconds.
COARSE_RADIUS_S = 2.0
#: Leaving out a frame at a free end costs this times the reference cost.
SKIP_FACTOR = 0.5
#: Largest coarsest grid (cells) before coarser levels are added.
MAX_CELLS = 4_000_000
#: Largest band solved at once at the finer levels (about 36 MB), see :func:`embedstore.alignment.chunking.chunked_dtw`.
MAX_BAND_CELLS = 4_000_000
#: Shortest sequence (frames) worth aligning at a level; shorter levels are skipped.
MIN_FRAMES = 8
#: Onset-strength peaks above this (the recording's 99th percentile is 1) can anchor the time map.
ANCHOR_THRESHOLD = 0.1
#: A peak in A anchors the map when B has a peak within this many frames of the path's cells in that row.
ANCHOR_TOLERANCE = 2
ENDS = ("free", "fixed")
ANCHORS = ("onsets", "path")


@dataclass
class Alignment:
    """The result of aligning recording A to recording B.

    Attributes
    ----------
    time_map : TimeMap
        A's seconds -> B's seconds on the valid range.
    path : np.ndarray, shape (L, 2), int
        Warping path at the finest level, frame indices ``(A, B)``.
    frame_rate : float
        Frames per second of the path.
    local_cost : np.ndarray, shape (L,)
        Local cost of each path cell.
    cost : float
        Mean local cost along the path.
    reference_cost : float
        Median local cost of random frame pairs (unrelated music) at the finest level.
    confidence : float
        ``clip(1 - cost / reference_cost, 0, 1)``; near 1 for a clean alignment, near 0 for unrelated recordings.
    duration_a, duration_b : float
        Lengths of the aligned feature sequences, seconds.
    levels : list of dict
        Per level: ``rate`` (frames/s), ``shape``, ``cells`` computed, ``seconds``.
    """

    time_map: TimeMap
    path: np.ndarray
    frame_rate: float
    local_cost: np.ndarray
    cost: float
    reference_cost: float
    confidence: float
    duration_a: float
    duration_b: float
    levels: list = field(default_factory=list)

    @property
    def coverage(self) -> tuple[float, float]:
        """Share of A's and of B's duration inside the valid range."""
        a0, a1 = self.time_map.valid_a
        b0, b1 = self.time_map.valid_b
        return (a1 - a0) / max(self.duration_a, 1e-9), (b1 - b0) / max(self.duration_b, 1e-9)

    def as_dict(self, *, anchors: bool = True) -> dict:
        """JSON-ready summary (the time map's anchors included unless ``anchors=False``)."""
        d = {
            "cost": round(self.cost, 5),
            "reference_cost": round(self.reference_cost, 5),
            "confidence": round(self.confidence, 4),
            "valid_a": [round(x, 4) for x in self.time_map.valid_a],
            "valid_b": [round(x, 4) for x in self.time_map.valid_b],
            "duration_a": round(self.duration_a, 4),
            "duration_b": round(self.duration_b, 4),
            "coverage": [round(x, 4) for x in self.coverage],
            "slope": round(self.time_map.slope, 5),
            "frame_rate": self.frame_rate,
            "levels": self.levels,
            "meta": self.time_map.meta,
        }
        if anchors:
            d["time_map"] = self.time_map.to_dict()
        return d


def _level_rates(base: float, n: int, m: int, rates, max_cells: int) -> list[float]:
    """Rates (frames/s) of the levels to run, coarse to fine, the last one ``base``."""
    factors = sorted({int(round(base / r)) for r in rates if r < base and round(base / r) > 1}, reverse=True)
    if not factors:
        factors = []
    coarsest = factors[0] if factors else 1
    while (n / coarsest) * (m / coarsest) > max_cells:
        coarsest *= 2
        factors.insert(0, coarsest)
    out = [base / f for f in factors if min(n, m) / f >= MIN_FRAMES]
    return out + [base]


def _level_features(f: FrameFeatures, rate: float) -> tuple[np.ndarray, np.ndarray | None]:
    factor = int(round(f.frame_rate / rate))
    if factor <= 1:
        return normalise_chroma(f.chroma), f.onsets
    return f.downsample(factor).chroma, None


def reference_cost(
    X: ArrayLike,
    Y: ArrayLike,
    *,
    XO: ArrayLike | None = None,
    YO: ArrayLike | None = None,
    onset_weight: float = 1.0,
    n_pairs: int = 4096,
    seed: int = 0,
) -> float:
    """Median local cost of ``n_pairs`` random frame pairs: the cost of unrelated music (deterministic)."""
    X, Y = np.asarray(X), np.asarray(Y)
    rng = np.random.default_rng(seed)
    i = rng.integers(0, len(X), n_pairs)
    j = rng.integers(0, len(Y), n_pairs)
    return float(np.median(local_cost(X, Y, i, j, XO=XO, YO=YO, onset_weight=onset_weight)))


def onset_anchors(
    path: np.ndarray,
    strength_a: np.ndarray,
    strength_b: np.ndarray,
    *,
    threshold: float = ANCHOR_THRESHOLD,
    tolerance: int = ANCHOR_TOLERANCE,
) -> np.ndarray:
    """Path cells where both recordings have a note onset: the reliable points of an alignment.

    Where the music holds a chord (constant chroma, no onsets) every path through the region costs about the
    same and DTW's choice carries no information; between onsets, linear interpolation (a steady tempo) is the
    better guess. An onset-strength peak ``i`` of A above ``threshold`` becomes the anchor ``(i, j)`` when B has
    a peak ``j`` within ``tolerance`` frames of the columns the path visits in row ``i`` (the nearest such peak).
    The path's first and last cells are always anchors.

    Parameters
    ----------
    path : np.ndarray, shape (L, 2), int
    strength_a, strength_b : np.ndarray, shape (N,) and (M,)
        Onset strength of each recording (:attr:`FrameFeatures.strength`).
    threshold : float
        Minimum peak height.
    tolerance : int
        Frames.

    Returns
    -------
    np.ndarray, shape (K, 2), float64
        Anchors ``(i, j)`` in frames, strictly increasing in both columns.
    """
    import scipy.signal

    p = np.asarray(path, dtype=np.int64)
    n = int(p[:, 0].max()) + 1
    jmin = np.full(n, np.iinfo(np.int64).max)
    jmax = np.full(n, -1)
    np.minimum.at(jmin, p[:, 0], p[:, 1])
    np.maximum.at(jmax, p[:, 0], p[:, 1])
    pa, _ = scipy.signal.find_peaks(np.asarray(strength_a, float), height=threshold)
    pb, _ = scipy.signal.find_peaks(np.asarray(strength_b, float), height=threshold)
    out = [p[0].astype(float)]
    if len(pb):
        for i in pa[(pa <= p[-1, 0]) & (pa >= p[0, 0])]:
            if jmax[i] < 0:
                continue
            lo = np.searchsorted(pb, jmin[i] - tolerance)
            hi = np.searchsorted(pb, jmax[i] + tolerance, side="right")
            if hi > lo:
                cand = pb[lo:hi]
                mid = 0.5 * (jmin[i] + jmax[i])
                out.append(np.array([i, cand[np.argmin(np.abs(cand - mid))]], float))
    out.append(p[-1].astype(float))
    an = np.array(out)
    keep = [0]
    for k in range(1, len(an)):  # strictly increasing in both; a later anchor that goes back is dropped
        if an[k, 0] > an[keep[-1], 0] and an[k, 1] > an[keep[-1], 1]:
            keep.append(k)
    if (
        keep[-1] != len(an) - 1
        and len(keep) > 1
        and an[-1, 0] > an[keep[-2], 0]
        and an[-1, 1] > an[keep[-2], 1]
    ):
        keep[-1] = len(an) - 1  # prefer the path's end over the anchor just before it
    return an[keep]


def align_features(
    fa: FrameFeatures,
    fb: FrameFeatures,
    *,
    ends: Literal["free", "fixed"] = "free",
    onset_weight: float = 1.0,
    level_rates: tuple[float, ...] = LEVEL_RATES,
    radius_s: float = RADIUS_S,
    skip_factor: float = SKIP_FACTOR,
    max_cells: int = MAX_CELLS,
    max_band_cells: int = MAX_BAND_CELLS,
    anchors: Literal["onsets", "path"] = "onsets",
) -> Alignment:
    """Align two feature sequences with multi-resolution DTW.

    Parameters
    ----------
    fa, fb : FrameFeatures
        Same frame rate (e.g. both from :func:`~embedstore.alignment.features.compute_features`, or both
        compact stored sequences).
    ends : {"free", "fixed"}
        Free ends align only the music the recordings share; fixed ends align start to start and end to end.
    onset_weight : float
        Weight of the onset-feature cost at the finest level (0: chroma only).
    level_rates : tuple of float
        Coarse levels, frames/s.
    radius_s : float
        Band widening at each finer level, seconds.
    skip_factor : float
        Cost of leaving out one frame at a free end, in units of the reference cost.
    max_cells : int
        Largest coarsest grid before coarser levels are added.
    max_band_cells : int
        Largest band solved at once at the finer levels (:func:`~embedstore.alignment.chunking.chunked_dtw`).
    anchors : {"onsets", "path"}
        Build the time map from the cells where both recordings have an onset (:func:`onset_anchors`,
        interpolating linearly between them) or from every cell of the path.

    Returns
    -------
    Alignment
    """
    check_choice("ends", ends, ENDS)
    check_choice("anchors", anchors, ANCHORS)
    if abs(fa.frame_rate - fb.frame_rate) > 1e-9:
        raise ConfigError(f"frame rates differ: {fa.frame_rate:g} vs {fb.frame_rate:g} frames/s")
    if len(fa) < 2 or len(fb) < 2:
        raise ConfigError("a recording is too short to align", hint="align recordings of at least a second")
    if not skip_factor > 0:
        raise ConfigError(f"skip_factor must be positive, got {skip_factor!r}")
    base = fa.frame_rate
    rates = _level_rates(base, len(fa), len(fb), level_rates, max_cells)
    path = None
    shape_prev = None
    levels = []
    X = Y = XO = YO = None
    ref = float("nan")
    for rate in rates:
        t0 = time.perf_counter()
        X, XO = _level_features(fa, rate)
        Y, YO = _level_features(fb, rate)
        if XO is None or YO is None or not onset_weight:
            XO = YO = None
        w = onset_weight if XO is not None else 0.0
        ref = reference_cost(X, Y, XO=XO, YO=YO, onset_weight=w)
        skip = skip_factor * ref if ends == "free" else np.inf
        if path is None:
            band = full_band(len(X), len(Y))
            path, _ = banded_dtw(X, Y, band=band, XO=XO, YO=YO, onset_weight=w, skip=skip)
        else:
            assert shape_prev is not None
            rad_s = radius_s if rate == base else max(radius_s, COARSE_RADIUS_S)
            band = band_around_path(
                path, shape_prev, (len(X), len(Y)), radius=max(1, int(round(rad_s * rate)))
            )
            path = chunked_dtw(
                X, Y, band=band, XO=XO, YO=YO, onset_weight=w, skip=skip, max_cells=max_band_cells
            )
        shape_prev = (len(X), len(Y))
        levels.append(
            {
                "rate": round(rate, 4),
                "shape": [len(X), len(Y)],
                "cells": int(np.sum(band[1] - band[0])),
                "seconds": round(time.perf_counter() - t0, 4),
            }
        )
    assert path is not None and X is not None and Y is not None
    lc = path_cost(X, Y, path, XO=XO, YO=YO, onset_weight=onset_weight if XO is not None else 0.0)
    cost = float(lc.mean())
    conf = float(np.clip(1.0 - cost / ref, 0.0, 1.0)) if ref > 0 else 0.0
    if len(np.unique(path[:, 0])) < 2 or len(np.unique(path[:, 1])) < 2:
        raise ConfigError(
            "the recordings share no music that could be aligned",
            hint="check the files, or use ends='fixed' (`--ends fixed`) to force a full alignment",
        )
    meta = {"cost": round(cost, 5), "confidence": round(conf, 4), "ends": ends, "anchors": anchors}
    if anchors == "onsets":
        an = onset_anchors(path, fa.strength, fb.strength)
        meta["n_anchors"] = len(an)
        tm = TimeMap(an[:, 0] / base, an[:, 1] / base, meta)
    else:
        tm = TimeMap.from_path(path, base, meta=meta)
    return Alignment(
        time_map=tm,
        path=path,
        frame_rate=base,
        local_cost=lc,
        cost=cost,
        reference_cost=ref,
        confidence=conf,
        duration_a=fa.duration_s,
        duration_b=fb.duration_s,
        levels=levels,
    )


def align_files(
    path_a: str | Path,
    path_b: str | Path,
    *,
    ends: Literal["free", "fixed"] = "free",
    onset_weight: float = 1.0,
    **kwargs,
) -> Alignment:
    """Align two audio files (decoded with :func:`embedstore.audio.load_audio`); see :func:`align_features`.

    The time map's ``meta`` names the two files.
    """
    fa = features_from_file(path_a, onsets=bool(onset_weight))
    fb = features_from_file(path_b, onsets=bool(onset_weight))
    al = align_features(fa, fb, ends=ends, onset_weight=onset_weight, **kwargs)
    al.time_map.meta.update(a=str(path_a), b=str(path_b))
    return al
