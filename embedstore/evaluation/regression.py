"""Regression metrics for continuous targets such as perceptual ratings (mir_eval style).

Task: each item has a real-valued reference (e.g. a PercePiano rating in [1/7, 1]); a probe estimates one value.

Conventions
-----------
- ``reference`` and ``estimated`` are 1-d float arrays of the same length ``n`` (one target at a time; for several
  rating columns call the functions per column and average).
- R² is ``1 - SS_res / SS_tot`` around the *reference* mean, so a constant prediction equal to the reference mean
  scores 0 (the plain baseline) and worse predictions score below 0. With constant reference values R² is NaN.
- Correlations are in [-1, 1] (chance 0) and NaN when either side is constant. Units of MAE/RMSE are those of the
  target.
- Empty inputs and mismatched lengths raise ``ValueError``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from embedstore.evaluation.util import average_ranks, validate_paired

__all__ = ["r2", "pearson", "spearman", "mean_absolute_error", "rmse", "evaluate"]


def r2(reference: ArrayLike, estimated: ArrayLike) -> float:
    """Coefficient of determination.

    Parameters
    ----------
    reference, estimated : array-like, shape (n,)
        Targets and predictions, in the target's units (R² compares them around the reference mean).

    Returns
    -------
    r2 : float
        Unitless, <= 1; 0 for the reference mean; NaN when the reference is constant.
    """
    r, e = validate_paired(reference, estimated, dtype=np.float64)
    ss_tot = float(np.sum((r - r.mean()) ** 2))
    if ss_tot <= 0:
        return float("nan")
    return 1.0 - float(np.sum((r - e) ** 2)) / ss_tot


def pearson(reference: ArrayLike, estimated: ArrayLike) -> float:
    """Pearson correlation coefficient.

    Parameters
    ----------
    reference, estimated : array-like, shape (n,)
        Paired values: only their linear association counts, not their units or offsets.

    Returns
    -------
    r : float
        In [-1, 1]; NaN when either side is constant.
    """
    r, e = validate_paired(reference, estimated, dtype=np.float64)
    rc, ec = r - r.mean(), e - e.mean()
    den = float(np.sqrt(np.sum(rc**2) * np.sum(ec**2)))
    if den <= 0:
        return float("nan")
    return float(np.sum(rc * ec) / den)


def spearman(reference: ArrayLike, estimated: ArrayLike) -> float:
    """Spearman rank correlation: the Pearson correlation of the ranks (ties get their mean rank).

    Parameters
    ----------
    reference, estimated : array-like, shape (n,)
        Paired values: only their order counts.

    Returns
    -------
    rho : float
        In [-1, 1]; NaN when either side is constant.
    """
    r, e = validate_paired(reference, estimated, dtype=np.float64)
    return pearson(average_ranks(r), average_ranks(e))


def mean_absolute_error(reference: ArrayLike, estimated: ArrayLike) -> float:
    """Mean absolute error.

    Parameters
    ----------
    reference, estimated : array-like, shape (n,)
        Targets and predictions, in the target's units.

    Returns
    -------
    mae : float
        In the target's units (>= 0).
    """
    r, e = validate_paired(reference, estimated, dtype=np.float64)
    return float(np.mean(np.abs(r - e)))


def rmse(reference: ArrayLike, estimated: ArrayLike) -> float:
    """Root-mean-square error.

    Parameters
    ----------
    reference, estimated : array-like, shape (n,)
        Targets and predictions, in the target's units (large errors weigh more than in the MAE).

    Returns
    -------
    rmse : float
        In the target's units (>= 0).
    """
    r, e = validate_paired(reference, estimated, dtype=np.float64)
    return float(np.sqrt(np.mean((r - e) ** 2)))


def evaluate(reference: ArrayLike, estimated: ArrayLike) -> dict[str, float]:
    """R², Pearson, Spearman and MAE of one target.

    Parameters
    ----------
    reference, estimated : array-like, shape (n,)
        Targets and predictions of one target column.

    Returns
    -------
    dict
        ``r2``, ``pearson``, ``spearman``, ``mae``.
    """
    return {
        "r2": r2(reference, estimated),
        "pearson": pearson(reference, estimated),
        "spearman": spearman(reference, estimated),
        "mae": mean_absolute_error(reference, estimated),
    }
