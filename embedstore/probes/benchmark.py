"""Leakage-safe cross-validated probing of stored embeddings, and grids of such runs.

Protocol
--------
1. Outer folds: grouped k-fold on the task's group column (piece by default), so no group is in train and test.
   Every fold is checked with :func:`~embedstore.evaluation.splits.check_disjoint`.
2. Model selection inside each outer training fold only: one grouped inner split (``val_fraction`` of the
   training groups) picks the regularisation strength (ridge alpha, logistic L2) or the epoch (MLP, layer-mix,
   attention: early stopping). Ridge and logistic are then refitted on the whole training fold.
3. Out-of-fold predictions are pooled; each metric is reported with a cluster-bootstrap 95 % CI (resampling whole
   groups) and the fold-to-fold mean and standard deviation.
4. Every head gets a baseline fitted on the training folds only (majority class, training mean, prior, chance).

Every layer is probed at once (one batched fit per fold). Nothing re-encodes audio: the features are the
store's vectors (:meth:`~embedstore.store.Store.load_layers`).

Probe names (``probe=``): ``linear`` (logistic regression for classes and techniques, ridge for levels and
ratings, logistic siamese scorer for ranking), ``ridge`` (closed-form ridge for every head but ranking; the
fastest), ``logistic``, ``mlp`` (one hidden layer), ``layermix`` (a learnable softmax-weighted sum of all layers;
reported as layer ``mix``) and ``attention`` (attention pooling over the window sequence; needs
``level="window"``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embedstore.errors import ConfigError, check_choice
from embedstore.probes.linear import ALPHAS, LAMBDAS
from embedstore.probes.mlp import TrainOptions
from embedstore.probes.tasks import (
    BASELINE_NAME,
    LOWER_IS_BETTER,
    PRIMARY,
    TaskData,
    baseline_predict,
    chance_map,
    decode,
    fit_targets,
    metric_functions,
    weighted_metric_functions,
)

if TYPE_CHECKING:  # pragma: no cover
    from embedstore.probes.persist import Probe
    from embedstore.store import Store

PROBES = ("linear", "ridge", "logistic", "mlp", "layermix", "attention")
LEVELS = ("recording", "window")

# probe name -> head -> model kind (None: not applicable)
_KINDS: dict[str, dict[str, str | None]] = {
    "linear": {
        "classification": "logistic",
        "multilabel": "logistic",
        "ordinal": "ridge",
        "regression": "ridge",
        "ranking": "pairwise-linear",
    },
    "ridge": {
        "classification": "ridge",
        "multilabel": "ridge",
        "ordinal": "ridge",
        "regression": "ridge",
        "ranking": None,
    },
    "logistic": {
        "classification": "logistic",
        "multilabel": "logistic",
        "ordinal": None,
        "regression": None,
        "ranking": "pairwise-linear",
    },
    "mlp": {
        "classification": "mlp",
        "multilabel": "mlp",
        "ordinal": "mlp",
        "regression": "mlp",
        "ranking": "pairwise-mlp",
    },
    "layermix": {
        "classification": "layermix",
        "multilabel": "layermix",
        "ordinal": "layermix",
        "regression": "layermix",
        "ranking": None,
    },
    "attention": {
        "classification": "attention",
        "multilabel": "attention",
        "ordinal": "attention",
        "regression": "attention",
        "ranking": None,
    },
}


def model_kind(probe: str, head: str) -> str | None:
    """The model a probe name fits for a head (``None`` when the combination does not exist)."""
    check_choice("probe", probe, PROBES)
    return _KINDS[probe][head]


@dataclass
class ProbeOptions:
    """Cross-validation and training settings."""

    n_splits: int = 5
    seed: int = 0
    n_boot: int = 1000
    val_fraction: float = 0.25
    alphas: Sequence[float] = ALPHAS
    lams: Sequence[float] = LAMBDAS
    logistic_max_iter: int = 200
    train: TrainOptions = field(default_factory=TrainOptions)


# ---------------------------------------------------------------------------------------------- folds
def make_folds(task: TaskData, opts: ProbeOptions) -> list[tuple[np.ndarray, np.ndarray]]:
    """Grouped outer folds (stratified by class for classification tasks); each is checked for leakage."""
    from embedstore.evaluation.splits import check_disjoint, group_kfold

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


def inner_rows(
    task: TaskData, train: np.ndarray, opts: ProbeOptions, fold: int
) -> tuple[np.ndarray, np.ndarray]:
    """Grouped inner (fit, validation) split of an outer training fold: row indices into the task."""
    from embedstore.evaluation.splits import inner_split

    a, b = inner_split(task.groups[train], val_fraction=opts.val_fraction, seed=opts.seed + 1000 + fold)
    return train[a], train[b]


def _pairs_within(task: TaskData, rows: np.ndarray) -> np.ndarray:
    """Indices of the pairs whose two recordings are both among ``rows``."""
    inside = np.zeros(task.n, dtype=bool)
    inside[rows] = True
    return np.flatnonzero(inside[task.pairs[:, 0]] & inside[task.pairs[:, 1]])


# ---------------------------------------------------------------------------------------------- models
def forward_params(kind: str, params: dict, X) -> np.ndarray:
    """Raw outputs (M, n, o) of fitted params on features X ((L, n, d), or (S, mask) for attention)."""
    from embedstore.probes import linear, mlp

    if kind in ("ridge", "logistic"):
        return linear.linear_forward(params, X)
    if kind in ("mlp", "pairwise-linear", "pairwise-mlp"):
        return mlp.mlp_forward(params, X)
    if kind == "layermix":
        return mlp.layermix_forward(params, X)
    if kind == "attention":
        S, mask = X
        return mlp.attention_forward(params, S, mask)
    raise ValueError(f"unknown model kind {kind!r}")


def _logsumexp(z, axis=-1):
    m = z.max(axis=axis, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(axis=axis, keepdims=True))).squeeze(axis)


def _selection_score(
    kind: str, head: str, Yfit: np.ndarray, train_rows: np.ndarray, pos_weight=None
) -> Callable[[np.ndarray, np.ndarray], float]:
    """Smooth validation criterion (higher is better) for picking ridge alpha / logistic L2."""
    if kind == "ridge":
        Y = np.asarray(Yfit, dtype=np.float64).reshape(len(Yfit), -1)
        var = Y[train_rows].var(axis=0)
        var = np.where(var <= 1e-12, 1.0, var)

        def score(rows, out):
            return -float(np.mean((out - Y[rows]) ** 2 / var))

        return score
    if head == "classification":
        y = np.asarray(Yfit, dtype=np.int64)

        def score(rows, out):
            z = out.astype(np.float64)
            return -float(np.mean(_logsumexp(z) - z[np.arange(len(rows)), y[rows]]))

        return score
    Y = np.asarray(Yfit, dtype=np.float64)
    pw = np.ones(Y.shape[1]) if pos_weight is None else np.asarray(pos_weight)

    def score(rows, out):
        z = out.astype(np.float64)
        t = Y[rows]
        loss = pw * t * np.logaddexp(0, -z) + (1 - t) * np.logaddexp(0, z)
        return -float(loss.mean())

    return score


def fit_head(
    kind: str,
    head: str,
    task: TaskData,
    X,
    fit_rows: np.ndarray,
    val_rows: np.ndarray,
    opts: ProbeOptions,
    cache=None,
) -> tuple[dict, np.ndarray]:
    """Fit one model per layer (or one layer-mix) with selection on ``val_rows``.

    Ridge/logistic/linear-ranking choose their strength on (fit_rows, val_rows) and are refitted on both;
    neural probes train on ``fit_rows`` and stop early on ``val_rows``.

    Returns
    -------
    params (leading model dimension), hyper (M,): the chosen alpha / L2 / best epoch per model
    """
    from embedstore.evaluation.multilabel import positive_weights
    from embedstore.probes import linear, mlp, ranking

    fit_rows = np.asarray(fit_rows)
    val_rows = np.asarray(val_rows)
    both = np.union1d(fit_rows, val_rows)
    tr_opts = opts.train
    if head == "ranking":
        pf = _pairs_within(task, fit_rows)
        pv = _pairs_within(task, val_rows)
        if kind == "pairwise-linear":
            p = ranking.pairwise_fit(
                X,
                task.pairs,
                task.pair_labels,
                pf,
                pv,
                probe="linear",
                lams=opts.lams,
                refit_pairs=_pairs_within(task, both),
            )
            return p, p["lam"]
        p = ranking.pairwise_fit(X, task.pairs, task.pair_labels, pf, pv, probe="mlp", opts=tr_opts)
        return p, p["best_epoch"]

    Yfit = fit_targets(head, task, for_ridge=(kind == "ridge"))
    if kind == "ridge":
        if cache is None:
            cache = linear.GramCache(X)
        score = _selection_score(kind, head, Yfit, fit_rows)
        best, _ = linear.ridge_select(cache, Yfit, fit_rows, val_rows, alphas=opts.alphas, score=score)
        return linear.ridge_fit(cache, Yfit, both, alphas=best), best
    loss = {
        "classification": "multiclass",
        "multilabel": "multilabel",
        "ordinal": "regression",
        "regression": "regression",
    }[head]
    pw = positive_weights(Yfit[both]) if head == "multilabel" else None
    n_cls = len(task.classes) if head == "classification" else None
    if kind == "logistic":
        lk = "multiclass" if head == "classification" else "multilabel"
        score = _selection_score(kind, head, Yfit, fit_rows, pos_weight=pw)
        best, _ = linear.logistic_select(
            X,
            Yfit,
            fit_rows,
            val_rows,
            lams=opts.lams,
            score=score,
            kind=lk,
            n_classes=n_cls,
            pos_weight=pw,
            max_iter=opts.logistic_max_iter,
            seed=opts.seed,
        )
        p = linear.logistic_fit(
            X,
            Yfit,
            both,
            lams=best[:, None],
            kind=lk,
            n_classes=n_cls,
            pos_weight=pw,
            max_iter=opts.logistic_max_iter,
            seed=opts.seed,
        )
        return linear.pick(p, np.zeros(X.shape[0], dtype=int)), best
    if kind == "mlp":
        p = mlp.mlp_fit(X, Yfit, fit_rows, val_rows, loss=loss, n_classes=n_cls, pos_weight=pw, opts=tr_opts)
        return p, p["best_epoch"]
    if kind == "layermix":
        p = mlp.layermix_fit(
            X, Yfit, fit_rows, val_rows, loss=loss, n_classes=n_cls, pos_weight=pw, opts=tr_opts
        )
        return p, p["best_epoch"]
    if kind == "attention":
        S, mask = X
        p = mlp.attention_fit(
            S, mask, Yfit, fit_rows, val_rows, loss=loss, n_classes=n_cls, pos_weight=pw, opts=tr_opts
        )
        return p, p["best_epoch"]
    raise ValueError(f"unknown model kind {kind!r}")


def _rows_of(X, rows):
    if isinstance(X, tuple):
        S, mask = X
        return S[:, rows], mask[rows]
    return X[:, rows]


# ---------------------------------------------------------------------------------------------- CV
@dataclass
class HeadCV:
    """Out-of-fold results of one (probe, head) over every layer."""

    probe: str
    kind: str
    head: str
    layers: list  # layer ids, or ["mix"]
    raw: np.ndarray  # (M, n, o) out-of-fold raw outputs
    pred: np.ndarray  # decoded: (M, n) labels/levels/scores or (M, n, k)
    fold_of: np.ndarray  # (n,) test fold of each row
    hyper: np.ndarray  # (M, n_folds)
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


def cross_validate_many(
    X,
    jobs: Sequence[tuple[TaskData, str]],
    *,
    probe: str,
    folds,
    opts: ProbeOptions,
    layers: Sequence,
    cache=None,
) -> list[HeadCV]:
    """Out-of-fold predictions of several closed-form ridge heads solved together.

    The jobs (task, head) must share rows, groups and folds (e.g. the two heads of ``difficulty``, or several
    tasks labelled on the same recordings): the Gram matrices and factorisations are shared, and each head still
    picks its own alpha per layer on the inner split.
    """
    from embedstore.probes import linear

    t0 = time.perf_counter()
    ref = jobs[0][0]
    for t, h in jobs:
        if model_kind(probe, h) != "ridge":
            raise ConfigError(f"probe {probe!r} does not fit {h!r} in closed form")
        if t.n != ref.n or not np.array_equal(t.groups, ref.groups):
            raise ConfigError("jobs solved together must share their rows and groups")
    if cache is None:
        cache = linear.GramCache(X)
    Ys = [fit_targets(h, t, for_ridge=True) for t, h in jobs]
    raws = [None] * len(jobs)
    hyper = [[] for _ in jobs]
    fold_of = np.full(ref.n, -1)
    for f, (tr, te) in enumerate(folds):
        fit_rows, val_rows = inner_rows(ref, tr, opts, f)
        scores = [_selection_score("ridge", h, Y, fit_rows) for (t, h), Y in zip(jobs, Ys)]
        best, _ = linear.ridge_select_many(cache, Ys, fit_rows, val_rows, alphas=opts.alphas, scores=scores)
        params = linear.ridge_fit_many(cache, Ys, np.union1d(fit_rows, val_rows), alphas=best)
        Xte = X[:, te]
        for j, p in enumerate(params):
            out = linear.linear_forward(p, Xte)
            if raws[j] is None:
                raws[j] = np.zeros((out.shape[0], ref.n, out.shape[2]), dtype=np.float32)
            raws[j][:, te] = out
            hyper[j].append(best[:, j])
        fold_of[te] = f
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
            np.stack(hyper[j], axis=1),
            secs,
        )
        for j, (t, h) in enumerate(jobs)
    ]


def cross_validate(
    X, task: TaskData, *, probe: str, head: str, folds, opts: ProbeOptions, layers: Sequence, cache=None
) -> HeadCV:
    """Out-of-fold predictions of one probe for one head, every layer at once.

    Parameters
    ----------
    X : (L, n, d) features aligned with ``task`` rows, or (S, mask) window sequences for ``attention``
    folds : outer folds from :func:`make_folds`
    layers : the layer id of each of the L feature layers
    cache : optional :class:`~embedstore.probes.linear.GramCache` of ``X`` shared between heads
    """
    kind = model_kind(probe, head)
    if kind is None:
        raise ConfigError(f"probe {probe!r} does not apply to {head!r}")
    if kind == "ridge":
        return cross_validate_many(
            X, [(task, head)], probe=probe, folds=folds, opts=opts, layers=layers, cache=cache
        )[0]
    t0 = time.perf_counter()
    fold_of = np.full(task.n, -1)
    raw = None
    hyper = []
    for f, (tr, te) in enumerate(folds):
        fit_rows, val_rows = inner_rows(task, tr, opts, f)
        params, hp = fit_head(kind, head, task, X, fit_rows, val_rows, opts, cache=cache)
        out = forward_params(kind, params, _rows_of(X, te))
        if raw is None:
            raw = np.zeros((out.shape[0], task.n, out.shape[2]), dtype=np.float32)
        raw[:, te] = out
        fold_of[te] = f
        hyper.append(np.asarray(hp, dtype=np.float64).reshape(-1))
    M = raw.shape[0]
    pred = decode(head, task, raw)
    lay = list(layers) if kind != "layermix" else ["mix"]
    res = HeadCV(
        probe, kind, head, lay[:M], raw, pred, fold_of, np.stack(hyper, axis=1), time.perf_counter() - t0
    )
    if kind == "layermix":
        from embedstore.probes.mlp import layer_weights

        # layer weights of the mix refitted on all rows (for interpretation only)
        fit_rows, val_rows = inner_rows(task, np.arange(task.n), opts, len(folds))
        params, _ = fit_head(kind, head, task, X, fit_rows, val_rows, opts)
        res.extra["layer_weights"] = dict(zip([str(x) for x in layers], layer_weights(params).tolist()))
    return res


def _evaluate(
    fns: dict, ref, est_by_model, groups, fold_of, opts: ProbeOptions, wfns: dict | None = None
) -> list[dict]:
    """Metric rows (one per model and metric) with cluster-bootstrap CIs and the fold spread.

    ``wfns`` holds vectorised versions of (some of) the metrics, evaluated on all resamples at once; the
    resamples are those :func:`~embedstore.evaluation.stats.bootstrap_ci` draws.
    """
    from threadpoolctl import threadpool_limits

    from embedstore.evaluation.stats import fold_spread
    from embedstore.probes.bootstrap import ci_from_weights, mean_resamples, resample_weights

    wfns = wfns or {}
    done: dict = {}
    W = resample_weights(len(ref), groups=groups, n_boot=opts.n_boot, seed=opts.seed) if wfns else None
    out = []
    folds = sorted(set(fold_of.tolist()) - {-1})
    with threadpool_limits(1):  # small vectorised ops: threads only add contention
        for key, fn in fns.items():  # metric-major: the reference's ranks are reused across models
            target, metric = key if isinstance(key, tuple) else ("", key)
            wfn = wfns.get(key)
            for m in range(len(est_by_model)):
                est = est_by_model[m]
                res = None
                if wfn is not None:
                    cols = getattr(wfn, "columns_of", None)
                    parts = [
                        done.get((m, k2))
                        for k2 in wfns
                        if cols is not None
                        and isinstance(k2, tuple)
                        and k2[1] == metric
                        and k2[0] != target
                        and wfns[k2] is not wfn
                    ]
                    if cols is not None and parts and all(p is not None for p in parts):
                        res = mean_resamples(parts)  # the mean row: average the per-target resamples
                    else:
                        with np.errstate(all="ignore"):
                            res = np.asarray(wfn(ref, est, W), dtype=np.float64)
                    done[(m, key)] = res
                try:
                    ci = ci_from_weights(
                        fn,
                        wfn,
                        ref,
                        est,
                        W=W,
                        groups=groups,
                        n_boot=opts.n_boot,
                        seed=opts.seed,
                        resamples=res,
                    )
                except (ValueError, ZeroDivisionError):
                    continue
                per_fold = []
                for f in folds:
                    sel = fold_of == f
                    try:
                        per_fold.append(float(fn(ref[sel], est[sel])))
                    except (ValueError, ZeroDivisionError):
                        per_fold.append(float("nan"))
                spread = fold_spread(per_fold)
                out.append(
                    {
                        "model": m,
                        "target": target,
                        "metric": metric,
                        "value": ci.value,
                        "ci_low": ci.low,
                        "ci_high": ci.high,
                        "fold_mean": spread["mean"],
                        "fold_std": spread["std"],
                        "n_folds": spread["folds"],
                        "n": ci.n,
                        "higher_is_better": metric not in LOWER_IS_BETTER,
                    }
                )
    out.sort(key=lambda r: r["model"])  # stable: metric order kept within a model
    return out


def _ranking_eval_rows(task: TaskData, fold_of: np.ndarray) -> np.ndarray:
    """Pairs whose two recordings were in the same test fold (so one model scored both)."""
    fa, fb = fold_of[task.pairs[:, 0]], fold_of[task.pairs[:, 1]]
    return np.flatnonzero((fa == fb) & (fa >= 0))


def evaluate_head(cv: HeadCV, task: TaskData, opts: ProbeOptions) -> list[dict]:
    """Metric rows of a :class:`HeadCV` (without setup fields): value, CI, fold mean/std per layer and metric."""
    from embedstore.evaluation import ranking as R
    from embedstore.probes.ranking import compare

    head = cv.head
    fns = metric_functions(head, task)
    rows = []
    if head == "ranking":
        ev = _ranking_eval_rows(task, cv.fold_of)
        a, b = task.pairs[ev, 0], task.pairs[ev, 1]
        ref = task.pair_labels[ev]
        groups = task.groups[a]
        est = np.stack([cv.pred[m][a] - cv.pred[m][b] for m in range(len(cv.layers))])
        rows = _evaluate(fns, ref, est, groups, cv.fold_of[a], opts, weighted_metric_functions(head, task))
        # consistency of the predicted preferences (deterministic checks, so the CI is the value itself)
        for m in range(len(cv.layers)):
            s = cv.pred[m]
            anti = R.antisymmetry_error(compare(s, a, b), compare(s, b, a))
            intr = _intransitive_share_oof(task, s, cv.fold_of)
            for metric, v in (("antisymmetry_error", anti), ("intransitive_share", intr)):
                rows.append(
                    {
                        "model": m,
                        "target": "",
                        "metric": metric,
                        "value": v,
                        "ci_low": v,
                        "ci_high": v,
                        "fold_mean": v,
                        "fold_std": 0.0,
                        "n_folds": len(set(cv.fold_of.tolist()) - {-1}),
                        "n": len(ev),
                        "higher_is_better": False,
                    }
                )
    else:
        rows = _evaluate(
            fns,
            np.asarray(task.y),
            cv.pred,
            task.groups,
            cv.fold_of,
            opts,
            weighted_metric_functions(head, task),
        )
    for r in rows:
        r["layer"] = cv.layers[r.pop("model")]
        r.update(probe=cv.probe, head=head, is_baseline=False, model_kind=cv.kind)
    return rows


def _intransitive_share_oof(task: TaskData, scores: np.ndarray, fold_of: np.ndarray, cap: int = 200) -> float:
    """Share of cyclic triples among predicted preferences of all pairs of test recordings of each fold."""
    from embedstore.evaluation.ranking import intransitive_share

    a_all, b_all, w_all = [], [], []
    rng = np.random.default_rng(0)
    for f in sorted(set(fold_of.tolist()) - {-1}):
        items = np.flatnonzero(fold_of == f)
        if len(items) > cap:
            items = np.sort(rng.choice(items, cap, replace=False))
        ia, ib = np.triu_indices(len(items), 1)
        s = scores[items[ia]] - scores[items[ib]]
        keep = s != 0
        a_all.append(items[ia][keep])
        b_all.append(items[ib][keep])
        w_all.append(s[keep] > 0)
    if not a_all or sum(len(x) for x in a_all) == 0:
        return float("nan")
    v = intransitive_share(np.concatenate(a_all), np.concatenate(b_all), np.concatenate(w_all))
    return 0.0 if not np.isfinite(v) else v


def baseline_rows(task: TaskData, head: str, folds, opts: ProbeOptions) -> list[dict]:
    """The head's baseline (majority / mean / prior / chance) under the same folds, with CIs."""
    from embedstore.evaluation.multilabel import macro_auroc

    fold_of = np.full(task.n, -1)
    for f, (_, te) in enumerate(folds):
        fold_of[te] = f
    if head == "ranking":
        ev = _ranking_eval_rows(task, fold_of)
        a = task.pairs[ev, 0]
        est = np.zeros((1, len(ev)))
        rows = _evaluate(
            metric_functions(head, task),
            task.pair_labels[ev],
            est,
            task.groups[a],
            fold_of[a],
            opts,
            weighted_metric_functions(head, task),
        )
    else:
        est = None
        for tr, te in folds:
            p = baseline_predict(head, task, tr, len(te))
            if est is None:
                est = np.empty((task.n, *p.shape[1:]), dtype=p.dtype)
            est[te] = p
        fns = metric_functions(head, task)
        wfns = weighted_metric_functions(head, task)
        if head == "multilabel":
            from embedstore.probes.bootstrap import w_chance_map, w_macro_auroc

            fns = {"map": chance_map, "auroc": macro_auroc}
            wfns = {"map": w_chance_map, "auroc": w_macro_auroc}
        rows = _evaluate(fns, np.asarray(task.y), est[None], task.groups, fold_of, opts, wfns)
    for r in rows:
        r.pop("model")
        r.update(layer="-", probe=BASELINE_NAME[head], head=head, is_baseline=True, model_kind="baseline")
    return rows


