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
(every pair undecided: pairwise accuracy 0.5). The metric functions and baselines live in
:mod:`embedstore.probes.metrics`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from embedstore.errors import ConfigError, check_choice
from embedstore.labels import expand_targets, group_column, technique_matrix

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
        """Number of rows (recordings)."""
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
    """The heads of a task name (a clear error listing the valid names otherwise)."""
    check_choice("task", task, tuple(TASKS))
    return TASKS[task]


def _groups(frame: pd.DataFrame, group_by: str) -> np.ndarray:
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
    classes : the class list of a classification task (default: the sorted labels)
    """
    heads = resolve_task(name)
    frame = frame.reset_index(drop=True)
    head = heads[0]
    if head in ("classification", "ordinal"):
        return _class_task(name, heads, frame, target, group_by, classes)
    if head == "multilabel":
        Y, names = technique_matrix(frame, classes=target)
        return _labelled(
            name, heads, frame, None, group_by, y=Y.astype(np.int8), target_names=names, classes=names
        )
    if head == "regression":
        return _regression_task(name, heads, frame, target, group_by)
    return _ranking_task(name, heads, frame, pairs, group_by)


def _labelled(
    name: str,
    heads: tuple[str, ...],
    frame: pd.DataFrame,
    keep: np.ndarray | None,
    group_by: str,
    **fields: object,
) -> TaskData:
    """A task of the rows ``keep`` (bool, None: all) of ``frame``; counts the dropped unlabelled rows."""
    sub = frame if keep is None else frame[keep].reset_index(drop=True)
    t = TaskData(
        name,
        heads,
        sub["recording_id"].astype(str).to_numpy(),
        _groups(sub, group_by),
        group_by,
        **fields,
    )
    if keep is not None:
        t.info["dropped_unlabelled"] = int((~keep).sum())
    return t


def _class_task(
    name: str,
    heads: tuple[str, ...],
    frame: pd.DataFrame,
    target: str | list[str] | None,
    group_by: str,
    classes: list | None,
) -> TaskData:
    import pandas as pd

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
    y = num[keep].to_numpy(np.float64) if numeric else raw[keep].astype(str).to_numpy()
    if numeric and np.all(np.mod(y, 1) == 0):
        y = y.astype(np.int64)
    cls = sorted(set(y.tolist())) if classes is None else list(classes)
    if len(cls) < 2:
        raise ConfigError(f"target {col!r} has fewer than 2 classes among labelled recordings")
    return _labelled(
        name, heads, frame, keep, group_by, y=y, target_names=[col], classes=cls, numeric_classes=numeric
    )


def _regression_task(
    name: str, heads: tuple[str, ...], frame: pd.DataFrame, target: str | list[str] | None, group_by: str
) -> TaskData:
    import pandas as pd

    if not target:
        raise ConfigError(f"task {name!r} needs --target (rating columns, comma-separated or patterns)")
    cols = expand_targets(frame.columns, target)
    vals = frame[cols].apply(pd.to_numeric, errors="coerce")
    bad = [c for c in cols if vals[c].notna().sum() == 0]
    if bad:
        raise ConfigError(f"target columns hold no numbers: {', '.join(bad)}")
    keep = vals.notna().all(axis=1).to_numpy()
    return _labelled(name, heads, frame, keep, group_by, y=vals[keep].to_numpy(np.float64), target_names=cols)


def _ranking_task(
    name: str, heads: tuple[str, ...], frame: pd.DataFrame, pairs: pd.DataFrame | None, group_by: str
) -> TaskData:
    if pairs is None or len(pairs) == 0:
        raise ConfigError("task 'ranking' needs pairs: --pairs pairs.csv, or --pairs-from <rating column>")
    ids = sorted(set(pairs["a"].astype(str)) | set(pairs["b"].astype(str)))
    fr = frame.assign(recording_id=frame["recording_id"].astype(str))
    fr = (
        fr[fr["recording_id"].isin(ids)]
        .drop_duplicates("recording_id")
        .set_index("recording_id")
        .reindex(ids)
        .reset_index()
    )
    pos = {r: i for i, r in enumerate(ids)}
    P = np.array(
        [[pos[a], pos[b]] for a, b in zip(pairs["a"].astype(str), pairs["b"].astype(str))], dtype=np.int64
    )
    return TaskData(
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
