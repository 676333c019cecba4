"""Single-label classification and ordinal-level metrics (one evaluation at a time, mir_eval style).

Task: each item has one reference label; a probe estimates one label per item.

Conventions
-----------
- ``reference`` and ``estimated`` are 1-d arrays of the same length ``n``. Labels may be any hashable values for
  :func:`accuracy` and :func:`macro_f1`; the ordinal metrics (:func:`within_k_accuracy`,
  :func:`mean_absolute_error`) need numeric levels (e.g. Henle difficulty 1-9), and their units are levels.
- Macro-F1 averages over the classes present in ``reference`` (or over ``labels`` when given); a class never
  predicted and never present contributes nothing, a class present but never predicted contributes 0.
- Empty inputs raise ``ValueError``; mismatched lengths raise ``ValueError``.
"""

from __future__ import annotations

import numpy as np


def _check(reference, estimated) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(reference)
    e = np.asarray(estimated)
    if r.ndim != 1 or e.ndim != 1:
        raise ValueError(f"reference and estimated must be 1-d, got shapes {r.shape} and {e.shape}")
    if len(r) != len(e):
        raise ValueError(f"reference ({len(r)}) and estimated ({len(e)}) differ in length")
    if len(r) == 0:
        raise ValueError("empty reference")
    return r, e


def accuracy(reference, estimated) -> float:
    """Share of items whose estimated label equals the reference label (0-1)."""
    r, e = _check(reference, estimated)
    return float(np.mean(r == e))


def balanced_accuracy(reference, estimated) -> float:
    """Mean per-class recall over the classes present in ``reference`` (0-1)."""
    r, e = _check(reference, estimated)
    classes = np.unique(r)
    return float(np.mean([np.mean(e[r == c] == c) for c in classes]))


def macro_f1(reference, estimated, *, labels=None) -> float:
    """Unweighted mean of per-class F1 scores (0-1).

    Parameters
    ----------
    reference, estimated : array-like, shape (n,)
    labels : array-like, optional
        Classes to average over; default: the classes present in ``reference``.
    """
    r, e = _check(reference, estimated)
    classes = np.unique(r) if labels is None else np.asarray(labels)
    f1 = []
    for c in classes:
        tp = np.sum((r == c) & (e == c))
        fp = np.sum((r != c) & (e == c))
        fn = np.sum((r == c) & (e != c))
        denom = 2 * tp + fp + fn
        f1.append(0.0 if denom == 0 else 2 * tp / denom)
    return float(np.mean(f1)) if f1 else float("nan")


def within_k_accuracy(reference, estimated, *, k: float = 1) -> float:
    """Share of items whose estimated level is within ``k`` levels of the reference (0-1); ``k=1`` is ±1 accuracy."""
    r, e = _check(reference, estimated)
    return float(np.mean(np.abs(r.astype(float) - e.astype(float)) <= k + 1e-9))


def mean_absolute_error(reference, estimated) -> float:
    """Mean absolute difference between estimated and reference levels (in levels)."""
    r, e = _check(reference, estimated)
    return float(np.mean(np.abs(r.astype(float) - e.astype(float))))


def confusion_matrix(reference, estimated, *, labels) -> np.ndarray:
    """Counts ``C[i, j]`` of items of class ``labels[i]`` estimated as ``labels[j]``; shape (n_labels, n_labels)."""
    r, e = _check(reference, estimated)
    labels = list(labels)
    pos = {v: i for i, v in enumerate(labels)}
    c = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for a, b in zip(r.tolist(), e.tolist()):
        if a in pos and b in pos:
            c[pos[a], pos[b]] += 1
    return c


def majority_label(train_reference):
    """The most frequent label of a training set (ties: the smallest label) - the majority baseline's prediction."""
    vals, counts = np.unique(np.asarray(train_reference), return_counts=True)
    if len(vals) == 0:
        raise ValueError("empty training labels")
    return vals[int(np.argmax(counts))]


def evaluate(reference, estimated, *, ordinal: bool = False) -> dict[str, float]:
    """All metrics at once: accuracy, macro-F1 and, for numeric ordinal levels, ±1 accuracy and MAE."""
    out = {"accuracy": accuracy(reference, estimated), "macro_f1": macro_f1(reference, estimated)}
    if ordinal:
        out["within1_accuracy"] = within_k_accuracy(reference, estimated, k=1)
        out["mae"] = mean_absolute_error(reference, estimated)
    return out
