"""Scoring cross-validated probes: metric rows with cluster-bootstrap CIs, baselines, the best row per head.

Every metric of a :class:`~embedstore.probes.crossval.HeadCV` is computed on the pooled out-of-fold predictions,
with a cluster-bootstrap 95 % CI (resampling whole groups; the vectorised resampling of
:mod:`embedstore.probes.bootstrap` draws the same resamples as :func:`~embedstore.evaluation.stats.bootstrap_ci`)
and the fold-to-fold mean and standard deviation. Every head gets a baseline fitted on the training folds only
(majority class, training mean, prior, chance), scored the same way.

A result row is a dict: ``target``, ``metric``, ``value``, ``ci_low``, ``ci_high``, ``fold_mean``, ``fold_std``,
``n_folds``, ``n``, ``higher_is_better``, ``layer``, ``probe``, ``head``, ``is_baseline``, ``model_kind`` (and the
setup fields :func:`~embedstore.probes.run.run_probe` adds).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from threadpoolctl import threadpool_limits

from embedstore.evaluation import ranking as R
from embedstore.evaluation.multilabel import macro_auroc
from embedstore.evaluation.regression import spearman
from embedstore.evaluation.stats import fold_spread
from embedstore.probes.bootstrap import (
    ci_from_weights,
    mean_resamples,
    resample_weights,
    w_chance_map,
    w_macro_auroc,
)
from embedstore.probes.crossval import Folds, HeadCV, fold_index
from embedstore.probes.metrics import (
    baseline_predict,
    chance_map,
    metric_functions,
    weighted_metric_functions,
)
from embedstore.probes.models import ProbeOptions
from embedstore.probes.ranking import bradley_terry, compare
from embedstore.probes.tasks import BASELINE_NAME, LOWER_IS_BETTER, PRIMARY, TaskData

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


def _resamples(
    key: Any, wfn: Callable, wfns: dict, done: dict, m: int, ref: np.ndarray, est: np.ndarray, W: np.ndarray
) -> np.ndarray:
    """Metric values on every resample; a ``mean`` row averages the per-target resamples already computed."""
    target, metric = key if isinstance(key, tuple) else ("", key)
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
        return mean_resamples(parts)
    with np.errstate(all="ignore"):
        return np.asarray(wfn(ref, est, W), dtype=np.float64)


def metric_rows(
    fns: dict,
    ref: np.ndarray,
    est_by_model: np.ndarray,
    groups: np.ndarray,
    fold_of: np.ndarray,
    opts: ProbeOptions,
    wfns: dict | None = None,
) -> list[dict]:
    """Metric rows (one per model and metric) with cluster-bootstrap CIs and the fold spread.

    Parameters
    ----------
    fns : ``{metric or (target, metric): fn(reference, estimated) -> float}``
    ref : (n, ...) reference; est_by_model : (M, n, ...) estimates of each model
    groups : (n,) bootstrap clusters; fold_of : (n,) test fold of each row
    opts : ``n_boot`` and ``seed`` of the bootstrap
    wfns : vectorised versions of (some of) the metrics, evaluated on all resamples at once

    Returns
    -------
    rows with ``model`` (index into ``est_by_model``), ``target``, ``metric``, value, CI and fold spread
    """
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
                    res = done[(m, key)] = _resamples(key, wfn, wfns, done, m, ref, est, W)
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


def ranking_eval_rows(task: TaskData, fold_of: np.ndarray) -> np.ndarray:
    """Pairs whose two recordings were in the same test fold (so one model scored both)."""
    fa, fb = fold_of[task.pairs[:, 0]], fold_of[task.pairs[:, 1]]
    return np.flatnonzero((fa == fb) & (fa >= 0))


def _exact_row(model: int, metric: str, value: float, n_folds: int, n: int) -> dict:
    """A deterministic check reported as a row (its CI is the value itself)."""
    return {
        "model": model,
        "target": "",
        "metric": metric,
        "value": value,
        "ci_low": value,
        "ci_high": value,
        "fold_mean": value,
        "fold_std": 0.0,
        "n_folds": n_folds,
        "n": n,
        "higher_is_better": False,
    }


def evaluate_head(cv: HeadCV, task: TaskData, opts: ProbeOptions) -> list[dict]:
    """Metric rows of a :class:`HeadCV` (without setup fields): value, CI, fold mean/std per layer and metric."""
    head = cv.head
    fns, wfns = metric_functions(head, task), weighted_metric_functions(head, task)
    if head == "ranking":
        ev = ranking_eval_rows(task, cv.fold_of)
        a, b = task.pairs[ev, 0], task.pairs[ev, 1]
        est = np.stack([cv.pred[m][a] - cv.pred[m][b] for m in range(len(cv.layers))])
        rows = metric_rows(fns, task.pair_labels[ev], est, task.groups[a], cv.fold_of[a], opts, wfns)
        # consistency of the predicted preferences (deterministic checks)
        n_folds = len(set(cv.fold_of.tolist()) - {-1})
        for m in range(len(cv.layers)):
            s = cv.pred[m]
            anti = R.antisymmetry_error(compare(s, a, b), compare(s, b, a))
            intr = _intransitive_share_oof(s, cv.fold_of)
            rows.append(_exact_row(m, "antisymmetry_error", anti, n_folds, len(ev)))
            rows.append(_exact_row(m, "intransitive_share", intr, n_folds, len(ev)))
    else:
        rows = metric_rows(fns, np.asarray(task.y), cv.pred, task.groups, cv.fold_of, opts, wfns)
    for r in rows:
        r["layer"] = cv.layers[r.pop("model")]
        r.update(probe=cv.probe, head=head, is_baseline=False, model_kind=cv.kind)
    return rows


def _intransitive_share_oof(scores: np.ndarray, fold_of: np.ndarray, cap: int = 200) -> float:
    """Share of cyclic triples among predicted preferences of all pairs of test recordings of each fold."""
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
    v = R.intransitive_share(np.concatenate(a_all), np.concatenate(b_all), np.concatenate(w_all))
    return 0.0 if not np.isfinite(v) else v


def baseline_rows(task: TaskData, head: str, folds: Folds, opts: ProbeOptions) -> list[dict]:
    """The head's baseline (majority / mean / prior / chance) under the same folds, with CIs."""
    fold_of = fold_index(task.n, folds)
    fns, wfns = metric_functions(head, task), weighted_metric_functions(head, task)
    if head == "ranking":
        ev = ranking_eval_rows(task, fold_of)
        a = task.pairs[ev, 0]
        est = np.zeros((1, len(ev)))
        rows = metric_rows(fns, task.pair_labels[ev], est, task.groups[a], fold_of[a], opts, wfns)
    else:
        est = None
        for tr, te in folds:
            p = baseline_predict(head, task, tr, len(te))
            if est is None:
                est = np.empty((task.n, *p.shape[1:]), dtype=p.dtype)
            est[te] = p
        if head == "multilabel":
            fns = {"map": chance_map, "auroc": macro_auroc}
            wfns = {"map": w_chance_map, "auroc": w_macro_auroc}
        rows = metric_rows(fns, np.asarray(task.y), est[None], task.groups, fold_of, opts, wfns)
    for r in rows:
        r.pop("model")
        r.update(layer="-", probe=BASELINE_NAME[head], head=head, is_baseline=True, model_kind="baseline")
    return rows


