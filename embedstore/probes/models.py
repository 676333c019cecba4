"""Which model each probe name fits for each head, how it is fitted with inner model selection, and its forward.

Probe names (``probe=``): ``linear`` (logistic regression for classes and techniques, ridge for levels and
ratings, logistic siamese scorer for ranking), ``ridge`` (closed-form ridge for every head but ranking; the
fastest), ``logistic``, ``mlp`` (one hidden layer), ``layermix`` (a learnable softmax-weighted sum of all layers;
reported as layer ``mix``) and ``attention`` (attention pooling over the window sequence; needs
``level="window"``).

A fitted model is a dict of numpy parameters with a leading model dimension (one model per layer, or one for the
layer mix); :func:`forward_params` evaluates it with numpy, so saved probes predict without torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from embedstore.errors import check_choice
from embedstore.evaluation.multilabel import positive_weights
from embedstore.probes.attention import attention_fit, attention_forward
from embedstore.probes.gram import GramCache
from embedstore.probes.linear import linear_forward
from embedstore.probes.logistic import LAMBDAS, logistic_fit, logistic_select, pick
from embedstore.probes.mlp import layermix_fit, layermix_forward, mlp_fit, mlp_forward
from embedstore.probes.ranking import pairwise_fit
from embedstore.probes.ridge import ALPHAS, ridge_fit, ridge_select
from embedstore.probes.tasks import TaskData, fit_targets
from embedstore.probes.training import TrainOptions, prepare_targets

PROBES = ("linear", "ridge", "logistic", "mlp", "layermix", "attention")

#: Features of a model: a stack (L, n, d), or padded window sequences (S (L, R, T, d), mask (R, T)).
Features = np.ndarray | tuple[np.ndarray, np.ndarray]

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
#: the loss of the torch probes per head
_LOSS = {
    "classification": "multiclass",
    "multilabel": "multilabel",
    "ordinal": "regression",
    "regression": "regression",
}


def model_kind(probe: str, head: str) -> str | None:
    """The model a probe name fits for a head (``None`` when the combination does not exist).

    Parameters
    ----------
    probe : one of :data:`PROBES`
    head : a task head (``classification``, ``ordinal``, ``multilabel``, ``regression``, ``ranking``)
    """
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


def forward_params(kind: str, params: dict[str, np.ndarray], X: Features) -> np.ndarray:
    """Raw outputs of fitted params.

    Parameters
    ----------
    kind : model kind (:func:`model_kind`)
    params : fitted parameters (leading model dimension M)
    X : features (L, n, d), or (S, mask) window sequences for ``attention``

    Returns
    -------
    np.ndarray, shape (M, n, o)
    """
    if kind in ("ridge", "logistic"):
        return linear_forward(params, X)
    if kind in ("mlp", "pairwise-linear", "pairwise-mlp"):
        return mlp_forward(params, X)
    if kind == "layermix":
        return layermix_forward(params, X)
    if kind == "attention":
        S, mask = X
        return attention_forward(params, S, mask)
    raise ValueError(f"unknown model kind {kind!r}")


def rows_of(X: Features, rows: np.ndarray) -> Features:
    """The features of some rows (recordings), for a stack or for window sequences."""
    if isinstance(X, tuple):
        S, mask = X
        return S[:, rows], mask[rows]
    return X[:, rows]


def pairs_within(task: TaskData, rows: np.ndarray) -> np.ndarray:
    """Indices of the pairs whose two recordings are both among ``rows``."""
    inside = np.zeros(task.n, dtype=bool)
    inside[rows] = True
    return np.flatnonzero(inside[task.pairs[:, 0]] & inside[task.pairs[:, 1]])


def _logsumexp(z: np.ndarray, axis: int = -1) -> np.ndarray:
    m = z.max(axis=axis, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(axis=axis, keepdims=True))).squeeze(axis)


def selection_score(
    kind: str, head: str, Yfit: np.ndarray, train_rows: np.ndarray, pos_weight: np.ndarray | None = None
) -> Callable[[np.ndarray, np.ndarray], float]:
    """Smooth validation criterion ``score(rows, outputs (n_rows, o)) -> float`` (higher is better).

    Ridge: minus the mean squared error scaled by each target's training variance; logistic: minus the
    (positive-weighted) log-loss. It picks the ridge alpha / logistic L2 strength.
    """
    if kind == "ridge":
        Y = np.asarray(Yfit, dtype=np.float64).reshape(len(Yfit), -1)
        var = Y[train_rows].var(axis=0)
        var = np.where(var <= 1e-12, 1.0, var)

        def score(rows: np.ndarray, out: np.ndarray) -> float:
            return -float(np.mean((out - Y[rows]) ** 2 / var))

        return score
    if head == "classification":
        y = np.asarray(Yfit, dtype=np.int64)

        def score(rows: np.ndarray, out: np.ndarray) -> float:
            z = out.astype(np.float64)
            return -float(np.mean(_logsumexp(z) - z[np.arange(len(rows)), y[rows]]))

        return score
    Y = np.asarray(Yfit, dtype=np.float64)
    pw = np.ones(Y.shape[1]) if pos_weight is None else np.asarray(pos_weight)

    def score(rows: np.ndarray, out: np.ndarray) -> float:
        z = out.astype(np.float64)
        t = Y[rows]
        loss = pw * t * np.logaddexp(0, -z) + (1 - t) * np.logaddexp(0, z)
        return -float(loss.mean())

    return score


def fit_head(
    kind: str,
    head: str,
    task: TaskData,
    X: Features,
    fit_rows: np.ndarray,
    val_rows: np.ndarray,
    opts: ProbeOptions,
    cache: GramCache | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Fit one model per layer (or one layer-mix) with selection on ``val_rows``.

    Ridge/logistic/linear-ranking choose their strength on (fit_rows, val_rows) and are refitted on both;
    neural probes train on ``fit_rows`` and stop early on ``val_rows``.

    Parameters
    ----------
    kind : model kind (:func:`model_kind`); head : the task head
    task : labels aligned with the rows of ``X``
    X : (L, n, d) features, or (S, mask) window sequences for ``attention``
    fit_rows, val_rows : row indices (both inside the outer training fold)
    opts : options; cache : optional :class:`~embedstore.probes.ridge.GramCache` of ``X`` (ridge)

    Returns
    -------
    params (leading model dimension), hyper (M,): the chosen alpha / L2 / best epoch per model
    """
    fit_rows = np.asarray(fit_rows)
    val_rows = np.asarray(val_rows)
    both = np.union1d(fit_rows, val_rows)
    if head == "ranking":
        return _fit_ranking(kind, task, X, fit_rows, val_rows, both, opts)
    Yfit = fit_targets(head, task, for_ridge=(kind == "ridge"))
    if kind == "ridge":
        cache = cache if cache is not None else GramCache(X)
        score = selection_score(kind, head, Yfit, fit_rows)
        best, _ = ridge_select(cache, Yfit, fit_rows, val_rows, alphas=opts.alphas, score=score)
        return ridge_fit(cache, Yfit, both, alphas=best), best
    pw = positive_weights(Yfit[both]) if head == "multilabel" else None
    n_cls = len(task.classes) if head == "classification" else None
    if kind == "logistic":
        return _fit_logistic(head, X, Yfit, fit_rows, val_rows, both, pw, n_cls, opts)
    if kind not in ("mlp", "layermix", "attention"):
        raise ValueError(f"unknown model kind {kind!r}")
    tg = prepare_targets(Yfit, fit_rows, val_rows, loss=_LOSS[head], n_classes=n_cls, pos_weight=pw)
    if kind == "mlp":
        p = mlp_fit(X, tg, opts=opts.train)
    elif kind == "layermix":
        p = layermix_fit(X, tg, opts=opts.train)
    else:
        S, mask = X
        p = attention_fit(S, mask, tg, opts=opts.train)
    return p, p["best_epoch"]


