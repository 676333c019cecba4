"""Confidence intervals for small test sets.

``bootstrap_ci(metric, *arrays)`` resamples items (or whole groups, with ``groups=``) with replacement and returns the
point estimate and a percentile interval. Use it on pooled out-of-fold predictions; report the fold-to-fold spread
with ``fold_spread``. Estimates are in the metric's own units; ``level`` is the interval's coverage (0.95 = 95 %).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from embedstore import config

__all__ = ["Estimate", "bootstrap_ci", "fold_spread"]


@dataclass
class Estimate:
    """A point estimate with a confidence interval.

    Attributes
    ----------
    value : float
        The metric on all items.
    low, high : float
        Interval bounds (NaN when no resample gave a finite value).
    n : int
        Items (not groups) the metric was computed on.
    level : float
        Coverage of the interval.
    """

    value: float
    low: float
    high: float
    n: int
    level: float = 0.95

    def as_dict(self) -> dict[str, Any]:
        """``value``, ``ci_low``, ``ci_high``, ``n`` and ``ci_level`` (the JSON form of reports)."""
        return {
            "value": self.value,
            "ci_low": self.low,
            "ci_high": self.high,
            "n": self.n,
            "ci_level": self.level,
        }

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


def bootstrap_ci(
    metric: Callable[..., float],
    *arrays: ArrayLike,
    n_boot: int = config.DEFAULT_N_BOOT,
    level: float = config.DEFAULT_CI_LEVEL,
    groups: ArrayLike | None = None,
    seed: int = 0,
) -> Estimate:
    """Percentile bootstrap CI of ``metric(*arrays)``.

    Parameters
    ----------
    metric : callable
        Takes the arrays (same first dimension n) and returns a float; resamples on which it raises
        ``ValueError``/``ZeroDivisionError``/``FloatingPointError`` or returns a non-finite value are skipped.
    *arrays : array-like, first dimension n
    n_boot : int
        Resamples.
    level : float
        Coverage of the interval, in (0, 1).
    groups : array-like, shape (n,), optional
        Resample whole groups (cluster bootstrap) so that correlated items (windows of a recording, pieces) are not
        counted as independent.
    seed : int

    Returns
    -------
    Estimate
    """
    arrs = [np.asarray(a) for a in arrays]
    n = len(arrs[0])
    value = float(metric(*arrs))
    rng = np.random.default_rng(seed)
    stats: list[float] = []
    members: list[np.ndarray] = []
    if groups is not None:
        g = np.asarray(groups).astype(str)
        uniq, inv = np.unique(g, return_inverse=True)
        members = [np.flatnonzero(inv == i) for i in range(len(uniq))]
    for _ in range(n_boot):
        if groups is None:
            idx = rng.integers(0, n, n)
        else:
            pick = rng.integers(0, len(members), len(members))
            idx = np.concatenate([members[i] for i in pick])
        try:
            v = float(metric(*[a[idx] for a in arrs]))
        except (ValueError, ZeroDivisionError, FloatingPointError):
            continue
        if np.isfinite(v):
            stats.append(v)
    if not stats:
        return Estimate(value, float("nan"), float("nan"), n, level)
    a = (1 - level) / 2
    lo, hi = np.quantile(stats, [a, 1 - a])
    return Estimate(value, float(lo), float(hi), n, level)


def fold_spread(values: Iterable[float | None]) -> dict[str, float | int]:
    """Mean and standard deviation of a metric across folds.

    Parameters
    ----------
    values : iterable of float or None
        One value per fold; ``None`` and non-finite values are left out.

    Returns
    -------
    dict
        ``mean``, ``std`` (sample standard deviation, 0 for one fold; NaN for none) and ``folds`` (how many
        values counted).
    """
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    if len(v) == 0:
        return {"mean": float("nan"), "std": float("nan"), "folds": 0}
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0, "folds": int(len(v))}
