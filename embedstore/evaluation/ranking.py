"""Pairwise preference metrics, e.g. expertise ranking of two performances (mir_eval style).

Task: a pair ``(A, B)`` has a reference preference (A better or B better); a ranker outputs a signed score
``s(A, B)`` (> 0: A better, < 0: B better, 0: undecided).

Conventions
-----------
- ``reference`` : (p,) preferences as ``+1`` / ``-1`` (A / B better), or bool / 0-1 where true/1 means A better.
- ``estimated`` : (p,) signed scores ``s(A, B)``; only the sign matters for accuracy, a zero counts 1/2.
- Consistency of a ranker on its own predictions: :func:`antisymmetry_error` (``s(A, B) + s(B, A)`` should be 0)
  and :func:`intransitive_share` (share of fully compared triples whose predicted preferences form a cycle
  A > B > C > A). A ranker that scores each item on its own and compares the scores has both at 0.
"""

from __future__ import annotations

import numpy as np


def as_signs(reference) -> np.ndarray:
    """Preferences as +1 (A better) / -1 (B better) floats."""
    r = np.asarray(reference)
    if r.dtype == bool:
        return np.where(r, 1.0, -1.0)
    r = r.astype(np.float64)
    if np.all(np.isin(r, (0.0, 1.0))):
        return np.where(r > 0, 1.0, -1.0)
    if not np.all(np.isin(r, (-1.0, 1.0))):
        raise ValueError("reference preferences must be +1/-1, 0/1 or bool")
    return r


def pairwise_accuracy(reference, estimated) -> float:
    """Share of pairs whose predicted preference matches the reference (ties count 1/2), 0-1."""
    r = as_signs(reference)
    e = np.asarray(estimated, dtype=np.float64)
    if r.shape != e.shape or r.ndim != 1:
        raise ValueError(f"reference {r.shape} and estimated {e.shape} must be 1-d of equal length")
    if len(r) == 0:
        raise ValueError("no pairs")
    s = np.sign(e)
    return float(np.mean(np.where(s == 0, 0.5, (s == r).astype(float))))


def antisymmetry_error(score_ab, score_ba) -> float:
    """Largest ``|s(A, B) + s(B, A)|`` over pairs (0 for an exactly antisymmetric ranker)."""
    a = np.asarray(score_ab, dtype=np.float64)
    b = np.asarray(score_ba, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError("score arrays differ in shape")
    return float(np.max(np.abs(a + b))) if a.size else 0.0


def intransitive_share(item_a, item_b, a_better) -> float:
    """Share of triples with all three pairs compared whose preferences form a cycle (0-1; NaN without triples).

    Parameters
    ----------
    item_a, item_b : (p,) item identifiers of each pair (any hashable)
    a_better : (p,) bool (or +1/-1): the preference of each pair. A pair listed twice keeps its last preference.
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


def kendall_tau(reference_scores, estimated_scores) -> float:
    """Kendall's tau-a between two score vectors of the same items (-1..1)."""
    r = np.asarray(reference_scores, dtype=np.float64)
    e = np.asarray(estimated_scores, dtype=np.float64)
    if r.shape != e.shape or r.ndim != 1:
        raise ValueError("score vectors must be 1-d of equal length")
    n = len(r)
    if n < 2:
        return float("nan")
    iu = np.triu_indices(n, 1)
    dr = np.sign(r[:, None] - r[None, :])[iu]
    de = np.sign(e[:, None] - e[None, :])[iu]
    return float(np.sum(dr * de) / len(dr))


def evaluate(reference, estimated) -> dict[str, float]:
    return {"pairwise_accuracy": pairwise_accuracy(reference, estimated)}
