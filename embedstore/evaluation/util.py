"""Input checks and small numeric helpers shared by the metric modules (like ``mir_eval.util``).

Conventions: ``reference`` and ``estimated`` are 1-d arrays of equal length ``n``, one entry per item; a bad
input raises ``ValueError`` with the shapes in the message. Ranks are 0-based; ties share their mean rank.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

__all__ = ["validate_paired", "average_ranks", "finite_mean"]


def validate_paired(
    reference: ArrayLike, estimated: ArrayLike, *, dtype: DTypeLike | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Check that reference and estimated values pair up one to one.

    Parameters
    ----------
    reference, estimated : array-like, shape (n,)
    dtype : numpy dtype, optional
        Convert both to this type (e.g. ``np.float64`` for numeric metrics); by default they keep theirs.

    Returns
    -------
    reference, estimated : np.ndarray, shape (n,)

    Raises
    ------
    ValueError
        If either is not 1-d, their lengths differ, or they are empty.
    """
    r = np.asarray(reference, dtype=dtype)
    e = np.asarray(estimated, dtype=dtype)
    if r.ndim != 1 or e.ndim != 1:
        raise ValueError(f"reference and estimated must be 1-d, got shapes {r.shape} and {e.shape}")
    if len(r) != len(e):
        raise ValueError(f"reference ({len(r)}) and estimated ({len(e)}) differ in length")
    if len(r) == 0:
        raise ValueError("empty reference")
    return r, e


def average_ranks(x: ArrayLike) -> np.ndarray:
    """Ranks of values, ties sharing their mean rank.

    Parameters
    ----------
    x : array-like, shape (n,)

    Returns
    -------
    np.ndarray, shape (n,), float64
        0-based ranks in increasing order of ``x`` (the smallest value has rank 0).
    """
    v = np.asarray(x)
    order = np.argsort(v, kind="stable")
    ranks = np.empty(len(v), dtype=np.float64)
    ranks[order] = np.arange(len(v), dtype=np.float64)
    _, inv, counts = np.unique(v, return_inverse=True, return_counts=True)
    if np.any(counts > 1):
        sums = np.bincount(inv, weights=ranks)
        ranks = sums[inv] / counts[inv]
    return ranks


def finite_mean(values: ArrayLike) -> float:
    """Mean of the finite values (NaN and inf are undefined scores and left out).

    Parameters
    ----------
    values : array-like of float

    Returns
    -------
    float
        NaN when no value is finite.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    return float(v.mean()) if len(v) else float("nan")
