"""Confidence intervals for small test sets.

``bootstrap_ci(metric, *arrays)`` resamples items (or whole groups, with ``groups=``) with replacement and returns the
point estimate and a percentile interval. Use it on pooled out-of-fold predictions; report the fold-to-fold spread
with ``fold_spread``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class Estimate:
    value: float
    low: float
    high: float
    n: int
    level: float = 0.95

    def as_dict(self) -> dict:
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
    metric: Callable[..., float], *arrays, n_boot: int = 1000, level: float = 0.95, groups=None, seed: int = 0
) -> Estimate:
    """Percentile bootstrap CI of ``metric(*arrays)``.

    Parameters
    ----------
    metric : callable taking the arrays (same first dimension n) and returning a float
    arrays : array-likes with first dimension n
    groups : array-like (n,), optional
        Resample whole groups (cluster bootstrap) so that correlated items (windows of a recording, pieces) are not
        counted as independent.
    """
    arrays = [np.asarray(a) for a in arrays]
    n = len(arrays[0])
    value = float(metric(*arrays))
    rng = np.random.default_rng(seed)
    stats = []
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
            v = float(metric(*[a[idx] for a in arrays]))
        except (ValueError, ZeroDivisionError, FloatingPointError):
            continue
        if np.isfinite(v):
            stats.append(v)
    if not stats:
        return Estimate(value, float("nan"), float("nan"), n, level)
    a = (1 - level) / 2
    lo, hi = np.quantile(stats, [a, 1 - a])
    return Estimate(value, float(lo), float(hi), n, level)


def fold_spread(values) -> dict:
    """Mean and standard deviation of a metric across folds."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    if len(v) == 0:
        return {"mean": float("nan"), "std": float("nan"), "folds": 0}
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0, "folds": int(len(v))}
