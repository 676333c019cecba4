"""Probe tasks: what is predicted, from which label columns, and how it is scored.

A task has one or more *heads* (output kinds):

============== ============================ ===================================================================
task           heads                        metrics (per head)
============== ============================ ===================================================================
difficulty     classification, ordinal      accuracy, macro-F1, ±1 accuracy, MAE (levels, e.g. Henle 1-9)
technique      multilabel                   mAP, macro AUROC (+ per-class AP); positive-class weighting
ratings        regression                   R², Pearson, Spearman, MAE per rating column (+ their mean)
ranking        ranking                      pairwise accuracy (+ antisymmetry, intransitive share, Kendall tau)
classification classification               accuracy, macro-F1 (+ ±1 accuracy, MAE when labels are numeric)
ordinal        ordinal                      accuracy, macro-F1, ±1 accuracy, MAE
regression     regression                   as ratings
multilabel     multilabel                   as technique
============== ============================ ===================================================================

Every head has a baseline that uses the training folds' labels only: ``majority`` (most frequent training
class), ``mean`` (training mean), ``prior`` (constant scores: AP = prevalence, AUROC = 0.5) and ``chance``
(every pair undecided: pairwise accuracy 0.5).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from embedstore.errors import ConfigError, check_choice

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

TASKS: dict[str, tuple[str, ...]] = {
    "difficulty": ("classification", "ordinal"),
    "technique": ("multilabel",),
    "ratings": ("regression",),
    "ranking": ("ranking",),
    "classification": ("classification",),
    "ordinal": ("ordinal",),
    "regression": ("regression",),
    "multilabel": ("multilabel",),
}
HEADS = ("classification", "ordinal", "multilabel", "regression", "ranking")
#: Default target columns tried, in order, when none is given.
DEFAULT_TARGETS = {"difficulty": ("henle", "difficulty", "level")}
#: The metric that picks the best layer / probe, and whether higher is better.
PRIMARY = {
    "classification": ("accuracy", True),
    "ordinal": ("within1_accuracy", True),
    "multilabel": ("map", True),
    "regression": ("r2", True),
    "ranking": ("pairwise_accuracy", True),
}
BASELINE_NAME = {
    "classification": "majority",
    "ordinal": "majority",
    "regression": "mean",
    "multilabel": "prior",
    "ranking": "chance",
}
LOWER_IS_BETTER = {"mae", "antisymmetry_error", "intransitive_share"}


@dataclass
class TaskData:
    """Labels of one task aligned with recordings.

    Attributes
    ----------
    recording_ids : (n,) recordings with a label (ranking: every recording in a pair)
    groups : (n,) value of the grouping column (CV never splits a group)
    y : (n,) class labels/levels; (n, k) 0/1 techniques; (n, t) ratings; None for ranking
    pairs : (p, 2) int indices into ``recording_ids``; pair_labels : (p,) bool, True when A is better
    """

    name: str
    heads: tuple[str, ...]
    recording_ids: np.ndarray
    groups: np.ndarray
    group_by: str
    y: np.ndarray | None = None
    target_names: list[str] = field(default_factory=list)
    classes: list | None = None
    numeric_classes: bool = False
    pairs: np.ndarray | None = None
    pair_labels: np.ndarray | None = None
    info: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.recording_ids)

    def subset(self, keep: np.ndarray) -> TaskData:
        """Keep rows ``keep`` (bool (n,) or indices); pairs are re-indexed and pairs losing a side dropped."""
        keep = np.asarray(keep)
        idx = np.flatnonzero(keep) if keep.dtype == bool else keep
        new = TaskData(
            self.name,
            self.heads,
            self.recording_ids[idx],
            self.groups[idx],
            self.group_by,
            None if self.y is None else self.y[idx],
            list(self.target_names),
            self.classes,
            self.numeric_classes,
            info=dict(self.info),
        )
        if self.pairs is not None:
            pos = np.full(self.n, -1)
            pos[idx] = np.arange(len(idx))
            a, b = pos[self.pairs[:, 0]], pos[self.pairs[:, 1]]
            ok = (a >= 0) & (b >= 0)
            new.pairs = np.stack([a[ok], b[ok]], axis=1)
            new.pair_labels = self.pair_labels[ok]
        return new

    def class_index(self) -> np.ndarray:
        """(n,) index of each label in ``classes``."""
        pos = {c: i for i, c in enumerate(self.classes)}
        return np.array([pos[v] for v in self.y.tolist()], dtype=np.int64)


def resolve_task(task: str) -> tuple[str, ...]:
    check_choice("task", task, tuple(TASKS))
    return TASKS[task]


def _groups(frame: pd.DataFrame, group_by: str) -> np.ndarray:
    from embedstore.labels import group_column

    col = group_column(group_by)
    if col not in frame.columns:
        raise ConfigError(
            f"cannot group by {group_by!r}: no such column",
            hint="columns: "
            + ", ".join(map(str, frame.columns[:40]))
            + "; or use piece, performer, recording",
        )
    g = frame[col].astype(object).to_numpy()
    rid = frame["recording_id"].astype(str).to_numpy()
    missing = np.array([v is None or (isinstance(v, float) and np.isnan(v)) or str(v) == "" for v in g])
    # a recording without a group value is its own group (never merged with others)
    return np.where(missing, np.char.add("recording:", rid.astype(str)), g.astype(str)).astype(str)


def build_task(
    name: str,
    frame: pd.DataFrame,
    *,
    target: str | list[str] | None = None,
    group_by: str = "piece_id",
    pairs: pd.DataFrame | None = None,
    classes: list | None = None,
) -> TaskData:
    """Turn a labelled recordings frame into a :class:`TaskData`.

    Parameters
    ----------
    name : a key of :data:`TASKS`
    frame : recordings joined with labels (``labels.join_labels(...).frame``, or ``Store.recordings()`` when the
        labels are store metadata); needs ``recording_id`` and the group column
    target : label column(s): one for classification/ordinal/difficulty, names or patterns for ratings/regression,
        the one-hot columns for technique/multilabel (default: PLD columns or a ``technique`` column)
    group_by : grouping column or alias (piece, performer, recording)
    pairs : for ranking, a DataFrame ``a``, ``b``, ``a_better`` of recording ids (see ``labels.read_pairs`` /
        ``labels.derive_pairs``)
    """
    import pandas as pd

    from embedstore.labels import expand_targets, technique_matrix

    heads = resolve_task(name)
    frame = frame.reset_index(drop=True)
    head = heads[0]
    if head in ("classification", "ordinal"):
        cols = (
            expand_targets(frame.columns, target)
            if target
            else [c for c in DEFAULT_TARGETS.get(name, ()) if c in frame.columns][:1]
        )
        if len(cols) != 1:
            raise ConfigError(
                f"task {name!r} needs one target column (--target)",
                hint="columns: " + ", ".join(map(str, frame.columns[:40])),
            )
        col = cols[0]
        raw = frame[col]
        num = pd.to_numeric(raw, errors="coerce")
        present = raw.notna() & (raw.astype(str).str.strip() != "")
        numeric = bool(num[present].notna().all())
        if "ordinal" in heads and not numeric:
            raise ConfigError(f"ordinal target {col!r} must be numeric levels")
        keep = (num.notna() if numeric else present).to_numpy()
        sub = frame[keep].reset_index(drop=True)
        y = num[keep].to_numpy(np.float64) if numeric else raw[keep].astype(str).to_numpy()
        if numeric and np.all(np.mod(y, 1) == 0):
            y = y.astype(np.int64)
        cls = sorted(set(y.tolist())) if classes is None else list(classes)
        if len(cls) < 2:
            raise ConfigError(f"target {col!r} has fewer than 2 classes among labelled recordings")
        t = TaskData(
            name,
            heads,
            sub["recording_id"].astype(str).to_numpy(),
            _groups(sub, group_by),
            group_by,
            y=y,
            target_names=[col],
            classes=cls,
            numeric_classes=numeric,
        )
        t.info["dropped_unlabelled"] = int((~keep).sum())
        return t
    if head == "multilabel":
        Y, names = technique_matrix(frame, classes=target)
        t = TaskData(
            name,
            heads,
            frame["recording_id"].astype(str).to_numpy(),
            _groups(frame, group_by),
            group_by,
            y=Y.astype(np.int8),
            target_names=names,
            classes=names,
        )
        return t
    if head == "regression":
        if not target:
            raise ConfigError(f"task {name!r} needs --target (rating columns, comma-separated or patterns)")
        cols = expand_targets(frame.columns, target)
        vals = frame[cols].apply(pd.to_numeric, errors="coerce")
        bad = [c for c in cols if vals[c].notna().sum() == 0]
        if bad:
            raise ConfigError(f"target columns hold no numbers: {', '.join(bad)}")
        keep = vals.notna().all(axis=1).to_numpy()
        sub = frame[keep].reset_index(drop=True)
        t = TaskData(
            name,
            heads,
            sub["recording_id"].astype(str).to_numpy(),
            _groups(sub, group_by),
            group_by,
            y=vals[keep].to_numpy(np.float64),
            target_names=cols,
        )
        t.info["dropped_unlabelled"] = int((~keep).sum())
        return t
    # ranking
    if pairs is None or len(pairs) == 0:
        raise ConfigError("task 'ranking' needs pairs: --pairs pairs.csv, or --pairs-from <rating column>")
    ids = sorted(set(pairs["a"].astype(str)) | set(pairs["b"].astype(str)))
    fr = frame.assign(recording_id=frame["recording_id"].astype(str))
    fr = (
        fr[fr["recording_id"].isin(ids)]
        .drop_duplicates("recording_id")
        .set_index("recording_id")
        .reindex(ids)
    )
    fr = fr.reset_index()
    pos = {r: i for i, r in enumerate(ids)}
    P = np.array(
        [[pos[a], pos[b]] for a, b in zip(pairs["a"].astype(str), pairs["b"].astype(str))], dtype=np.int64
    )
    t = TaskData(
        name,
        heads,
        np.array(ids, dtype=object),
        _groups(fr, group_by),
        group_by,
        y=None,
        target_names=["preference"],
        pairs=P,
        pair_labels=pairs["a_better"].to_numpy(bool),
    )
    return t


# ---------------------------------------------------------------------------------------------- decoding
def head_outputs(head: str, task: TaskData) -> int:
    """Number of raw outputs of a head's model."""
    if head == "classification":
        return len(task.classes)
    if head in ("ordinal", "ranking"):
        return 1
    return task.y.shape[1]