# ---------------------------------------------------------------------------------------------- final model
def best_row(rows: list[dict], head: str) -> dict | None:
    """The non-baseline row with the best primary metric of ``head`` (mean over targets for regression)."""
    metric, higher = PRIMARY[head]
    cands = [
        r
        for r in rows
        if r["head"] == head
        and r["metric"] == metric
        and not r["is_baseline"]
        and r.get("target", "") in ("", "mean")
        and np.isfinite(r["value"])
    ]
    if head == "regression" and not any(r.get("target") == "mean" for r in cands):
        cands = [
            r
            for r in rows
            if r["head"] == head
            and r["metric"] == metric
            and not r["is_baseline"]
            and np.isfinite(r["value"])
        ]
    if not cands:
        return None
    return (max if higher else min)(cands, key=lambda r: r["value"])


def fit_final(
    X, task: TaskData, *, probe: str, head: str, opts: ProbeOptions
) -> tuple[str, dict, np.ndarray]:
    """Fit one head on every labelled row (inner grouped split for selection): (kind, params, hyper)."""
    kind = model_kind(probe, head)
    if kind is None:
        raise ConfigError(f"probe {probe!r} does not apply to {head!r}")
    fit_rows, val_rows = inner_rows(task, np.arange(task.n), opts, 10_000)
    params, hp = fit_head(kind, head, task, X, fit_rows, val_rows, opts)
    return kind, params, hp