def best_row(rows: Sequence[dict], head: str) -> dict | None:
    """The non-baseline row with the best primary metric of ``head`` (mean over targets for regression)."""
    metric, higher = PRIMARY[head]

    def usable(r: dict) -> bool:
        return (
            r["head"] == head and r["metric"] == metric and not r["is_baseline"] and np.isfinite(r["value"])
        )

    cands = [r for r in rows if usable(r) and r.get("target", "") in ("", "mean")]
    if head == "regression" and not any(r.get("target") == "mean" for r in cands):
        cands = [r for r in rows if usable(r)]
    if not cands:
        return None
    return (max if higher else min)(cands, key=lambda r: r["value"])


def _baseline_of(rows: Sequence[dict], best: dict, metric: str) -> dict | None:
    """The baseline row matching a best row (same head, metric, target, setup and pooling)."""
    return next(
        (
            r
            for r in rows
            if r["head"] == best["head"]
            and r["is_baseline"]
            and r["metric"] == metric
            and r["target"] == best["target"]
            and r["setup"] == best["setup"]
            and r["pooling"] == best["pooling"]
        ),
        None,
    )


def summary_rows(rows: Sequence[dict]) -> list[dict]:
    """Best row and its baseline per task and head, as plain dicts (for reports, the terminal and JSON).

    Returns
    -------
    one dict per (task, head): task, head, metric, target, setup, pooling, probe, layer, layer_name, value,
    ci_low, ci_high, and ``baseline`` (probe, value, ci_low, ci_high; None when there is none)
    """
    out = []
    for task in dict.fromkeys(r["task"] for r in rows):
        tr = [r for r in rows if r["task"] == task]
        for head in dict.fromkeys(r["head"] for r in tr):
            b = best_row(tr, head)
            if b is None:
                continue
            metric = PRIMARY[head][0]
            base = _baseline_of(tr, b, metric)
            out.append(
                {
                    "task": task,
                    "head": head,
                    "metric": metric,
                    "target": b["target"],
                    "setup": b["setup"],
                    "pooling": b["pooling"],
                    "probe": b["probe"],
                    "layer": b["layer"],
                    "layer_name": b.get("layer_name", str(b["layer"])),
                    "value": b["value"],
                    "ci_low": b["ci_low"],
                    "ci_high": b["ci_high"],
                    "baseline": None
                    if base is None
                    else {k: base[k] for k in ("probe", "value", "ci_low", "ci_high")},
                }
            )
    return out