def _fit_ranking(
    kind: str,
    task: TaskData,
    X: np.ndarray,
    fit_rows: np.ndarray,
    val_rows: np.ndarray,
    both: np.ndarray,
    opts: ProbeOptions,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    pf = pairs_within(task, fit_rows)
    pv = pairs_within(task, val_rows)
    if kind == "pairwise-linear":
        p = pairwise_fit(
            X,
            task.pairs,
            task.pair_labels,
            pf,
            pv,
            probe="linear",
            lams=opts.lams,
            refit_pairs=pairs_within(task, both),
        )
        return p, p["lam"]
    p = pairwise_fit(X, task.pairs, task.pair_labels, pf, pv, probe="mlp", opts=opts.train)
    return p, p["best_epoch"]


def _fit_logistic(
    head: str,
    X: np.ndarray,
    Yfit: np.ndarray,
    fit_rows: np.ndarray,
    val_rows: np.ndarray,
    both: np.ndarray,
    pw: np.ndarray | None,
    n_cls: int | None,
    opts: ProbeOptions,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    common = {
        "kind": "multiclass" if head == "classification" else "multilabel",
        "n_classes": n_cls,
        "pos_weight": pw,
        "max_iter": opts.logistic_max_iter,
        "seed": opts.seed,
    }
    score = selection_score("logistic", head, Yfit, fit_rows, pos_weight=pw)
    best, _ = logistic_select(X, Yfit, fit_rows, val_rows, lams=opts.lams, score=score, **common)
    p = logistic_fit(X, Yfit, both, lams=best[:, None], **common)
    return pick(p, np.zeros(X.shape[0], dtype=int)), best