# ---------------------------------------------------------------------------------------------- store runs
def parse_layers(
    spec: str | Sequence | int | None, available: Sequence[int], names: Sequence[str] = ()
) -> tuple[list[int], bool]:
    """Resolve ``all``, ``last``, ``mix``, ``3``, ``0,4,8``, ``2-5`` or layer names -> (layers, with_mix)."""
    avail = sorted(int(a) for a in available)
    if spec is None:
        return avail, False
    items = [
        str(s).strip()
        for s in (spec.split(",") if isinstance(spec, str) else ([spec] if isinstance(spec, int) else spec))
        if str(s).strip()
    ]
    out: list[int] = []
    mix = False
    name_to = {str(n): int(a) for a, n in zip(avail, names)} if names else {}
    for it in items:
        low = it.lower()
        if low == "all":
            out += avail
        elif low == "last":
            out.append(avail[-1])
        elif low in ("mix", "weighted"):
            mix = True
        elif "-" in it[1:] and all(p.strip().lstrip("-").isdigit() for p in it.split("-", 1)):
            lo, hi = (int(p) for p in it.split("-", 1))
            out += [x for x in avail if lo <= x <= hi]
        elif it.lstrip("-").isdigit():
            v = int(it)
            v = avail[v] if v < 0 else v
            if v not in avail:
                raise ConfigError(f"no layer {it}; available: {avail[0]}..{avail[-1]}")
            out.append(v)
        elif it in name_to:
            out.append(name_to[it])
        else:
            raise ConfigError(
                f"invalid layers entry {it!r}; valid: all, last, mix, N, N,M, N-M or a layer name"
            )
    seen: list[int] = []
    for x in out:
        if x not in seen:
            seen.append(x)
    if not seen and mix:
        seen = []
    return seen, mix