def fit_targets(head: str, task: TaskData, *, for_ridge: bool = False) -> np.ndarray:
    """Targets a model fits: class indices (one-hot for ridge), levels, 0/1 matrix or ratings."""
    if head == "classification":
        ci = task.class_index()
        if for_ridge:
            return np.eye(len(task.classes), dtype=np.float32)[ci]
        return ci
    if head == "ordinal":
        return np.asarray(task.y, dtype=np.float64)[:, None]
    if head == "multilabel":
        return np.asarray(task.y, dtype=np.float32)
    if head == "regression":
        return np.asarray(task.y, dtype=np.float64)
    raise ValueError(head)


def decode(head: str, task: TaskData, raw: np.ndarray) -> np.ndarray:
    """Turn raw model outputs (..., n, o) into predictions: labels, rounded levels, scores or values."""
    if head == "classification":
        idx = np.argmax(raw, axis=-1)
        return np.asarray(task.classes, dtype=object if not task.numeric_classes else None)[idx]
    if head == "ordinal":
        lo, hi = float(min(task.classes)), float(max(task.classes))
        return np.clip(np.rint(raw[..., 0]), lo, hi)
    if head == "ranking":
        return raw[..., 0]
    return raw


# ---------------------------------------------------------------------------------------------- metrics
def metric_functions(head: str, task: TaskData) -> dict:
    """``{metric: fn(reference, estimated) -> float}`` of a head (reference/estimated aligned by row)."""
    from embedstore.evaluation import classification as C
    from embedstore.evaluation import multilabel as M
    from embedstore.evaluation import ranking as R
    from embedstore.evaluation import regression as G

    if head in ("classification", "ordinal"):
        fns = {"accuracy": C.accuracy, "macro_f1": lambda r, e: C.macro_f1(r, e, labels=np.unique(r))}
        if task.numeric_classes:
            fns["within1_accuracy"] = lambda r, e: C.within_k_accuracy(r, e, k=1)
            fns["mae"] = C.mean_absolute_error
        return fns
    if head == "multilabel":
        return {"map": M.mean_average_precision, "auroc": M.macro_auroc}
    if head == "regression":
        fns = {}
        base = (
            ("r2", G.r2),
            ("pearson", G.pearson),
            ("spearman", G.spearman),
            ("mae", G.mean_absolute_error),
        )
        for j, name in enumerate(task.target_names):
            for m, f in base:
                fns[(name, m)] = _column_metric(f, j)
        if len(task.target_names) > 1:
            for m, f in base:
                fns[("mean", m)] = _mean_metric(f)
        return fns
    if head == "ranking":
        return {"pairwise_accuracy": R.pairwise_accuracy}
    raise ValueError(head)


