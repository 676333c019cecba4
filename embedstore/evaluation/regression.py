"""Regression metrics for continuous targets such as perceptual ratings (mir_eval style).

Task: each item has a real-valued reference (e.g. a PercePiano rating in [1/7, 1]); a probe estimates one value.

Conventions
-----------
- ``reference`` and ``estimated`` are 1-d float arrays of the same length ``n`` (one target at a time; for several
  rating columns call the functions per column and average).
- R² is ``1 - SS_res / SS_tot`` around the *reference* mean, so a constant prediction equal to the reference mean
  scores 0 and worse predictions score below 0. With constant reference values R² is NaN.
- Correlations are NaN when either side is constant. Units of MAE/RMSE are those of the target.
"""

from __future__ import annotations

import numpy as np


def _check(reference, estimated) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(reference, dtype=np.float64)
    e = np.asarray(estimated, dtype=np.float64)
    if r.ndim != 1 or e.ndim != 1:
        raise ValueError(f"reference and estimated must be 1-d, got shapes {r.shape} and {e.shape}")
    if len(r) != len(e):
        raise ValueError(f"reference ({len(r)}) and estimated ({len(e)}) differ in length")
    if len(r) == 0:
        raise ValueError("empty reference")
    return r, e


def r2(reference, estimated) -> float:
    """Coefficient of determination (unitless, <= 1)."""
    r, e = _check(reference, estimated)
    ss_tot = float(np.sum((r - r.mean()) ** 2))
    if ss_tot <= 0:
        return float("nan")
    return 1.0 - float(np.sum((r - e) ** 2)) / ss_tot


def pearson(reference, estimated) -> float:
    """Pearson correlation coefficient (-1..1)."""
    r, e = _check(reference, estimated)
    rc, ec = r - r.mean(), e - e.mean()
    den = float(np.sqrt(np.sum(rc**2) * np.sum(ec**2)))
    if den <= 0:
        return float("nan")
    return float(np.sum(rc * ec) / den)


def _rank(x: np.ndarray) -> np.ndarray:
    """Average ranks (ties share the mean rank), 0-based."""
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.arange(len(x), dtype=np.float64)
    _, inv, counts = np.unique(x, return_inverse=True, return_counts=True)
    if np.any(counts > 1):
        sums = np.bincount(inv, weights=ranks)
        ranks = sums[inv] / counts[inv]
    return ranks


def spearman(reference, estimated) -> float:
    """Spearman rank correlation (-1..1), ties get average ranks."""
    r, e = _check(reference, estimated)
    return pearson(_rank(r), _rank(e))


def mean_absolute_error(reference, estimated) -> float:
    r, e = _check(reference, estimated)
    return float(np.mean(np.abs(r - e)))


def rmse(reference, estimated) -> float:
    r, e = _check(reference, estimated)
    return float(np.sqrt(np.mean((r - e) ** 2)))


def evaluate(reference, estimated) -> dict[str, float]:
    """R², Pearson, Spearman and MAE of one target."""
    return {
        "r2": r2(reference, estimated),
        "pearson": pearson(reference, estimated),
        "spearman": spearman(reference, estimated),
        "mae": mean_absolute_error(reference, estimated),
    }