@dataclass
class ProbeRun:
    """What :func:`run_probe` returns."""

    task: TaskData
    rows: list[dict]
    models: dict[str, str] = field(default_factory=dict)  # task name -> saved probe folder
    info: dict = field(default_factory=dict)
    predictions: dict = field(default_factory=dict)  # extra tables (e.g. ranking scores), name -> DataFrame


def _setups_for(store: Store, encoders) -> list[str]:
    setups = store.setups()
    if not setups:
        from embedstore.errors import StoreError

        raise StoreError(f"store {store.uri} holds no embeddings yet", hint="run `embedstore index` first")
    if encoders is None or encoders == "all" or encoders == ["all"]:
        return list(setups)
    items = [e.strip() for e in (encoders.split(",") if isinstance(encoders, str) else encoders) if e.strip()]
    out = []
    for e in items:
        hits = [k for k, s in setups.items() if k == e or s["encoder"] == e]
        if not hits:
            raise ConfigError(f"no encoder setup {e!r} in the store", hint="setups: " + ", ".join(setups))
        out += [h for h in hits if h not in out]
    return out


def load_task(
    store: Store,
    task: str,
    *,
    labels=None,
    target=None,
    group_by: str = "piece_id",
    on=None,
    pairs=None,
    pairs_from: str | None = None,
    within: str = "segment_id",
    min_diff: float = 0.0,
    lower_is_better: bool = False,
    where: str | None = None,
) -> TaskData:
    """Join labels (or the store's own metadata) to the store's recordings and build the task."""
    from embedstore.labels import derive_pairs, join_labels, read_pairs
    from embedstore.probes.tasks import build_task

    recs = store.recordings(where)
    info: dict[str, Any] = {}
    if labels is not None:
        j = join_labels(recs, labels, on=on)
        frame = j.frame
        info["labels"] = j.summary()
    else:
        frame = recs
        info["labels"] = f"{len(recs)} recordings (labels from the store's metadata)"
    pair_df = None
    if task == "ranking":
        if pairs is not None:
            pair_df = read_pairs(pairs, recs)
            info["pairs"] = f"{len(pair_df)} pairs read ({pair_df.attrs.get('dropped', 0)} unmatched dropped)"
        elif pairs_from:
            pair_df = derive_pairs(
                frame, pairs_from, within=within, min_diff=min_diff, higher_is_better=not lower_is_better
            )
            info["pairs"] = f"{len(pair_df)} pairs derived from {pairs_from!r} within {within!r}"
        # every recording of the store, with the label columns the store lacks (for the group column)
        extra = [c for c in frame.columns if c not in recs.columns]
        frame = recs.merge(frame[["recording_id", *extra]], on="recording_id", how="left") if extra else recs
    t = build_task(task, frame, target=target, group_by=group_by, pairs=pair_df)
    t.info.update(info)
    return t


