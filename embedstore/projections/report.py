"""What a projection changed: probe and retrieval metrics before vs after, on held-out groups.

:func:`evaluate_projection` runs a grouped k-fold (no group — piece, performer or recording — in both the training
and the test part of a fold). In each fold a projection is trained on the training part (with its own inner
validation split for early stopping) and

- a **probe** (:mod:`embedstore.projections.probing`: ridge regression for continuous labels, logistic regression
  for classes; regularisation chosen on an inner grouped split of the training part) is fitted on the raw training
  vectors and, separately, on the projected training vectors, and predicts the held-out part;
- **retrieval** is scored inside the held-out part: every held-out item queries the other held-out items; relevant =
  same class (or same label bin, with the training fold's bin edges, for continuous labels).

Out-of-fold predictions are pooled; confidence intervals come from a bootstrap over groups (95 % percentile), and
the paired difference (projected − raw) gets its own interval, resampling the same groups for both spaces.
:func:`report_markdown` writes the result as Markdown; 2-D maps are in :mod:`embedstore.projections.maps`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from embedstore.evaluation.splits import check_disjoint, group_kfold
from embedstore.evaluation.stats import bootstrap_ci, fold_spread
from embedstore.projections.losses import CONTINUOUS_LOSSES, assign_bins
from embedstore.projections.probing import accuracy, logistic_probe, r2_score, ridge_probe
from embedstore.projections.retrieval import evaluate_retrieval
from embedstore.projections.targets import missing_labels
from embedstore.projections.train import TrainConfig, train_projection


class _OutOfFold:
    """Pooled out-of-fold probe predictions (raw and projected) and per-query retrieval APs."""

    def __init__(self, n: int, continuous: bool):
        self.raw = np.empty(n, dtype=np.float64 if continuous else object)
        self.projected = np.empty_like(self.raw)
        self.has_pred = np.zeros(n, dtype=bool)
        self.ap_rows: list[tuple] = []  # (group, ap_raw, ap_proj, chance)


def _fold(
    f: int,
    tr: np.ndarray,
    te: np.ndarray,
    X: np.ndarray,
    labels: np.ndarray,
    groups: np.ndarray,
    config: TrainConfig,
    continuous: bool,
    label_column: str,
    seed: int,
    oof: _OutOfFold,
) -> dict:
    """Train on one fold's training part, probe and rank its test part; the fold's row of the report."""
    check_disjoint(groups, tr, te)
    proj = train_projection(X, labels, groups, config=config, label_column=label_column, train_idx=tr)
    Ztr, Zte = proj.transform(X[tr]), proj.transform(X[te])
    frow = {
        "fold": f,
        "n_train": int(len(tr)),
        "n_test": int(len(te)),
        "best_epoch": proj.history["best_epoch"],
    }
    if continuous:
        y = labels.astype(np.float64)
        pr = ridge_probe(X[tr], y[tr], X[te], groups[tr], seed=seed)
        pp = ridge_probe(Ztr, y[tr], Zte, groups[tr], seed=seed)
        oof.raw[te], oof.projected[te], oof.has_pred[te] = pr, pp, True
        frow.update(r2_raw=r2_score(y[te], pr), r2_projected=r2_score(y[te], pp))
        rel = assign_bins(y, proj.label["bin_edges"])
    else:
        ys = np.array([str(v) for v in labels], dtype=object)
        rel = ys
        if set(ys[te]) <= set(ys[tr]):
            pr = logistic_probe(X[tr], ys[tr], X[te], groups[tr], seed=seed)
            pp = logistic_probe(Ztr, ys[tr], Zte, groups[tr], seed=seed)
            oof.raw[te], oof.projected[te], oof.has_pred[te] = pr, pp, True
            frow.update(acc_raw=accuracy(ys[te], pr), acc_projected=accuracy(ys[te], pp))
    if len(te) >= 2:
        rr = evaluate_retrieval(X[te], rel[te])
        rp = evaluate_retrieval(Zte, rel[te])
        for qr, qp in zip(rr["per_query"], rp["per_query"]):
            if qr["n_relevant"] > 0:
                oof.ap_rows.append((groups[te][qr["index"]], qr["ap"], qp["ap"], qr["chance_map"]))
        frow.update(
            map_raw=rr["mean"]["map"], map_projected=rp["mean"]["map"], map_chance=rr["chance"]["map"]
        )
    return frow


def _probe_estimates(
    oof: _OutOfFold,
    labels: np.ndarray,
    groups: np.ndarray,
    fold_rows: list[dict],
    continuous: bool,
    n_boot: int,
    seed: int,
) -> dict:
    """Pooled probe metric raw vs projected, with CIs, the paired difference and the fold spread."""
    idx = np.flatnonzero(oof.has_pred)
    g = groups[idx]
    metric: Callable[[np.ndarray, np.ndarray], float]
    if continuous:
        y = labels[idx].astype(np.float64)
        a, b = oof.raw[idx].astype(np.float64), oof.projected[idx].astype(np.float64)
        metric, name, key = r2_score, "r2", "r2"
    else:
        y = np.array([str(v) for v in labels[idx]])
        a, b = oof.raw[idx].astype(str), oof.projected[idx].astype(str)
        metric, name, key = accuracy, "accuracy", "acc"

    def ci(*arrays: np.ndarray, fn: Callable = metric) -> dict:
        return bootstrap_ci(fn, *arrays, groups=g, n_boot=n_boot, seed=seed).as_dict()

    out = {
        "metric": name,
        "n": int(len(idx)),
        "raw": ci(y, a),
        "projected": ci(y, b),
        "difference": ci(y, a, b, fn=lambda yy, aa, bb: metric(yy, bb) - metric(yy, aa)),
        "fold_spread_raw": fold_spread([r.get(f"{key}_raw") for r in fold_rows]),
        "fold_spread_projected": fold_spread([r.get(f"{key}_projected") for r in fold_rows]),
    }
    if not continuous:
        out["chance"] = float(max(np.mean(y == c) for c in np.unique(y)))
    return out


def _retrieval_estimates(ap_rows: list[tuple], continuous: bool, n_boot: int, seed: int) -> dict:
    """Mean AP raw vs projected over held-out queries, with CIs over groups, the difference and chance."""
    g = np.array([r[0] for r in ap_rows])
    ar, ap, ch = (np.array([r[i] for r in ap_rows]) for i in (1, 2, 3))
    return {
        "relevant": "same label bin (training-fold edges)" if continuous else "same class",
        "n_queries": int(len(ar)),
        "map_raw": bootstrap_ci(np.mean, ar, groups=g, n_boot=n_boot, seed=seed).as_dict(),
        "map_projected": bootstrap_ci(np.mean, ap, groups=g, n_boot=n_boot, seed=seed).as_dict(),
        "map_difference": bootstrap_ci(
            lambda x, y2: np.mean(y2 - x), ar, ap, groups=g, n_boot=n_boot, seed=seed
        ).as_dict(),
        "map_chance": float(ch.mean()),
    }


def evaluate_projection(
    X: np.ndarray,
    labels: Sequence | np.ndarray,
    groups: Sequence | np.ndarray,
    *,
    config: TrainConfig | None = None,
    n_splits: int = 5,
    seed: int = 0,
    n_boot: int = 1000,
    label_column: str = "label",
    progress: bool = False,
) -> dict:
    """Grouped cross-validation of a projection: probe and retrieval metrics, raw vs projected.

    Parameters
    ----------
    X : (n, d) raw vectors
    labels : (n,) label (numeric for the continuous losses); rows without a label are dropped
    groups : (n,) group of each item (the folds never split a group)
    config : TrainConfig of the projection
    n_splits : outer folds (fewer when there are fewer groups)
    seed, n_boot : seed and bootstrap resamples
    label_column : the label's name (saved with each fold's projection)
    progress : print one line per fold

    Returns
    -------
    dict with ``task`` ("regression" or "classification"), ``probe`` (raw / projected / difference estimates),
    ``retrieval`` (MAP raw / projected / difference, chance), ``folds`` (per-fold values) and ``config``.
    """
    config = (config or TrainConfig()).validate()
    X = np.asarray(X, np.float32)
    labels = np.asarray(labels, dtype=object)
    groups = np.asarray(groups).astype(str)
    ok = np.flatnonzero(~missing_labels(labels))
    X, labels, groups = X[ok], labels[ok], groups[ok]
    continuous = config.loss in CONTINUOUS_LOSSES
    folds = group_kfold(groups, n_splits=n_splits, seed=seed)
    oof = _OutOfFold(len(X), continuous)
    fold_rows = []
    for f, (tr, te) in enumerate(folds):
        frow = _fold(f, tr, te, X, labels, groups, config, continuous, label_column, seed, oof)
        fold_rows.append(frow)
        if progress:
            print(
                f"fold {f + 1}/{len(folds)}: "
                + ", ".join(f"{k}={v:.3f}" for k, v in frow.items() if isinstance(v, float))
            )
    out: dict = {
        "task": "regression" if continuous else "classification",
        "n_items": int(len(X)),
        "n_groups": int(len(np.unique(groups))),
        "n_folds": len(folds),
        "config": config.as_dict(),
        "label": label_column,
        "folds": fold_rows,
    }
    if oof.has_pred.any():
        out["probe"] = _probe_estimates(oof, labels, groups, fold_rows, continuous, n_boot, seed)
    if oof.ap_rows:
        out["retrieval"] = _retrieval_estimates(oof.ap_rows, continuous, n_boot, seed)
    else:
        out["retrieval"] = None
        out["notes"] = [
            "no held-out item has a relevant item in its fold (same class or label bin): no retrieval "
            "metrics; group by another column or use fewer bins"
        ]
    if "probe" not in out:
        out["probe"] = None
        out.setdefault("notes", []).append(
            "held-out classes never occur in the training folds: no probe metrics"
        )
    return out


def format_estimate(d: dict | None, nd: int = 3) -> str:
    """``value [low, high]`` of an estimate dict (``–`` when there is no value; the value alone without a CI)."""
    if not d or d.get("value") is None or not np.isfinite(d["value"]):
        return "–"
    lo, hi = d.get("ci_low"), d.get("ci_high")
    if lo is None or hi is None or not np.isfinite(lo):
        return f"{d['value']:.{nd}f}"
    return f"{d['value']:.{nd}f} [{lo:.{nd}f}, {hi:.{nd}f}]"


def report_markdown(result: dict, *, title: str = "Projection: before vs after") -> str:
    """Markdown summary of :func:`evaluate_projection`: metrics raw vs projected vs chance, then one row per fold."""
    c = result["config"]
    ci = format_estimate
    lines = [
        f"# {title}",
        "",
        f"Label `{result['label']}` ({result['task']}); loss `{c['loss']}`, head `{c['head']}` → {c['out_dim']} "
        f"dims; {result['n_items']} items in {result['n_groups']} groups, {result['n_folds']}-fold grouped CV "
        "(held-out groups); 95 % bootstrap CIs over groups.",
        "",
        "| metric | raw | projected | projected − raw | chance |",
        "|---|---|---|---|---|",
    ]
    p = result.get("probe")
    if p:
        chance = p.get("chance", 0.0 if p["metric"] == "r2" else float("nan"))
        lines.append(
            f"| probe {p['metric']} | {ci(p['raw'])} | {ci(p['projected'])} | {ci(p['difference'])} | {chance:.3f} |"
        )
    r = result.get("retrieval")
    if r:
        lines.append(
            f"| retrieval MAP ({r['relevant']}) | {ci(r['map_raw'])} | {ci(r['map_projected'])} | "
            f"{ci(r['map_difference'])} | {r['map_chance']:.3f} |"
        )
    for note in result.get("notes", []):
        lines += ["", f"Note: {note}."]
    keys = [k for k in result["folds"][0] if k not in ("fold", "n_train", "n_test", "best_epoch")]
    lines += ["", "Per fold:", "", "| fold | train | test | best epoch | " + " | ".join(keys) + " |"]
    lines.append("|---|---|---|---|" + "---|" * len(keys))
    for fr in result["folds"]:
        lines.append(
            f"| {fr['fold']} | {fr['n_train']} | {fr['n_test']} | {fr['best_epoch']} | "
            + " | ".join(f"{fr.get(k, float('nan')):.3f}" for k in keys)
            + " |"
        )
    return "\n".join(lines) + "\n"
