"""Labels of a projection: which rows are labelled, and the loss targets derived from the training rows only.

- continuous losses (``weighted-contrastive``, ``rank-n-contrast``) need numeric labels; bin edges come from the
  training rows (weighted-contrastive trains on bin indices, rank-n-contrast on the raw values);
- class losses (``supcon``, ``triplet``) take any labels as classes; numeric labels with many distinct or
  fractional values are binned first (edges from the training rows).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from embedstore.errors import ConfigError
from embedstore.projections.losses import CONTINUOUS_LOSSES, assign_bins, bin_edges

#: String forms of a missing label (after ``str``), e.g. from CSV/pandas round trips.
MISSING_STRINGS = ("", "nan", "None", "<NA>")


def missing_labels(values: Sequence | np.ndarray) -> np.ndarray:
    """(n,) bool: True where a label is missing (None, a non-finite number, or an empty / NaN-like string)."""
    out = []
    for v in values:
        if v is None or (isinstance(v, float | np.floating) and not np.isfinite(v)):
            out.append(True)
        else:
            out.append(str(v).strip() in MISSING_STRINGS)
    return np.array(out, dtype=bool)


def is_numeric(values: Sequence | np.ndarray) -> bool:
    """Whether every value converts to a float."""
    try:
        np.asarray(values, dtype=np.float64)
        return True
    except (TypeError, ValueError):
        return False


def prepare_targets(
    labels: Sequence | np.ndarray,
    train_idx: np.ndarray,
    *,
    loss: str,
    n_bins: int = 5,
    binning: Literal["uniform", "quantile"] = "uniform",
    column: str = "label",
) -> tuple[np.ndarray, dict]:
    """Turn labels into loss targets, with bin edges / classes taken from the training rows only.

    Parameters
    ----------
    labels : (n,) labels; train_idx : the training rows
    loss : the projection's loss (:data:`~embedstore.projections.losses.LOSSES`)
    n_bins, binning : label bins (continuous losses, and numeric labels with many values)
    column : the label's name (saved with the projection)

    Returns
    -------
    targets : (n,) float (rank-n-contrast) or int (bins / class codes; −1 for a class unseen in training)
    label_info : dict ``{"column", "kind", "bin_edges", "classes"}`` saved with the projection
    """
    labels = np.asarray(labels, dtype=object)
    info: dict = {"column": column, "kind": None, "bin_edges": None, "classes": None}
    numeric = is_numeric(labels)
    if loss in CONTINUOUS_LOSSES:
        if not numeric:
            raise ConfigError(
                f"loss {loss!r} needs a numeric label; column {column!r} is not numeric",
                hint="use --loss supcon or --loss triplet for class labels",
            )
        y = np.asarray(labels, dtype=np.float64)
        info["kind"] = "continuous"
        edges = bin_edges(y[train_idx], n_bins=n_bins, binning=binning)
        info["bin_edges"] = edges.tolist()
        if loss == "weighted-contrastive":
            return assign_bins(y, edges), info
        return y, info
    if numeric:
        y = np.asarray(labels, dtype=np.float64)
        integral = np.allclose(y, np.round(y))
        if not integral or len(np.unique(y[train_idx])) > max(20, n_bins):
            edges = bin_edges(y[train_idx], n_bins=n_bins, binning=binning)
            info.update(kind="binned", bin_edges=edges.tolist())
            return assign_bins(y, edges), info
        labels = np.array([str(int(v)) for v in y], dtype=object)
    s = np.array([str(v) for v in labels], dtype=object)
    classes = sorted(set(s[train_idx]))
    info.update(kind="class", classes=classes)
    code = {c: i for i, c in enumerate(classes)}
    return np.array([code.get(v, -1) for v in s], dtype=np.int64), info
