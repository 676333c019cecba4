"""Interpretation curves and style statistics: local tempo and loudness on a reference's beat or bar grid.

Task
    Compare performances of a piece the way comparative performance analysis does (the Mazurka project's tempo
    and dynamics curves): align every performance to one reference, read each performance's timing and loudness
    on the reference's grid (its annotated beats or bars, or every ``grid_s`` seconds of the reference), and
    compare the curves by correlation. Summarise a performance by a few style statistics that can be compared
    across pieces.

Units and conventions
    - ``grid``: strictly increasing reference times (s), ``K + 1`` points bounding ``K`` segments.
    - ``tempo[k]``: with ``unit="beat"`` or ``"bar"``, grid units per minute in the performance (BPM, bars per
      minute); with ``unit="reference"``, the relative tempo ``(g[k+1] - g[k]) / (p[k+1] - p[k])`` (> 1: faster
      than the reference), where ``p`` are the grid points mapped into the performance.
    - ``loudness[k]``: loudness level in phon of the performance's mean total loudness (sone) over its frames in
      ``[p[k], p[k+1])``; phon = ``40 + 10 log2(sone)`` above 1 sone (the inverse of
      :func:`embedstore.encoders.bssl.phon_to_sone`).
    - Segments the time map does not cover are NaN.
    - Correlations are Pearson's over the segments finite in both curves, on ``log2(tempo)`` for tempo.

Style statistics (:func:`style_statistics`)
    ``tempo`` (median tempo), ``rubato`` (standard deviation of ``log2(tempo / median)``: 0.1 is about +-7 %),
    ``tempo_range`` (``log2`` of the 90th over the 10th percentile of tempo), ``loudness`` (median phon),
    ``dynamic_range`` (95th minus 5th percentile, phon), ``tempo_loudness`` (correlation of log tempo and
    loudness: pushing ahead when louder is positive). With several performances on one grid,
    :func:`relative_to_consensus` first expresses each performance's tempo and loudness against their geometric
    (tempo) and arithmetic (loudness) mean per segment, which removes what the piece dictates.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from embedstore.alignment.timemap import TimeMap
from embedstore.errors import ConfigError, check_choice

__all__ = [
    "UNITS",
    "STYLE_STATISTICS",
    "Curves",
    "sone_to_phon",
    "uniform_grid",
    "interpretation_curves",
    "curve_correlation",
    "relative_to_consensus",
    "style_statistics",
    "chord_asynchrony",
]

UNITS = ("beat", "bar", "reference")
#: Names of the statistics returned by :func:`style_statistics`, in order.
STYLE_STATISTICS = ("tempo", "rubato", "tempo_range", "loudness", "dynamic_range", "tempo_loudness")


@dataclass(frozen=True)
class Curves:
    """Tempo and loudness of one performance on a reference grid.

    Attributes
    ----------
    grid : np.ndarray, shape (K + 1,)
        Reference times, seconds.
    times : np.ndarray, shape (K + 1,)
        The grid points in the performance, seconds (NaN outside the time map's range).
    tempo : np.ndarray, shape (K,)
    loudness : np.ndarray, shape (K,)
        Phon.
    unit : str
        ``"beat"``, ``"bar"`` or ``"reference"`` (see the module docstring).
    """

    grid: np.ndarray
    times: np.ndarray
    tempo: np.ndarray
    loudness: np.ndarray
    unit: str

    def as_dict(self) -> dict:
        """JSON-ready curves (NaN becomes ``None`` when dumped with :func:`embedstore.utils.dumps`)."""
        return {
            "unit": self.unit,
            "grid": np.round(self.grid, 4).tolist(),
            "times": np.round(self.times, 4).tolist(),
            "tempo": np.round(self.tempo, 4).tolist(),
            "loudness": np.round(self.loudness, 3).tolist(),
        }


def sone_to_phon(sone: ArrayLike) -> np.ndarray:
    """Loudness (sone) to loudness level (phon); the inverse of Bladon & Lindblom's sone mapping."""
    s = np.maximum(np.asarray(sone, dtype=np.float64), 1e-12)
    return np.where(s >= 1.0, 40.0 + 10.0 * np.log2(s), 40.0 * s ** (1.0 / 2.642))


def uniform_grid(start_s: float, end_s: float, step_s: float = 1.0) -> np.ndarray:
    """Grid points every ``step_s`` seconds from ``start_s`` up to ``end_s`` (both ends included when they fit)."""
    if not step_s > 0 or not end_s > start_s:
        raise ConfigError(f"need end_s > start_s and step_s > 0, got {start_s}, {end_s}, {step_s}")
    return np.arange(start_s, end_s + 1e-9, step_s)


def interpretation_curves(
    time_map: TimeMap,
    grid: ArrayLike,
    loudness: ArrayLike,
    frame_rate: float,
    *,
    unit: Literal["beat", "bar", "reference"] = "beat",
) -> Curves:
    """Local tempo and loudness of a performance on the reference's grid.

    Parameters
    ----------
    time_map : TimeMap
        Reference seconds -> performance seconds.
    grid : array of float, shape (K + 1,)
        Reference times (beats, bars or a uniform grid), strictly increasing.
    loudness : np.ndarray, shape (n,)
        The performance's total loudness per frame, sone (:attr:`FrameFeatures.loudness`).
    frame_rate : float
        Frames per second of ``loudness``.
    unit : {"beat", "bar", "reference"}
        What one grid segment is (see the module docstring).

    Returns
    -------
    Curves
    """
    check_choice("unit", unit, UNITS)
    g = np.asarray(grid, dtype=np.float64)
    if g.ndim != 1 or len(g) < 2 or np.any(np.diff(g) <= 0):
        raise ConfigError("the grid needs at least two strictly increasing times")
    p = time_map(g, outside="nan")
    dp = np.diff(p)
    ok = np.isfinite(dp) & (dp > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        tempo = np.where(ok, (60.0 / dp) if unit != "reference" else np.diff(g) / dp, np.nan)
    ld = np.asarray(loudness, dtype=np.float64)
    cum = np.concatenate([[0.0], np.cumsum(ld)])
    lvl = np.full(len(dp), np.nan)
    if len(ld):
        a = np.clip(np.ceil(np.nan_to_num(p[:-1]) * frame_rate - 1e-9).astype(int), 0, len(ld) - 1)
        b = np.clip(np.ceil(np.nan_to_num(p[1:]) * frame_rate - 1e-9).astype(int), 0, len(ld))
        b = np.maximum(b, a + 1)
        mean = (cum[b] - cum[a]) / (b - a)
        lvl = np.where(ok, sone_to_phon(mean), np.nan)
    return Curves(grid=g, times=p, tempo=tempo, loudness=lvl, unit=unit)


def curve_correlation(x: ArrayLike, y: ArrayLike, *, log: bool = False) -> float:
    """Pearson correlation of two curves on the same grid over the segments finite in both (NaN if < 3)."""
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    if a.shape != b.shape:
        raise ConfigError(f"curves on different grids: {a.shape} vs {b.shape}")
    if log:
        with np.errstate(divide="ignore", invalid="ignore"):
            a, b = np.log2(a), np.log2(b)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.std(a[ok]) == 0 or np.std(b[ok]) == 0:
        return float("nan")
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def relative_to_consensus(curves: list[Curves]) -> list[Curves]:
    """Each performance's curves against the consensus of all of them (same grid required).

    Tempo becomes ``tempo / geometric mean tempo`` per segment (unit ``"reference"``), loudness ``loudness -
    mean loudness`` per segment; segments where any performance is undefined stay NaN for that one only.
    """
    if not curves:
        return []
    if any(c.grid.shape != curves[0].grid.shape or not np.allclose(c.grid, curves[0].grid) for c in curves):
        raise ConfigError("all curves must be on the same reference grid")
    with np.errstate(divide="ignore", invalid="ignore"):
        logt = np.log2(np.stack([c.tempo for c in curves]))
        cons_t = np.nanmean(logt, axis=0)
        ld = np.stack([c.loudness for c in curves])
        cons_l = np.nanmean(ld, axis=0)
    return [
        replace(c, tempo=2.0 ** (lt - cons_t), loudness=lv - cons_l, unit="reference")
        for c, lt, lv in zip(curves, logt, ld)
    ]


def style_statistics(curves: Curves) -> dict[str, float]:
    """The style statistics of one performance (see the module docstring); NaN when undefined."""
    t = curves.tempo[np.isfinite(curves.tempo) & (curves.tempo > 0)]
    lv = curves.loudness[np.isfinite(curves.loudness)]
    out = dict.fromkeys(STYLE_STATISTICS, float("nan"))
    if len(t) >= 2:
        med = float(np.median(t))
        lt = np.log2(t / med)
        p10, p90 = np.percentile(t, [10, 90])
        out.update(tempo=med, rubato=float(np.std(lt)), tempo_range=float(np.log2(p90 / p10)))
    if len(lv) >= 2:
        p5, p95 = np.percentile(lv, [5, 95])
        out.update(loudness=float(np.median(lv)), dynamic_range=float(p95 - p5))
    with np.errstate(divide="ignore", invalid="ignore"):
        out["tempo_loudness"] = curve_correlation(np.log2(curves.tempo), curves.loudness)
    return out


def chord_asynchrony(onsets_s: ArrayLike, *, window_s: float = 0.07) -> float:
    """Mean spread of the note onsets that form chords (where note onsets are known, e.g. from MIDI).

    Onsets closer than ``window_s`` to the previous onset are grouped into one chord; the statistic is the mean
    over chords of two or more notes of ``max - min`` onset, seconds (NaN when there are no chords). Typical piano values are 10-40 ms; from audio frames at 50 frames/s it is not measurable.
    """
    t = np.sort(np.asarray(onsets_s, dtype=np.float64))
    if len(t) < 2:
        return float("nan")
    new = np.concatenate([[True], np.diff(t) > window_s])
    ids = np.cumsum(new) - 1
    lo = np.full(ids[-1] + 1, np.inf)
    hi = np.full(ids[-1] + 1, -np.inf)
    np.minimum.at(lo, ids, t)
    np.maximum.at(hi, ids, t)
    size = np.bincount(ids)
    spread = (hi - lo)[size >= 2]
    return float(spread.mean()) if len(spread) else float("nan")
