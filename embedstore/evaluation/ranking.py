"""Pairwise preference metrics, e.g. expertise ranking of two performances (mir_eval style).

Task: a pair ``(A, B)`` has a reference preference (A better or B better); a ranker outputs a signed score
``s(A, B)`` (> 0: A better, < 0: B better, 0: undecided).

Conventions
-----------
- ``reference`` : (p,) preferences as ``+1`` / ``-1`` (A / B better), or bool / 0-1 where true/1 means A better.
- ``estimated`` : (p,) signed scores ``s(A, B)``; only the sign matters for accuracy, a zero counts 1/2.
- Pairwise accuracy is in [0, 1]; chance (a coin, or a constant score of 0) is 0.5.
- Consistency of a ranker on its own predictions: :func:`antisymmetry_error` (``s(A, B) + s(B, A)`` should be 0)
  and :func:`intransitive_share` (share of fully compared triples whose predicted preferences form a cycle
  A > B > C > A). A ranker that scores each item on its own and compares the scores has both at 0.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from embedstore.evaluation.util import validate_paired

__all__ = [
    "as_signs",
    "pairwise_accuracy",
    "antisymmetry_error",
    "intransitive_share",
    "kendall_tau",
    "evaluate",
]


def as_signs(reference: ArrayLike) -> np.ndarray:
    """Preferences as signs.

    Parameters
    ----------
    reference : array-like, shape (p,)
        ``+1``/``-1``, 0/1 or bool (true/1: A better).

    Returns
    -------
    np.ndarray, shape (p,), float64
        +1 where A is better, -1 where B is.

    Raises
    ------
    ValueError
        For other values.
    """
    r = np.asarray(reference)
    if r.dtype == bool:
        return np.where(r, 1.0, -1.0)
    r = r.astype(np.float64)
    if np.all(np.isin(r, (0.0, 1.0))):
        return np.where(r > 0, 1.0, -1.0)
    if not np.all(np.isin(r, (-1.0, 1.0))):
        raise ValueError("reference preferences must be +1/-1, 0/1 or bool")
    return r


def pairwise_accuracy(reference: ArrayLike, estimated: ArrayLike) -> float:
    """Share of pairs whose predicted preference matches the reference (a zero score counts 1/2).

    Parameters
    ----------
    reference : array-like, shape (p,)
        Preferences (see :func:`as_signs`).
    estimated : array-like, shape (p,)
        Signed scores ``s(A, B)``.

    Returns
    -------
    float
        In [0, 1]; chance 0.5.

    Raises
    ------
    ValueError
        For shapes that differ, are not 1-d, or no pairs.
    """
    r, e = validate_paired(as_signs(reference), estimated, dtype=np.float64)
    s = np.sign(e)
    return float(np.mean(np.where(s == 0, 0.5, (s == r).astype(float))))


def antisymmetry_error(score_ab: ArrayLike, score_ba: ArrayLike) -> float:
    """Largest ``|s(A, B) + s(B, A)|`` over pairs.

    Parameters
    ----------
    score_ab, score_ba : array-like, shape (p,)
        The ranker's scores of each pair in both orders.

    Returns
    -------
    float
        In score units; 0 for an exactly antisymmetric ranker (and for no pairs).
    """
    a = np.asarray(score_ab, dtype=np.float64)
    b = np.asarray(score_ba, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError("score arrays differ in shape")
    return float(np.max(np.abs(a + b))) if a.size else 0.0


def intransitive_share(item_a: ArrayLike, item_b: ArrayLike, a_better: ArrayLike) -> float:
    """Share of triples with all three pairs compared whose preferences form a cycle.

    Parameters
    ----------
    item_a, item_b : array-like, shape (p,)
        Item identifiers of each pair (any hashable).
    a_better : array-like, shape (p,)
        Bool (or +1/-1): the preference of each pair. A pair listed twice keeps its last preference.

    Returns
    -------
    float
        In [0, 1]; NaN without a fully compared triple.
    """
    a = np.asarray(item_a)
    b = np.asarray(item_b)
    w = as_signs(a_better) > 0
    ids, inv = np.unique(np.concatenate([a.astype(str), b.astype(str)]), return_inverse=True)
    ia, ib = inv[: len(a)], inv[len(a) :]
    m = len(ids)
    beats = np.zeros((m, m))
    for i, j, aw in zip(ia, ib, w):
        if i == j:
            continue
        beats[i, j], beats[j, i] = (1.0, 0.0) if aw else (0.0, 1.0)
    comp = ((beats + beats.T) > 0).astype(float)
    triangles = np.trace(comp @ comp @ comp) / 6.0
    if triangles == 0:
        return float("nan")
    cycles = np.trace(beats @ beats @ beats) / 3.0
    return float(cycles / triangles)


def kendall_tau(reference_scores: ArrayLike, estimated_scores: ArrayLike) -> float:
    """Kendall's tau-a between two score vectors of the same items.

    Parameters
    ----------
    reference_scores, estimated_scores : array-like, shape (n,)

    Returns
    -------
    float
        In [-1, 1] (chance 0); NaN for fewer than two items.

    Raises
    ------
    ValueError
        For shapes that differ or are not 1-d.
    """
    r = np.asarray(reference_scores, dtype=np.float64)
    e = np.asarray(estimated_scores, dtype=np.float64)
    if r.shape != e.shape or r.ndim != 1:
        raise ValueError(f"score vectors must be 1-d of equal length, got shapes {r.shape} and {e.shape}")
    n = len(r)
    if n < 2:
        return float("nan")
    iu = np.triu_indices(n, 1)
    dr = np.sign(r[:, None] - r[None, :])[iu]
    de = np.sign(e[:, None] - e[None, :])[iu]
    return float(np.sum(dr * de) / len(dr))


def evaluate(reference: ArrayLike, estimated: ArrayLike) -> dict[str, float]:
    """All pairwise metrics of one ranker's scores.

    Parameters
    ----------
    reference : array-like, shape (p,)
    estimated : array-like, shape (p,)

    Returns
    -------
    dict
        ``pairwise_accuracy``.
    """
    return {"pairwise_accuracy": pairwise_accuracy(reference, estimated)}
