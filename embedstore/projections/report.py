"""What a projection changed: probe and retrieval metrics before vs after, on held-out groups, and 2-D maps.

:func:`evaluate_projection` runs a grouped k-fold (no group — piece, performer or recording — in both the training
and the test part of a fold). In each fold a projection is trained on the training part (with its own inner
validation split for early stopping) and

- a **probe** (the linear probes of :mod:`embedstore.probes.linear`: ridge regression for continuous labels,
  logistic regression for classes; regularisation chosen on an inner grouped split of the training part) is fitted on the raw training vectors and, separately, on the projected
  training vectors, and predicts the held-out part;
- **retrieval** is scored inside the held-out part: every held-out item queries the other held-out items; relevant =
  same class (or same label bin, with the training fold's bin edges, for continuous labels).

Out-of-fold predictions are pooled; confidence intervals come from a bootstrap over groups (95 % percentile), and
the paired difference (projected − raw) gets its own interval, resampling the same groups for both spaces.

:func:`plot_map` draws the space before and after side by side (t-SNE, UMAP or PCA), coloured by label.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from embedstore.errors import ConfigError, check_choice
from embedstore.projections.train import TrainConfig, _missing, train_projection

MAP_METHODS = ("tsne", "umap", "pca")


# ---------------------------------------------------------------------- probes (embedstore.probes.linear)
def _inner(groups_tr, n: int, seed: int):
    from embedstore.evaluation.splits import inner_split

    if len(np.unique(groups_tr)) >= 2 and n >= 6:
        return inner_split(groups_tr, val_fraction=0.25, seed=seed)
    return None


def _svd_ridge(Xtr, ytr, Xte, alphas):
    """Closed-form ridge on standardised features via SVD (relative alpha, as the probe layer), one prediction row
    per alpha. Used when the probe layer's Cholesky solve fails on tiny, degenerate training sets."""
    Xtr, Xte = np.asarray(Xtr, np.float64), np.asarray(Xte, np.float64)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    sd = np.where(sd > 1e-12, sd, 1.0)
    A, B = (Xtr - mu) / sd, (Xte - mu) / sd
    ym = float(np.mean(ytr))
    U, s, Vt = np.linalg.svd(A, full_matrices=False)
    Uy = U.T @ (np.asarray(ytr, np.float64) - ym)
    n = len(A)
    return np.array([B @ (Vt.T @ (s / (s * s + a * n) * Uy)) + ym for a in alphas])


def ridge_probe(Xtr, ytr, Xte, groups_tr, *, seed: int = 0) -> np.ndarray:
    """Ridge probe of the probe layer (:mod:`embedstore.probes.linear`: standardised features, relative alpha chosen
    on an inner grouped split of the training part, ties to stronger regularisation). Returns test predictions."""
    from embedstore.probes.linear import ALPHAS, GramCache, linear_forward, ridge_fit, ridge_select

    Y = np.asarray(ytr, np.float64).reshape(-1, 1)
    split = _inner(groups_tr, len(Y), seed)
    try:
        cache = GramCache(np.asarray(Xtr, np.float32)[None])
        alpha = np.array([1.0])
        if split is not None:
            itr, iva = split
            alpha, _ = ridge_select(
                cache,
                Y,
                itr,
                iva,
                alphas=ALPHAS,
                score=lambda rows, out: -float(np.mean((out[:, 0] - Y[rows, 0]) ** 2)),
            )
        params = ridge_fit(cache, Y, np.arange(len(Y)), alphas=alpha)
        return linear_forward(params, np.asarray(Xte, np.float32)[None])[0, :, 0].astype(np.float64)
    except np.linalg.LinAlgError:
        alpha = 1.0
        if split is not None:
            itr, iva = split
            P = _svd_ridge(np.asarray(Xtr)[itr], Y[itr, 0], np.asarray(Xtr)[iva], ALPHAS)
            errs = ((P - Y[iva, 0][None, :]) ** 2).mean(1)
            alpha = ALPHAS[len(ALPHAS) - 1 - int(np.argmin(errs[::-1]))]
        return _svd_ridge(Xtr, Y[:, 0], Xte, [alpha])[0]