def _align(task: TaskData, rec_ids) -> tuple[TaskData, np.ndarray]:
    """Restrict the task to recordings with embeddings; return it and the embedding row of each task row."""
    pos = {str(r): i for i, r in enumerate(rec_ids)}
    has = np.array([str(r) in pos for r in task.recording_ids])
    sub = task.subset(has) if not has.all() else task
    idx = np.array([pos[str(r)] for r in sub.recording_ids], dtype=np.int64)
    return sub, idx


def _log(progress, msg: str) -> None:
    if progress:
        progress(msg)


def run_probe(
    store: Store,
    task: TaskData,
    *,
    encoders=None,
    layers="all",
    poolings: Sequence[str] = ("mean",),
    level: str = "recording",
    probes: Sequence[str] = ("linear",),
    opts: ProbeOptions | None = None,
    where: str | None = None,
    save_dir: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> ProbeRun:
    """Cross-validate probes on stored embeddings for every setup x pooling x layer x probe x head.

    Parameters
    ----------
    store : the store; task : from :func:`load_task`
    encoders : setup keys or encoder names (default: every setup in the store)
    layers : see :func:`parse_layers`; ``mix`` adds the layer-mix probe over all layers
    poolings : recording-level poolings to probe (``level="recording"``)
    level : "recording" (pooled vectors) or "window" (window sequences, for the ``attention`` probe)
    probes : probe names (:data:`PROBES`); combinations that do not exist for a head are skipped
    save_dir : when given, the best (probe, layer) of each head is refitted on all rows and saved there

    Returns
    -------
    ProbeRun with result rows (one per setup/pooling/layer/probe/head/target/metric, baseline rows included)
    """

    opts = opts or ProbeOptions()
    check_choice("level", level, LEVELS)
    for p in probes:
        check_choice("probe", p, PROBES)
    if level == "window" and any(p != "attention" for p in probes):
        raise ConfigError("level 'window' is for the attention probe", hint="use --probe attention")
    if "attention" in probes and level != "window":
        raise ConfigError("the attention probe needs window sequences", hint="add --level window")
    usable = [(p, h) for p in probes for h in task.heads if model_kind(p, h) is not None]
    if not usable:
        raise ConfigError(
            f"none of the probes {', '.join(probes)} applies to task {task.name!r}",
            hint="ranking: linear or mlp; ratings/levels: ridge, linear, mlp, layermix",
        )
    rows: list[dict] = []
    run = ProbeRun(task=task, rows=rows)
    best_cvs: dict = {}
    pools = list(poolings) if level == "recording" else ["none"]
    for setup in _setups_for(store, encoders):
        for pool in pools:
            sp_all = [
                s
                for s in store.spaces(setup_key=setup)
                if s.level == level and (level == "window" or s.pooling == pool)
            ]
            if not sp_all:
                _log(progress, f"skip {setup}/{pool}: not in the store")
                continue
            lay, mix = parse_layers(layers, [s.layer for s in sp_all], [s.layer_name for s in sp_all])
            need = sorted({s.layer for s in sp_all}) if mix else lay
            rec_ids, X, meta, spaces = store.load_layers(
                setup, level=level, pooling=pool if level == "recording" else "mean", layers=need, where=where
            )
            layer_ids = [s.layer for s in spaces]
            names = {s.layer: s.layer_name for s in spaces}
            if level == "window":
                from embedstore.probes.mlp import pad_sequences

                uniq = list(dict.fromkeys(str(r) for r in rec_ids))
                t_sub, _ = _align(task, uniq)
                S, mask = pad_sequences(X, rec_ids, t_sub.recording_ids)
                Xin_all = (S, mask)
                sel = [i for i, li in enumerate(layer_ids) if li in lay]
                Xin = (S[sel], mask)
            else:
                t_sub, idx = _align(task, rec_ids)
                Xfull = X[:, idx]
                sel = [i for i, li in enumerate(layer_ids) if li in lay]
                Xin = Xfull[sel]
                Xin_all = Xfull
            sel_layers = [layer_ids[i] for i in sel]
            if t_sub.n < 4:
                raise ConfigError(f"only {t_sub.n} labelled recordings have {setup} embeddings")
            folds = make_folds(t_sub, opts)
            if t_sub.pairs is not None:
                fold_of = np.full(t_sub.n, -1)
                for f, (_, te) in enumerate(folds):
                    fold_of[te] = f
                if len(_ranking_eval_rows(t_sub, fold_of)) == 0:
                    raise ConfigError(
                        f"no pair has both recordings in one test fold when grouping by "
                        f"{t_sub.group_by!r}, so no pair can be scored",
                        hint="group by a column both recordings of a pair share (e.g. piece_id)",
                    )
            _log(
                progress,
                f"{setup}/{pool}: {t_sub.n} recordings, {len(folds)} folds grouped by {t_sub.group_by}, "
                f"layers {sel_layers[0] if sel_layers else '-'}..{sel_layers[-1] if sel_layers else '-'}"
                + (" + mix" if mix else ""),
            )
            base = {
                "setup": setup,
                "encoder": spaces[0].encoder,
                "pooling": pool,
                "level": level,
                "task": task.name,
                "group_by": task.group_by,
            }
            cache = None
            if any(model_kind(p, h) == "ridge" for p, h in usable) and sel and level == "recording":
                from embedstore.probes.linear import GramCache

                cache = GramCache(Xin)
            computed: dict = {}
            for head in task.heads:
                for r in baseline_rows(t_sub, head, folds, opts):
                    rows.append({**base, **r, "layer_name": "-"})
                for p in probes:
                    kind = model_kind(p, head)
                    if kind is None or p == "layermix" or not sel:
                        continue
                    if (kind, head) not in computed:
                        if kind == "ridge":  # every ridge head of this task at once
                            todo = [
                                h
                                for h in task.heads
                                if model_kind(p, h) == "ridge" and ("ridge", h) not in computed
                            ]
                            cvs = cross_validate_many(
                                Xin,
                                [(t_sub, h) for h in todo],
                                probe=p,
                                folds=folds,
                                opts=opts,
                                layers=sel_layers,
                                cache=cache,
                            )
                            computed.update({("ridge", h): c for h, c in zip(todo, cvs)})
                        else:
                            computed[(kind, head)] = cross_validate(
                                Xin, t_sub, probe=p, head=head, folds=folds, opts=opts, layers=sel_layers
                            )
                        _log(progress, f"  {head} {p} ({kind}): {computed[(kind, head)].seconds:.1f} s")
                    cv = computed[(kind, head)]
                    if cv.probe != p:  # the same model under another probe name (e.g. linear = ridge here)
                        cv = HeadCV(
                            p,
                            cv.kind,
                            cv.head,
                            cv.layers,
                            cv.raw,
                            cv.pred,
                            cv.fold_of,
                            cv.hyper,
                            cv.seconds,
                            cv.extra,
                        )
                    for r in evaluate_head(cv, t_sub, opts):
                        rows.append({**base, **r, "layer_name": names.get(r["layer"], str(r["layer"]))})
                    best_cvs[(setup, pool, p, head)] = (cv, t_sub)
                if (mix or "layermix" in probes) and level == "recording" and model_kind("layermix", head):
                    cv = cross_validate(
                        Xin_all, t_sub, probe="layermix", head=head, folds=folds, opts=opts, layers=layer_ids
                    )
                    _log(progress, f"  {head} layermix: {cv.seconds:.1f} s")
                    for r in evaluate_head(cv, t_sub, opts):
                        rows.append({**base, **r, "layer_name": "mix"})
                    run.info.setdefault("layer_weights", {})[f"{setup}/{pool}/{head}"] = cv.extra[
                        "layer_weights"
                    ]
                    best_cvs[(setup, pool, "layermix", head)] = (cv, t_sub)
    run.info["n_rows"] = len(rows)
    if task.heads == ("ranking",):
        run.predictions["ranking_scores"] = _ranking_table(task, rows, best_cvs)
    if save_dir is not None:
        probe_obj = save_best(store, task, rows, opts=opts, where=where)
        if probe_obj is not None:
            path = Path(save_dir)
            probe_obj.save(path)
            run.models[task.name] = str(path)
    return run


def _ranking_table(task: TaskData, rows, best_cvs):
    """Per recording: Bradley-Terry score from the labelled pairs, and from the best probe's OOF predictions."""
    import pandas as pd

    from embedstore.evaluation.regression import spearman
    from embedstore.probes.ranking import bradley_terry

    ids, bt = bradley_terry(
        task.recording_ids[task.pairs[:, 0]],
        task.recording_ids[task.pairs[:, 1]],
        task.pair_labels,
        items=task.recording_ids,
    )
    df = pd.DataFrame({"recording_id": ids, "group": task.groups, "bt_labels": bt})
    b = best_row(rows, "ranking")
    if b is not None:
        key = (b["setup"], b["pooling"], b["probe"], "ranking")
        if key in best_cvs:
            cv, t_sub = best_cvs[key]
            m = cv.layers.index(b["layer"])
            s = pd.Series(cv.pred[m], index=t_sub.recording_ids)
            ev = _ranking_eval_rows(t_sub, cv.fold_of)
            pa, pb = t_sub.pairs[ev, 0], t_sub.pairs[ev, 1]
            prob = 1.0 / (1.0 + np.exp(-(cv.pred[m][pa] - cv.pred[m][pb])))
            ids2, bt2 = bradley_terry(
                t_sub.recording_ids[pa], t_sub.recording_ids[pb], prob, items=t_sub.recording_ids
            )
            df["probe_score_oof"] = df["recording_id"].map(s)
            df["bt_predicted"] = df["recording_id"].map(pd.Series(bt2, index=ids2))
            df.attrs["spearman_bt"] = spearman(df["bt_labels"], df["bt_predicted"].fillna(0.0))
    return df


def save_best(
    store: Store, task: TaskData, rows: list[dict], *, opts: ProbeOptions, where: str | None = None
) -> Probe | None:
    """Refit the best (probe, layer) of each head on all labelled rows and return the :class:`Probe`.

    The setup and pooling are those of the first head's best row; each head then takes its best probe and layer
    within that setup/pooling (the CV scores are in the probe's config).
    """
    from embedstore.probes.persist import Probe

    first = best_row(rows, task.heads[0])
    if first is None:
        return None
    setup, pool, level = first["setup"], first["pooling"], first["level"]
    spaces = [
        s
        for s in store.spaces(setup_key=setup)
        if s.level == level and (level == "window" or s.pooling == pool)
    ]
    prov = dict(spaces[0].provenance)
    for k in ("layer", "level", "pooling"):
        prov.pop(k, None)
    tensors: dict[str, np.ndarray] = {}
    heads_cfg: dict[str, dict] = {}
    rows_sp = [r for r in rows if r["setup"] == setup and r["pooling"] == pool]
    for head in task.heads:
        b = best_row(rows_sp, head)
        if b is None:
            continue
        if b["probe"] == "layermix" or b["layer"] == "mix":
            need = sorted(s.layer for s in spaces)
        else:
            need = [int(b["layer"])]
        rec_ids, X, _, sps = store.load_layers(
            setup, level=level, pooling=pool if level == "recording" else "mean", layers=need, where=where
        )
        if level == "window":
            from embedstore.probes.mlp import pad_sequences

            t_sub, _ = _align(task, list(dict.fromkeys(str(r) for r in rec_ids)))
            Xin = pad_sequences(X, rec_ids, t_sub.recording_ids)
        else:
            t_sub, idx = _align(task, rec_ids)
            Xin = X[:, idx]
        kind, params, hp = fit_final(Xin, t_sub, probe=b["probe"], head=head, opts=opts)
        for k, v in params.items():
            tensors[f"{head}.{k}"] = np.asarray(v, dtype=np.float32)
        outputs = (
            "logits"
            if kind in ("logistic", "mlp", "layermix", "attention")
            and head in ("classification", "multilabel")
            else "values"
        )
        cv_scores = {
            r["metric"] if not r["target"] else f"{r['target']}/{r['metric']}": {
                "value": r["value"],
                "ci_low": r["ci_low"],
                "ci_high": r["ci_high"],
            }
            for r in rows_sp
            if r["head"] == head and r["probe"] == b["probe"] and r["layer"] == b["layer"]
        }
        heads_cfg[head] = {
            "probe": b["probe"],
            "kind": kind,
            "layers": need,
            "outputs": outputs,
            "layer_names": [s.layer_name for s in sps],
            "hyper": np.asarray(hp).tolist(),
            "cv": cv_scores,
            "trained_on": int(t_sub.n),
        }
    if not heads_cfg:
        return None
    config = {
        "task": task.name,
        "heads": heads_cfg,
        "target_names": list(task.target_names),
        "classes": list(task.classes) if task.classes is not None else None,
        "group_by": task.group_by,
        "setup_key": setup,
        "encoder": first["encoder"],
        "level": level,
        "pooling": pool,
        "window_s": spaces[0].window_s,
        "hop_s": spaces[0].hop_s,
        "provenance": prov,
        "store": store.uri,
        "n_splits": opts.n_splits,
        "seed": opts.seed,
    }
    return Probe(config, tensors)


# ---------------------------------------------------------------------------------------------- grids
def read_config(path: str | Path) -> dict:
    """Read a benchmark config (TOML or JSON)."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"benchmark config not found: {p}")
    text = p.read_text()
    if p.suffix.lower() == ".json":
        import json

        return json.loads(text)
    try:
        import tomllib
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ModuleNotFoundError as e:
            raise ConfigError(
                "reading TOML needs Python 3.11+ or the tomli package; or use a .json config"
            ) from e
    try:
        return tomllib.loads(text)
    except Exception as e:  # noqa: BLE001
        raise ConfigError(f"invalid TOML in {p}: {e}") from e


def run_benchmark(
    store: Store,
    config: dict,
    *,
    base_dir: str | Path | None = None,
    save_dir: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[ProbeRun]:
    """Run an encoder x layer x pooling x probe x task grid described by ``config``.

    Config keys (TOML)::

        n_splits = 5            # optional: seed, n_boot, val_fraction
        encoders = ["chroma-w10-h5", "mfcc"]   # default: every setup
        layers = "all"          # or "0,4,8", "mix", ...
        poolings = ["mean", "max"]
        probes = ["linear", "mlp"]
        [[tasks]]
        name = "difficulty"     # task (see embedstore.probes.tasks.TASKS)
        target = "henle"
        group_by = "piece_id"
        labels = "labels.csv"   # optional; relative to the config file
        # ranking: pairs = "pairs.csv" or pairs_from = "<rating column>", within = "segment_id"
        # any grid key (encoders, layers, poolings, probes, level) may be overridden per task

    Returns one :class:`ProbeRun` per task; with ``save_dir`` each task's best probe goes to
    ``save_dir/<task name>/model``.
    """
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    tasks = config.get("tasks") or []
    if not tasks:
        raise ConfigError("benchmark config has no [[tasks]]")
    opts = ProbeOptions(
        n_splits=int(config.get("n_splits", 5)),
        seed=int(config.get("seed", 0)),
        n_boot=int(config.get("n_boot", 1000)),
        val_fraction=float(config.get("val_fraction", 0.25)),
    )
    runs = []
    for i, tc in enumerate(tasks):
        name = tc.get("name") or tc.get("task")
        if not name:
            raise ConfigError(f"task #{i + 1} of the config has no name")
        label = tc.get("id", name)

        def rel(v):
            if v is None:
                return None
            p = Path(v)
            return str(p if p.is_absolute() else base / p)

        t = load_task(
            store,
            name,
            labels=rel(tc.get("labels")),
            target=tc.get("target"),
            group_by=tc.get("group_by", config.get("group_by", "piece_id")),
            on=tc.get("on"),
            pairs=rel(tc.get("pairs")),
            pairs_from=tc.get("pairs_from"),
            within=tc.get("within", "segment_id"),
            min_diff=float(tc.get("min_diff", 0.0)),
            lower_is_better=bool(tc.get("lower_is_better", False)),
            where=tc.get("where"),
        )
        _log(progress, f"task {label}: {t.n} recordings")
        grid = {k: tc.get(k, config.get(k)) for k in ("encoders", "layers", "poolings", "probes", "level")}
        run = run_probe(
            store,
            t,
            encoders=grid["encoders"],
            layers=grid["layers"] or "all",
            poolings=grid["poolings"] or ("mean",),
            level=grid["level"] or "recording",
            probes=grid["probes"] or ("linear",),
            opts=opts,
            where=tc.get("where"),
            save_dir=(Path(save_dir) / str(label) / "model") if save_dir is not None else None,
            progress=progress,
        )
        for r in run.rows:
            r["task"] = str(label)
        runs.append(run)
    return runs
