"""Multi-label tagging metrics, e.g. piano techniques (scales, arpeggios, ornaments, ...) (mir_eval style).

Task: each item may carry any subset of ``k`` classes; a probe outputs one real-valued score per class (higher
means more likely present).

Conventions
-----------
- ``reference`` : (n, k) array of 0/1 (or bool); ``estimated`` : (n, k) float scores (probabilities or logits:
  only their order within a class matters). A 1-d array is one class, shape (n,) = (n, 1).
- Per-class AP is the mean of precision at the rank of each positive (ties broken by item order, stable);
  AUROC is the Mann-Whitney probability that a random positive outscores a random negative (ties count 1/2).
  Both are in [0, 1].
- A class without positives (or, for AUROC, without negatives) in ``reference`` has an undefined score (NaN) and
  is skipped by the macro means (:func:`mean_average_precision`, :func:`macro_auroc`).
- The chance level of AP for a class is its prevalence (:func:`prevalence`); of AUROC it is 0.5.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from embedstore.evaluation.util import average_ranks, finite_mean

__all__ = [
    "validate",
    "average_precision",
    "auroc",
    "mean_average_precision",
    "macro_auroc",
    "prevalence",
    "positive_weights",
    "evaluate",
]


def _as_2d_bool(reference: ArrayLike) -> np.ndarray:
    r = np.asarray(reference).astype(bool)
    return r[:, None] if r.ndim == 1 else r


def validate(reference: ArrayLike, estimated: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Check that the reference tags and the scores have one row per item and one column per class.

    Parameters
    ----------
    reference : array-like, shape (n, k) or (n,)
        0/1 or bool tags.
    estimated : array-like, shape (n, k) or (n,)
        Scores.

    Returns
    -------
    reference : np.ndarray, shape (n, k), bool
    estimated : np.ndarray, shape (n, k), float64

    Raises
    ------
    ValueError
        If the shapes differ or there are no items.
    """
    r = np.asarray(reference)
    e = np.asarray(estimated, dtype=np.float64)
    if r.ndim == 1:
        r = r[:, None]
    if e.ndim == 1:
        e = e[:, None]
    if r.shape != e.shape:
        raise ValueError(f"reference {r.shape} and estimated {e.shape} differ in shape")
    if r.shape[0] == 0:
        raise ValueError("empty reference")
    return r.astype(bool), e


def average_precision(reference: ArrayLike, estimated: ArrayLike) -> np.ndarray:
    """Per-class average precision.

    Parameters
    ----------
    reference : array-like, shape (n, k)
        Tags (0/1).
    estimated : array-like, shape (n, k)
        Scores; only their order within a class counts.

    Returns
    -------
    ap : np.ndarray, shape (k,), float64
        In [0, 1]; NaN for classes without positives.
    """
    r, e = validate(reference, estimated)
    out = np.full(r.shape[1], np.nan)
    for j in range(r.shape[1]):
        n_pos = int(r[:, j].sum())
        if n_pos == 0:
            continue
        order = np.argsort(-e[:, j], kind="stable")
        rel = r[order, j]
        hits = np.cumsum(rel)
        ranks = np.flatnonzero(rel) + 1
        out[j] = float((hits[rel] / ranks).sum() / n_pos)
    return out


def auroc(reference: ArrayLike, estimated: ArrayLike) -> np.ndarray:
    """Per-class area under the ROC curve.

    Parameters
    ----------
    reference : array-like, shape (n, k)
        Tags (0/1).
    estimated : array-like, shape (n, k)
        Scores; ties count 1/2.

    Returns
    -------
    auroc : np.ndarray, shape (k,), float64
        In [0, 1] (chance 0.5); NaN for classes lacking positives or negatives.
    """
    r, e = validate(reference, estimated)
    out = np.full(r.shape[1], np.nan)
    for j in range(r.shape[1]):
        pos = r[:, j]
        n_pos, n_neg = int(pos.sum()), int((~pos).sum())
        if n_pos == 0 or n_neg == 0:
            continue
        ranks = average_ranks(e[:, j]) + 1.0
        out[j] = float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    return out


def mean_average_precision(reference: ArrayLike, estimated: ArrayLike) -> float:
    """Macro mean of the per-class AP over classes with at least one positive.

    Parameters
    ----------
    reference, estimated : array-like, shape (n, k)
        Tags and scores, as for :func:`average_precision`.

    Returns
    -------
    map : float
        In [0, 1]; NaN when no class has a positive.
    """
    return finite_mean(average_precision(reference, estimated))


def macro_auroc(reference: ArrayLike, estimated: ArrayLike) -> float:
    """Macro mean of the per-class AUROC over classes with positives and negatives.

    Parameters
    ----------
    reference, estimated : array-like, shape (n, k)
        Tags and scores, as for :func:`auroc`.

    Returns
    -------
    auroc : float
        In [0, 1]; NaN when no class has both.
    """
    return finite_mean(auroc(reference, estimated))


def prevalence(reference: ArrayLike) -> np.ndarray:
    """Share of positives per class: the AP of a chance ranker.

    Parameters
    ----------
    reference : array-like, shape (n, k) or (n,)

    Returns
    -------
    np.ndarray, shape (k,), float64
    """
    return _as_2d_bool(reference).mean(axis=0)


def positive_weights(reference: ArrayLike, *, max_weight: float = 100.0) -> np.ndarray:
    """Positive-class weights ``n_negative / n_positive`` per class.

    Used to weight the positive term of a binary cross-entropy so rare techniques are not ignored.

    Parameters
    ----------
    reference : array-like, shape (n, k) or (n,)
    max_weight : float
        Weights are clipped to ``[1 / max_weight, max_weight]``; a class without positives gets 1.

    Returns
    -------
    np.ndarray, shape (k,), float64
    """
    r = _as_2d_bool(reference)
    pos = r.sum(axis=0).astype(float)
    neg = len(r) - pos
    w = np.where(pos > 0, neg / np.maximum(pos, 1), 1.0)
    return np.clip(w, 1.0 / max_weight, max_weight)


def evaluate(
    reference: ArrayLike, estimated: ArrayLike, *, class_names: Sequence[str] | None = None
) -> dict[str, Any]:
    """mAP, macro AUROC and the per-class AP/AUROC.

    Parameters
    ----------
    reference : array-like, shape (n, k)
    estimated : array-like, shape (n, k)
    class_names : sequence of str, optional
        Names of the k classes (default ``'0'``, ``'1'``...).

    Returns
    -------
    dict
        ``map``, ``auroc`` (floats) and ``per_class``: ``{name: {"ap": float, "auroc": float}}``.
    """
    ap = average_precision(reference, estimated)
    au = auroc(reference, estimated)
    names = list(class_names) if class_names is not None else [str(i) for i in range(len(ap))]
    return {
        "map": finite_mean(ap),
        "auroc": finite_mean(au),
        "per_class": {n: {"ap": float(a), "auroc": float(b)} for n, a, b in zip(names, ap, au)},
    }
