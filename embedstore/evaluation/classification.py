"""Single-label classification and ordinal-level metrics (one evaluation at a time, mir_eval style).

Task: each item has one reference label; a probe estimates one label per item.

Conventions
-----------
- ``reference`` and ``estimated`` are 1-d arrays of the same length ``n``. Labels may be any hashable values for
  :func:`accuracy` and :func:`macro_f1`; the ordinal metrics (:func:`within_k_accuracy`,
  :func:`mean_absolute_error`) need numeric levels (e.g. Henle difficulty 1-9), and their units are levels.
- Shares are in [0, 1]; chance is the majority class's share (:func:`majority_label`) or ``1 / n_classes``.
- Macro-F1 averages over the classes present in ``reference`` (or over ``labels`` when given); a class never
  predicted and never present contributes nothing, a class present but never predicted contributes 0.
- Empty inputs raise ``ValueError``; mismatched lengths raise ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from embedstore.evaluation.util import validate_paired

__all__ = [
    "accuracy",
    "balanced_accuracy",
    "macro_f1",
    "within_k_accuracy",
    "mean_absolute_error",
    "confusion_matrix",
    "majority_label",
    "evaluate",
]


def accuracy(reference: ArrayLike, estimated: ArrayLike) -> float:
    """Share of items whose estimated label equals the reference label.

    Parameters
    ----------
    reference, estimated : array-like, shape (n,)
        Labels of any hashable type.

    Returns
    -------
    accuracy : float
        In [0, 1].
    """
    r, e = validate_paired(reference, estimated)
    return float(np.mean(r == e))


def balanced_accuracy(reference: ArrayLike, estimated: ArrayLike) -> float:
    """Mean per-class recall over the classes present in ``reference``.

    Parameters
    ----------
    reference, estimated : array-like, shape (n,)
        Labels; each class present in ``reference`` weighs the same.

    Returns
    -------
    balanced_accuracy : float
        In [0, 1]; chance is ``1 / n_classes`` whatever the class balance.
    """
    r, e = validate_paired(reference, estimated)
    classes = np.unique(r)
    return float(np.mean([np.mean(e[r == c] == c) for c in classes]))


def macro_f1(reference: ArrayLike, estimated: ArrayLike, *, labels: ArrayLike | None = None) -> float:
    """Unweighted mean of per-class F1 scores.

    Parameters
    ----------
    reference, estimated : array-like, shape (n,)
        Labels.
    labels : array-like, optional
        Classes to average over; default: the classes present in ``reference``.

    Returns
    -------
    macro_f1 : float
        In [0, 1]; NaN when ``labels`` is empty.
    """
    r, e = validate_paired(reference, estimated)
    classes = np.unique(r) if labels is None else np.asarray(labels)
    f1 = []
    for c in classes:
        tp = np.sum((r == c) & (e == c))
        fp = np.sum((r != c) & (e == c))
        fn = np.sum((r == c) & (e != c))
        denom = 2 * tp + fp + fn
        f1.append(0.0 if denom == 0 else 2 * tp / denom)
    return float(np.mean(f1)) if f1 else float("nan")


def within_k_accuracy(reference: ArrayLike, estimated: ArrayLike, *, k: float = 1) -> float:
    """Share of items whose estimated level is within ``k`` levels of the reference.

    Parameters
    ----------
    reference, estimated : array-like, shape (n,)
        Numeric levels.
    k : float
        Tolerance in levels; ``k=1`` is ±1 accuracy.

    Returns
    -------
    within_k : float
        In [0, 1].
    """
    r, e = validate_paired(reference, estimated)
    return float(np.mean(np.abs(r.astype(float) - e.astype(float)) <= k + 1e-9))


def mean_absolute_error(reference: ArrayLike, estimated: ArrayLike) -> float:
    """Mean absolute difference between estimated and reference levels.

    Parameters
    ----------
    reference, estimated : array-like, shape (n,)
        Numeric levels.

    Returns
    -------
    mae : float
        In levels (>= 0).
    """
    r, e = validate_paired(reference, estimated)
    return float(np.mean(np.abs(r.astype(float) - e.astype(float))))


def confusion_matrix(reference: ArrayLike, estimated: ArrayLike, *, labels: Sequence[Hashable]) -> np.ndarray:
    """Counts of reference classes against estimated classes.

    Parameters
    ----------
    reference, estimated : array-like, shape (n,)
        Labels.
    labels : sequence
        The classes, in the order of the matrix's rows and columns; items with other labels are not counted.

    Returns
    -------
    np.ndarray, shape (n_labels, n_labels), int64
        ``C[i, j]`` items of class ``labels[i]`` estimated as ``labels[j]``.
    """
    r, e = validate_paired(reference, estimated)
    labels = list(labels)
    pos = {v: i for i, v in enumerate(labels)}
    c = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for a, b in zip(r.tolist(), e.tolist()):
        if a in pos and b in pos:
            c[pos[a], pos[b]] += 1
    return c


def majority_label(train_reference: ArrayLike) -> Any:
    """The most frequent label of a training set: the majority baseline's prediction.

    Parameters
    ----------
    train_reference : array-like, shape (n,)
        Training labels.

    Returns
    -------
    object
        The label (a numpy scalar); ties go to the smallest label.

    Raises
    ------
    ValueError
        For an empty training set.
    """
    vals, counts = np.unique(np.asarray(train_reference), return_counts=True)
    if len(vals) == 0:
        raise ValueError("empty training labels")
    return vals[int(np.argmax(counts))]


def evaluate(reference: ArrayLike, estimated: ArrayLike, *, ordinal: bool = False) -> dict[str, float]:
    """All metrics at once.

    Parameters
    ----------
    reference, estimated : array-like, shape (n,)
        Labels (numeric levels when ``ordinal``).
    ordinal : bool
        Add the ordinal metrics.

    Returns
    -------
    dict
        ``accuracy``, ``macro_f1`` and, when ``ordinal``, ``within1_accuracy`` and ``mae`` (levels).
    """
    out = {"accuracy": accuracy(reference, estimated), "macro_f1": macro_f1(reference, estimated)}
    if ordinal:
        out["within1_accuracy"] = within_k_accuracy(reference, estimated, k=1)
        out["mae"] = mean_absolute_error(reference, estimated)
    return out