def weighted_metric_functions(head: str, task: TaskData) -> dict:
    """Same keys as :func:`metric_functions`: vectorised versions ``fn(reference, estimated, W) -> (n_boot,)``
    evaluated on all bootstrap resamples at once (see :mod:`embedstore.probes.bootstrap`)."""
    from embedstore.probes import bootstrap as B

    if head in ("classification", "ordinal"):
        fns = {"accuracy": B.w_accuracy, "macro_f1": B.w_macro_f1}
        if task.numeric_classes:
            fns["within1_accuracy"] = B.w_within_k(1)
            fns["mae"] = B.w_mae
        return fns
    if head == "multilabel":
        return {"map": B.w_map, "auroc": B.w_macro_auroc}
    if head == "regression":
        fns = {}
        base = (("r2", B.w_r2), ("pearson", B.w_pearson), ("spearman", B.w_spearman), ("mae", B.w_mae))
        for j, name in enumerate(task.target_names):
            for m, f in base:
                fns[(name, m)] = B.column(f, j)
        if len(task.target_names) > 1:
            for m, f in base:
                fns[("mean", m)] = B.mean_of_columns(f)
        return fns
    if head == "ranking":
        return {"pairwise_accuracy": B.w_pairwise_accuracy}
    raise ValueError(head)


def _column_metric(f, j: int):
    def metric(r, e):
        return f(r[:, j], e[:, j])

    return metric


def _mean_metric(f):
    def metric(r, e):
        v = np.array([f(r[:, j], e[:, j]) for j in range(r.shape[1])], dtype=np.float64)
        v = v[np.isfinite(v)]
        return float(v.mean()) if len(v) else float("nan")

    return metric


def baseline_predict(head: str, task: TaskData, train_idx, n_test: int) -> np.ndarray:
    """Predictions of the head's baseline for ``n_test`` rows, from the training rows' labels only."""
    from embedstore.evaluation.classification import majority_label

    if head in ("classification", "ordinal"):
        m = majority_label(np.asarray(task.y)[train_idx])
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


def chance_map(reference, estimated) -> float:
    """Expected mAP of a ranker without information: the mean prevalence over classes with positives."""
    r = np.asarray(reference).astype(bool)
    prev = r.mean(axis=0)
    prev = prev[r.sum(axis=0) > 0]
    return float(prev.mean()) if len(prev) else float("nan")