def logistic_probe(Xtr, ytr, Xte, groups_tr, *, seed: int = 0) -> np.ndarray:
    """Logistic-regression probe of the probe layer (L2 strength chosen on an inner grouped split). Returns the
    predicted classes of the test part."""
    from embedstore.probes.linear import LAMBDAS, logistic_fit, logistic_select

    ys = np.asarray(ytr).astype(str)
    classes = np.array(sorted(set(ys)), dtype=object)
    if len(classes) < 2:
        return np.array([ys[0]] * len(Xte), dtype=object)
    code = np.searchsorted(classes.astype(str), ys)
    X = np.asarray(Xtr, np.float32)[None]
    lam = np.array([LAMBDAS[len(LAMBDAS) // 2]])
    split = _inner(groups_tr, len(ys), seed)
    if split is not None and len(np.unique(code[split[0]])) >= 2:
        itr, iva = split
        lam, _ = logistic_select(
            X,
            code,
            itr,
            iva,
            lams=LAMBDAS,
            n_classes=len(classes),
            seed=seed,
            score=lambda rows, logits: float(np.mean(np.argmax(logits, 1) == code[rows])),
        )
    p = logistic_fit(X, code, np.arange(len(ys)), lams=lam, n_classes=len(classes), seed=seed)
    logits = np.asarray(Xte, np.float32) @ p["W"][0, 0] + p["b"][0, 0]
    return classes[np.argmax(logits, axis=1)]


def r2_score(y, pred) -> float:
    """Coefficient of determination of pooled predictions (1 − SS_res / SS_tot)."""
    y, pred = np.asarray(y, np.float64), np.asarray(pred, np.float64)
    ss_tot = ((y - y.mean()) ** 2).sum()
    if ss_tot <= 0:
        return float("nan")
    return float(1.0 - ((y - pred) ** 2).sum() / ss_tot)


def accuracy(y, pred) -> float:
    return float((np.asarray(y).astype(str) == np.asarray(pred).astype(str)).mean())


# ---------------------------------------------------------------------- the before/after evaluation
def evaluate_projection(
    X,
    labels,
    groups,
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
    labels : (n,) label (numeric for the continuous losses)
    groups : (n,) group of each item (the folds never split a group)
    config : TrainConfig of the projection
    n_splits : outer folds (fewer when there are fewer groups)

    Returns
    -------
    dict with ``task`` ("regression" or "classification"), ``probe`` (raw / projected / difference estimates),
    ``retrieval`` (MAP raw / projected / difference, chance), ``folds`` (per-fold values) and ``config``.
    """
    from embedstore.evaluation.splits import check_disjoint, group_kfold
    from embedstore.evaluation.stats import bootstrap_ci, fold_spread
    from embedstore.projections.losses import CONTINUOUS_LOSSES, assign_bins
    from embedstore.projections.retrieval import evaluate_retrieval

    config = (config or TrainConfig()).validate()
    X = np.asarray(X, np.float32)
    labels = np.asarray(labels, dtype=object)
    groups = np.asarray(groups).astype(str)
    ok = np.flatnonzero(~_missing(labels))
    X, labels, groups = X[ok], labels[ok], groups[ok]
    continuous = config.loss in CONTINUOUS_LOSSES
    task = "regression" if continuous else "classification"
    folds = group_kfold(groups, n_splits=n_splits, seed=seed)
    oof_raw = np.empty(len(X), dtype=object if not continuous else np.float64)
    oof_proj = np.empty_like(oof_raw)
    has_pred = np.zeros(len(X), dtype=bool)
    ap_rows = []  # (group, ap_raw, ap_proj, chance)
    fold_rows = []
    for f, (tr, te) in enumerate(folds):
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
            oof_raw[te], oof_proj[te] = pr, pp
            has_pred[te] = True
            frow.update(r2_raw=r2_score(y[te], pr), r2_projected=r2_score(y[te], pp))
            rel = assign_bins(y, proj.label["bin_edges"])
        else:
            ys = np.array([str(v) for v in labels], dtype=object)
            rel = ys
            if set(ys[te]) <= set(ys[tr]):
                pr = logistic_probe(X[tr], ys[tr], X[te], groups[tr], seed=seed)
                pp = logistic_probe(Ztr, ys[tr], Zte, groups[tr], seed=seed)
                oof_raw[te], oof_proj[te] = pr, pp
                has_pred[te] = True
                frow.update(acc_raw=accuracy(ys[te], pr), acc_projected=accuracy(ys[te], pp))
        if len(te) >= 2:
            rr = evaluate_retrieval(X[te], rel[te])
            rp = evaluate_retrieval(Zte, rel[te])
            for qr, qp in zip(rr["per_query"], rp["per_query"]):
                if qr["n_relevant"] > 0:
                    ap_rows.append((groups[te][qr["index"]], qr["ap"], qp["ap"], qr["chance_map"]))
            frow.update(
                map_raw=rr["mean"]["map"], map_projected=rp["mean"]["map"], map_chance=rr["chance"]["map"]
            )
        fold_rows.append(frow)
        if progress:
            print(
                f"fold {f + 1}/{len(folds)}: "
                + ", ".join(f"{k}={v:.3f}" for k, v in frow.items() if isinstance(v, float))
            )

    out: dict = {
        "task": task,
        "n_items": int(len(X)),
        "n_groups": int(len(np.unique(groups))),
        "n_folds": len(folds),
        "config": config.as_dict(),
        "label": label_column,
        "folds": fold_rows,
    }
    idx = np.flatnonzero(has_pred)
    if len(idx):
        g = groups[idx]
        if continuous:
            y = labels[idx].astype(np.float64)
            a, b = oof_raw[idx].astype(np.float64), oof_proj[idx].astype(np.float64)
            metric, name = r2_score, "r2"
        else:
            y = np.array([str(v) for v in labels[idx]])
            a, b = oof_raw[idx].astype(str), oof_proj[idx].astype(str)
            metric, name = accuracy, "accuracy"
        out["probe"] = {
            "metric": name,
            "n": int(len(idx)),
            "raw": bootstrap_ci(metric, y, a, groups=g, n_boot=n_boot, seed=seed).as_dict(),
            "projected": bootstrap_ci(metric, y, b, groups=g, n_boot=n_boot, seed=seed).as_dict(),
            "difference": bootstrap_ci(
                lambda yy, aa, bb: metric(yy, bb) - metric(yy, aa),
                y,
                a,
                b,
                groups=g,
                n_boot=n_boot,
                seed=seed,
            ).as_dict(),
            "fold_spread_raw": fold_spread(
                [r.get(f"{'r2' if continuous else 'acc'}_raw") for r in fold_rows]
            ),
            "fold_spread_projected": fold_spread(
                [r.get(f"{'r2' if continuous else 'acc'}_projected") for r in fold_rows]
            ),
        }
        if not continuous:
            out["probe"]["chance"] = float(max(np.mean(y == c) for c in np.unique(y)))
    if ap_rows:
        g = np.array([r[0] for r in ap_rows])
        ar = np.array([r[1] for r in ap_rows])
        ap = np.array([r[2] for r in ap_rows])
        ch = np.array([r[3] for r in ap_rows])
        out["retrieval"] = {
            "relevant": "same label bin (training-fold edges)" if continuous else "same class",
            "n_queries": int(len(ar)),
            "map_raw": bootstrap_ci(np.mean, ar, groups=g, n_boot=n_boot, seed=seed).as_dict(),
            "map_projected": bootstrap_ci(np.mean, ap, groups=g, n_boot=n_boot, seed=seed).as_dict(),
            "map_difference": bootstrap_ci(
                lambda x, y2: np.mean(y2 - x), ar, ap, groups=g, n_boot=n_boot, seed=seed
            ).as_dict(),
            "map_chance": float(ch.mean()),
        }
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


def _ci(d: dict | None, nd: int = 3) -> str:
    if not d or d.get("value") is None or not np.isfinite(d["value"]):
        return "–"
    lo, hi = d.get("ci_low"), d.get("ci_high")
    if lo is None or hi is None or not np.isfinite(lo):
        return f"{d['value']:.{nd}f}"
    return f"{d['value']:.{nd}f} [{lo:.{nd}f}, {hi:.{nd}f}]"


def report_markdown(result: dict, *, title: str = "Projection: before vs after") -> str:
    """Markdown summary of :func:`evaluate_projection`."""
    c = result["config"]
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
        lines.append(
            f"| probe {p['metric']} | {_ci(p['raw'])} | {_ci(p['projected'])} | {_ci(p['difference'])} | "
            f"{p.get('chance', 0.0 if p['metric'] == 'r2' else float('nan')):.3f} |"
        )
    r = result.get("retrieval")
    if r:
        lines.append(
            f"| retrieval MAP ({r['relevant']}) | {_ci(r['map_raw'])} | {_ci(r['map_projected'])} | "
            f"{_ci(r['map_difference'])} | {r['map_chance']:.3f} |"
        )
    for note in result.get("notes", []):
        lines += ["", f"Note: {note}."]
    lines += [
        "",
        "Per fold:",
        "",
        "| fold | train | test | best epoch | "
        + " | ".join(k for k in result["folds"][0] if k not in ("fold", "n_train", "n_test", "best_epoch"))
        + " |",
    ]
    keys = [k for k in result["folds"][0] if k not in ("fold", "n_train", "n_test", "best_epoch")]
    lines.append("|---|---|---|---|" + "---|" * len(keys))
    for fr in result["folds"]:
        lines.append(
            f"| {fr['fold']} | {fr['n_train']} | {fr['n_test']} | {fr['best_epoch']} | "
            + " | ".join(f"{fr.get(k, float('nan')):.3f}" for k in keys)
            + " |"
        )
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- maps
def embed_2d(X, *, method: Literal["tsne", "umap", "pca"] = "tsne", seed: int = 0) -> np.ndarray:
    """2-D coordinates of vectors (n, d) -> (n, 2) for plotting."""
    check_choice("method", method, MAP_METHODS)
    X = np.asarray(X, np.float64)
    n = len(X)
    if n < 3:
        raise ConfigError(f"need at least 3 items for a map, got {n}")
    Xs = (X - X.mean(0)) / np.where(X.std(0) > 1e-12, X.std(0), 1.0)
    if method == "pca" or n < 6:
        U, s, _ = np.linalg.svd(Xs - Xs.mean(0), full_matrices=False)
        out = U[:, :2] * s[:2]
        return np.pad(out, ((0, 0), (0, 2 - out.shape[1])))
    if method == "umap":
        import umap

        return umap.UMAP(n_neighbors=min(15, n - 1), random_state=seed).fit_transform(Xs)
    from sklearn.manifold import TSNE

    return TSNE(
        n_components=2, perplexity=float(min(30.0, max(2.0, (n - 1) / 3.0))), init="pca", random_state=seed
    ).fit_transform(Xs)


def plot_map(
    before,
    after,
    labels,
    path: str | Path,
    *,
    method: Literal["tsne", "umap", "pca"] = "tsne",
    title: str = "",
    label_name: str = "label",
    seed: int = 0,
) -> Path:
    """Side-by-side 2-D maps of a space before and after a projection, coloured by label; writes a PNG.

    Parameters
    ----------
    before : (n, d) raw vectors
    after : (n, k) projected vectors (same rows)
    labels : (n,) numeric (colour scale) or categorical (one colour per class, legend when ≤ 20 classes)
    path : PNG file to write
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = np.asarray(labels, dtype=object)
    try:
        num = np.asarray(labels, dtype=np.float64)
        numeric = len(np.unique(num[np.isfinite(num)])) > 12
    except (TypeError, ValueError):
        numeric = False
    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    for ax, V, name in zip(axes, (before, after), ("before (raw)", "after (projected)")):
        xy = embed_2d(V, method=method, seed=seed)
        if numeric:
            sc = ax.scatter(xy[:, 0], xy[:, 1], c=num, cmap="viridis", s=18)
            fig.colorbar(sc, ax=ax, label=label_name)
        else:
            s = np.array([str(v) for v in labels])
            classes = sorted(set(s))
            cmap = plt.get_cmap("tab20" if len(classes) > 10 else "tab10")
            for i, c in enumerate(classes):
                m = s == c
                ax.scatter(xy[m, 0], xy[m, 1], s=18, color=cmap(i % cmap.N), label=c)
            if len(classes) <= 20:
                ax.legend(fontsize=7, title=label_name, loc="best", markerscale=0.8)
        ax.set_title(f"{name} — {method}")
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
