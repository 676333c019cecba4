"""Leakage-safe cross-validation of probes: grouped outer folds, inner model selection, out-of-fold outputs.

Protocol
--------
1. Outer folds: grouped k-fold on the task's group column (piece by default), so no group is in train and test.
   Every fold is checked with :func:`~embedstore.evaluation.splits.check_disjoint`.
2. Model selection inside each outer training fold only: one grouped inner split (``val_fraction`` of the
   training groups) picks the regularisation strength (ridge alpha, logistic L2) or the epoch (MLP, layer-mix,
   attention: early stopping). Ridge and logistic are then refitted on the whole training fold.
3. Out-of-fold outputs are pooled into a :class:`HeadCV` (scored by :mod:`embedstore.probes.scoring`).

Every layer is probed at once (one batched fit per fold); closed-form ridge heads that share their rows are solved
together (:func:`cross_validate_many`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from embedstore.errors import ConfigError
from embedstore.evaluation.splits import check_disjoint, group_kfold, inner_split
from embedstore.probes.gram import GramCache
from embedstore.probes.mlp import layer_weights
from embedstore.probes.models import (
    Features,
    ProbeOptions,
    fit_head,
    forward_params,
    model_kind,
    rows_of,
    selection_score,
)
from embedstore.probes.ridge import ridge_cross_validate
from embedstore.probes.tasks import TaskData, decode, fit_targets

Folds = list[tuple[np.ndarray, np.ndarray]]


def make_folds(task: TaskData, opts: ProbeOptions) -> Folds:
    """Grouped outer folds (stratified by class for classification tasks); each is checked for leakage.

    Returns
    -------
    list of (train rows, test rows) index arrays into the task's rows
    """
    n_groups = len(np.unique(task.groups))
    # stratify only when there are enough groups to balance classes without emptying folds
    strat = (
        task.y if task.heads[0] in ("classification", "ordinal") and n_groups >= 3 * opts.n_splits else None
    )
    folds = group_kfold(task.groups, n_splits=opts.n_splits, seed=opts.seed, stratify=strat)
    if strat is not None and len(folds) < min(opts.n_splits, n_groups):  # balancing emptied a fold
        folds = group_kfold(task.groups, n_splits=opts.n_splits, seed=opts.seed)
    for tr, te in folds:
        check_disjoint(task.groups, tr, te)
    if len(folds) < 2:
        raise ConfigError(f"only {len(folds)} usable fold(s): too few groups of {task.group_by!r}")
    return folds


def fold_index(n: int, folds: Folds) -> np.ndarray:
    """(n,) the test fold of each row (-1 for a row in no test fold)."""
    fold_of = np.full(n, -1)
    for f, (_, te) in enumerate(folds):
        fold_of[te] = f
    return fold_of


def inner_rows(
    task: TaskData, train: np.ndarray, opts: ProbeOptions, fold: int
) -> tuple[np.ndarray, np.ndarray]:
    """Grouped inner (fit, validation) split of an outer training fold: row indices into the task."""
    a, b = inner_split(task.groups[train], val_fraction=opts.val_fraction, seed=opts.seed + 1000 + fold)
    return train[a], train[b]


@dataclass
class HeadCV:
    """Out-of-fold results of one (probe, head) over every layer.

    Attributes
    ----------
    layers : layer ids, or ``["mix"]``
    raw : (M, n, o) out-of-fold raw outputs
    pred : decoded: (M, n) labels/levels/scores or (M, n, k)
    fold_of : (n,) test fold of each row
    hyper : (M, n_folds) chosen alpha / L2 / best epoch
    """

    probe: str
    kind: str
    head: str
    layers: list
    raw: np.ndarray
    pred: np.ndarray
    fold_of: np.ndarray
    hyper: np.ndarray
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


def cross_validate_many(
    X: np.ndarray,
    jobs: Sequence[tuple[TaskData, str]],
    *,
    probe: str,
    folds: Folds,
    opts: ProbeOptions,
    layers: Sequence,
    cache: GramCache | None = None,
) -> list[HeadCV]:
    """Out-of-fold predictions of several closed-form ridge heads solved together.

    The jobs (task, head) must share rows, groups and folds (e.g. the two heads of ``difficulty``, or several
    tasks labelled on the same recordings): the Gram matrices and factorisations are shared, and each head still
    picks its own alpha per layer on the inner split.

    Parameters
    ----------
    X : (L, n, d) features aligned with the tasks' rows
    jobs : (task, head) pairs
    probe : a probe name that fits these heads in closed form (``ridge``, or ``linear`` for levels/ratings)
    folds : outer folds (:func:`make_folds`); layers : the layer id of each of the L layers
    cache : optional :class:`~embedstore.probes.ridge.GramCache` of ``X``

    Returns
    -------
    one :class:`HeadCV` per job
    """
    t0 = time.perf_counter()
    ref = jobs[0][0]
    for t, h in jobs:
        if model_kind(probe, h) != "ridge":
            raise ConfigError(f"probe {probe!r} does not fit {h!r} in closed form")
        if t.n != ref.n or not np.array_equal(t.groups, ref.groups):
            raise ConfigError("jobs solved together must share their rows and groups")
    if cache is None:
        cache = GramCache(X)
    Ys = [fit_targets(h, t, for_ridge=True) for t, h in jobs]
    splits, scores = [], []
    for f, (tr, te) in enumerate(folds):
        fit_rows, val_rows = inner_rows(ref, tr, opts, f)
        splits.append((fit_rows, val_rows, te))
        scores.append([selection_score("ridge", h, Y, fit_rows) for (t, h), Y in zip(jobs, Ys)])
    best, outs = ridge_cross_validate(cache, Ys, splits, alphas=opts.alphas, scores=scores, X=X)
    raws = [np.ascontiguousarray(o) for o in outs]  # (L, n, t) each; rows in no test fold stay 0
    hyper = [best[:, :, j].T for j in range(len(jobs))]  # (L, n_folds)
    fold_of = fold_index(ref.n, folds)
    secs = (time.perf_counter() - t0) / len(jobs)
    return [
        HeadCV(
            probe,
            "ridge",
            h,
            list(layers)[: raws[j].shape[0]],
            raws[j],
            decode(h, t, raws[j]),
            fold_of,
            hyper[j],
            secs,
        )
        for j, (t, h) in enumerate(jobs)
    ]


def cross_validate(
    X: Features,
    task: TaskData,
    *,
    probe: str,
    head: str,
    folds: Folds,
    opts: ProbeOptions,
    layers: Sequence,
    cache: GramCache | None = None,
) -> HeadCV:
    """Out-of-fold predictions of one probe for one head, every layer at once.

    Parameters
    ----------
    X : (L, n, d) features aligned with ``task`` rows, or (S, mask) window sequences for ``attention``
    folds : outer folds from :func:`make_folds`
    layers : the layer id of each of the L feature layers
    cache : optional :class:`~embedstore.probes.ridge.GramCache` of ``X`` shared between heads
    """
    kind = model_kind(probe, head)
    if kind is None:
        raise ConfigError(f"probe {probe!r} does not apply to {head!r}")
    if kind == "ridge":
        return cross_validate_many(
            X, [(task, head)], probe=probe, folds=folds, opts=opts, layers=layers, cache=cache
        )[0]
    t0 = time.perf_counter()
    raw = None
    hyper = []
    for f, (tr, te) in enumerate(folds):
        fit_rows, val_rows = inner_rows(task, tr, opts, f)
        params, hp = fit_head(kind, head, task, X, fit_rows, val_rows, opts, cache=cache)
        out = forward_params(kind, params, rows_of(X, te))
        if raw is None:
            raw = np.zeros((out.shape[0], task.n, out.shape[2]), dtype=np.float32)
        raw[:, te] = out
        hyper.append(np.asarray(hp, dtype=np.float64).reshape(-1))
    M = raw.shape[0]
    lay = list(layers) if kind != "layermix" else ["mix"]
    res = HeadCV(
        probe,
        kind,
        head,
        lay[:M],
        raw,
        decode(head, task, raw),
        fold_index(task.n, folds),
        np.stack(hyper, axis=1),
        time.perf_counter() - t0,
    )
    if kind == "layermix":
        # layer weights of the mix refitted on all rows (for interpretation only)
        fit_rows, val_rows = inner_rows(task, np.arange(task.n), opts, len(folds))
        params, _ = fit_head(kind, head, task, X, fit_rows, val_rows, opts)
        res.extra["layer_weights"] = dict(zip([str(x) for x in layers], layer_weights(params).tolist()))
    return res


def fit_final(
    X: Features, task: TaskData, *, probe: str, head: str, opts: ProbeOptions
) -> tuple[str, dict[str, np.ndarray], np.ndarray]:
    """Fit one head on every labelled row (inner grouped split for selection).

    Returns
    -------
    kind : the model kind; params : fitted parameters; hyper : (M,) chosen strength / best epoch
    """
    kind = model_kind(probe, head)
    if kind is None:
        raise ConfigError(f"probe {probe!r} does not apply to {head!r}")
    fit_rows, val_rows = inner_rows(task, np.arange(task.n), opts, 10_000)
    params, hp = fit_head(kind, head, task, X, fit_rows, val_rows, opts)
    return kind, params, hp