def ranking_table(task: TaskData, rows: Sequence[dict], best_cvs: dict) -> pd.DataFrame:
    """Per recording: Bradley-Terry score from the labelled pairs, and from the best probe's OOF predictions.

    Parameters
    ----------
    task : the ranking task; rows : result rows of the run
    best_cvs : ``{(setup, pooling, probe, "ranking"): (HeadCV, task restricted to that setup)}``

    Returns
    -------
    DataFrame: recording_id, group, bt_labels [, probe_score_oof, bt_predicted]; ``attrs["spearman_bt"]``
    """
    import pandas as pd

    ids, bt = bradley_terry(
        task.recording_ids[task.pairs[:, 0]],
        task.recording_ids[task.pairs[:, 1]],
        task.pair_labels,
        items=task.recording_ids,
    )
    df = pd.DataFrame({"recording_id": ids, "group": task.groups, "bt_labels": bt})
    b = best_row(rows, "ranking")
    key = None if b is None else (b["setup"], b["pooling"], b["probe"], "ranking")
    if key in best_cvs:
        cv, t_sub = best_cvs[key]
        s = cv.pred[cv.layers.index(b["layer"])]
        ev = ranking_eval_rows(t_sub, cv.fold_of)
        pa, pb = t_sub.pairs[ev, 0], t_sub.pairs[ev, 1]
        prob = 1.0 / (1.0 + np.exp(-(s[pa] - s[pb])))
        ids2, bt2 = bradley_terry(
            t_sub.recording_ids[pa], t_sub.recording_ids[pb], prob, items=t_sub.recording_ids
        )
        df["probe_score_oof"] = df["recording_id"].map(pd.Series(s, index=t_sub.recording_ids))
        df["bt_predicted"] = df["recording_id"].map(pd.Series(bt2, index=ids2))
        df.attrs["spearman_bt"] = spearman(df["bt_labels"], df["bt_predicted"].fillna(0.0))
    return df
