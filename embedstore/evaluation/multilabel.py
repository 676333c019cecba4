"""Multi-label tagging metrics, e.g. piano techniques (scales, arpeggios, ornaments, ...) (mir_eval style).

Task: each item may carry any subset of ``k`` classes; a probe outputs one real-valued score per class (higher
means more likely present).

Conventions
-----------
- ``reference`` : (n, k) array of 0/1 (or bool); ``estimated`` : (n, k) float scores (probabilities or logits:
  only their order within a class matters).
- Per-class AP is the mean of precision at the rank of each positive (ties broken by item order, stable);
  AUROC is the Mann-Whitney probability that a random positive outscores a random negative (ties count 1/2).
- A class without positives (or, for AUROC, without negatives) in ``reference`` has an undefined score (NaN) and
  is skipped by the macro means (:func:`mean_average_precision`, :func:`macro_auroc`).
- The chance level of AP for a class is its prevalence; of AUROC it is 0.5.
"""

from __future__ import annotations

import numpy as np


def _check(reference, estimated) -> tuple[np.ndarray, np.ndarray]:
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


def average_precision(reference, estimated) -> np.ndarray:
    """Per-class average precision, shape (k,); NaN for classes without positives."""
    r, e = _check(reference, estimated)
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


def auroc(reference, estimated) -> np.ndarray:
    """Per-class area under the ROC curve, shape (k,); NaN for classes lacking positives or negatives."""
    from embedstore.evaluation.regression import _rank

    r, e = _check(reference, estimated)
    out = np.full(r.shape[1], np.nan)
    for j in range(r.shape[1]):
        pos = r[:, j]
        n_pos, n_neg = int(pos.sum()), int((~pos).sum())
        if n_pos == 0 or n_neg == 0:
            continue
        ranks = _rank(e[:, j]) + 1.0
        out[j] = float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    return out


def _nanmean(v: np.ndarray) -> float:
    v = v[np.isfinite(v)]
    return float(v.mean()) if len(v) else float("nan")


def mean_average_precision(reference, estimated) -> float:
    """Macro mean of the per-class AP over classes with at least one positive."""
    return _nanmean(average_precision(reference, estimated))


def macro_auroc(reference, estimated) -> float:
    """Macro mean of the per-class AUROC over classes with positives and negatives."""
    return _nanmean(auroc(reference, estimated))


def prevalence(reference) -> np.ndarray:
    """Share of positives per class, shape (k,) - the AP of a chance ranker."""
    r = np.asarray(reference).astype(bool)
    if r.ndim == 1:
        r = r[:, None]
    return r.mean(axis=0)


def positive_weights(reference, *, max_weight: float = 100.0) -> np.ndarray:
    """Positive-class weights ``n_negative / n_positive`` per class (clipped to ``[1/max, max]``), shape (k,).

    Used to weight the positive term of a binary cross-entropy so rare techniques are not ignored.
    """
    r = np.asarray(reference).astype(bool)
    if r.ndim == 1:
        r = r[:, None]
    pos = r.sum(axis=0).astype(float)
    neg = len(r) - pos
    w = np.where(pos > 0, neg / np.maximum(pos, 1), 1.0)
    return np.clip(w, 1.0 / max_weight, max_weight)


def evaluate(reference, estimated, *, class_names=None) -> dict:
    """mAP, macro AUROC and the per-class AP/AUROC (keyed by class name)."""
    ap = average_precision(reference, estimated)
    au = auroc(reference, estimated)
    names = list(class_names) if class_names is not None else [str(i) for i in range(len(ap))]
    return {
        "map": _nanmean(ap),
        "auroc": _nanmean(au),
        "per_class": {n: {"ap": float(a), "auroc": float(b)} for n, a, b in zip(names, ap, au)},
    }
