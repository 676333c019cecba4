"""How each probe head is scored: metric functions (point and vectorised bootstrap forms) and baselines.

============== ===================================================================
head           metrics
============== ===================================================================
classification accuracy, macro-F1 (+ ±1 accuracy, MAE when the labels are numeric levels)
ordinal        accuracy, macro-F1, ±1 accuracy, MAE (levels)
multilabel     mAP, macro AUROC
regression     R², Pearson, Spearman, MAE per target column (+ their mean over targets)
ranking        pairwise accuracy
============== ===================================================================

A metric is ``fn(reference, estimated) -> float`` (rows aligned); its vectorised form
``fn(reference, estimated, W) -> (n_boot,)`` evaluates every bootstrap resample at once from multiplicity weights
``W`` (n_boot, n) (:mod:`embedstore.probes.bootstrap`). Regression metrics are keyed ``(target, metric)``.

Baselines use the training folds' labels only: ``majority`` (most frequent training class), ``mean`` (training
mean), ``prior`` (constant scores: AP = prevalence, AUROC = 0.5) and ``chance`` (every pair undecided).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from embedstore.evaluation import classification as C
from embedstore.evaluation import multilabel as M
from embedstore.evaluation import ranking as R
from embedstore.evaluation import regression as G
from embedstore.probes import bootstrap as B
from embedstore.probes.tasks import TaskData

Metric = Callable[[np.ndarray, np.ndarray], float]
WeightedMetric = B.WeightedMetric


def _macro_f1(r: np.ndarray, e: np.ndarray) -> float:
    return C.macro_f1(r, e, labels=np.unique(r))


def _within1(r: np.ndarray, e: np.ndarray) -> float:
    return C.within_k_accuracy(r, e, k=1)


def _column_metric(f: Metric, j: int) -> Metric:
    def metric(r: np.ndarray, e: np.ndarray) -> float:
        return f(r[:, j], e[:, j])

    return metric


def _mean_metric(f: Metric) -> Metric:
    def metric(r: np.ndarray, e: np.ndarray) -> float:
        v = np.array([f(r[:, j], e[:, j]) for j in range(r.shape[1])], dtype=np.float64)
        v = v[np.isfinite(v)]
        return float(v.mean()) if len(v) else float("nan")

    return metric


MetricKey = str | tuple[str, str]


def _metric_table(head: str, task: TaskData) -> list[tuple[MetricKey, Metric, WeightedMetric]]:
    """(key, point metric, vectorised metric) of every metric of a head."""
    out: list[tuple[MetricKey, Metric, WeightedMetric]]
    if head in ("classification", "ordinal"):
        out = [("accuracy", C.accuracy, B.w_accuracy), ("macro_f1", _macro_f1, B.w_macro_f1)]
        if task.numeric_classes:
            out += [("within1_accuracy", _within1, B.w_within_k(1)), ("mae", C.mean_absolute_error, B.w_mae)]
        return out
    if head == "multilabel":
        return [("map", M.mean_average_precision, B.w_map), ("auroc", M.macro_auroc, B.w_macro_auroc)]
    if head == "regression":
        base = (
            ("r2", G.r2, B.w_r2),
            ("pearson", G.pearson, B.w_pearson),
            ("spearman", G.spearman, B.w_spearman),
            ("mae", G.mean_absolute_error, B.w_mae),
        )
        out = [
            ((name, m), _column_metric(f, j), B.column(w, j))
            for j, name in enumerate(task.target_names)
            for m, f, w in base
        ]
        if len(task.target_names) > 1:
            out += [(("mean", m), _mean_metric(f), B.mean_of_columns(w)) for m, f, w in base]
        return out
    if head == "ranking":
        return [("pairwise_accuracy", R.pairwise_accuracy, B.w_pairwise_accuracy)]
    raise ValueError(head)


def metric_functions(head: str, task: TaskData) -> dict:
    """``{metric: fn(reference, estimated) -> float}`` of a head (reference/estimated aligned by row)."""
    return {k: f for k, f, _ in _metric_table(head, task)}


def weighted_metric_functions(head: str, task: TaskData) -> dict:
    """Same keys as :func:`metric_functions`: vectorised versions ``fn(reference, estimated, W) -> (n_boot,)``
    evaluated on all bootstrap resamples at once (see :mod:`embedstore.probes.bootstrap`)."""
    return {k: w for k, _, w in _metric_table(head, task)}


def baseline_predict(head: str, task: TaskData, train_idx: np.ndarray, n_test: int) -> np.ndarray:
    """Predictions of the head's baseline for ``n_test`` rows, from the training rows' labels only.

    Returns
    -------
    np.ndarray: (n_test,) labels / levels / zeros (ranking), or (n_test, k) training means / prevalences
    """
    if head in ("classification", "ordinal"):
        m = C.majority_label(np.asarray(task.y)[train_idx])
        return np.array([m] * n_test, dtype=object if not task.numeric_classes else None)
    if head == "regression":
        return np.repeat(
            np.asarray(task.y, dtype=np.float64)[train_idx].mean(axis=0, keepdims=True), n_test, 0
        )
    if head == "multilabel":
        prev = np.asarray(task.y, dtype=np.float64)[train_idx].mean(axis=0, keepdims=True)
        return np.repeat(prev, n_test, 0)
    if head == "ranking":
        return np.zeros(n_test)
    raise ValueError(head)


def chance_map(reference: np.ndarray, estimated: np.ndarray) -> float:
    """Expected mAP of a ranker without information: the mean prevalence over classes with positives.

    Parameters
    ----------
    reference : (n, k) 0/1 labels; estimated : ignored (the baseline has no scores)
    """
    r = np.asarray(reference).astype(bool)
    prev = r.mean(axis=0)
    prev = prev[r.sum(axis=0) > 0]
    return float(prev.mean()) if len(prev) else float("nan")
