"""Pairwise (expertise) ranking: a siamese scorer and Bradley-Terry scores.

A siamese probe maps each recording to one score ``f(x)`` and compares two recordings by ``s(A, B) = f(A) - f(B)``;
``P(A better) = sigmoid(s(A, B))``. The comparison is antisymmetric by construction: ``s(B, A) = -s(A, B)``
exactly (IEEE subtraction is exactly antisymmetric), and its predicted preferences are transitive.

- :func:`pairwise_fit` trains the scorer of every layer at once: ``"linear"`` (L2 logistic regression on score
  differences, no intercept, L-BFGS) or ``"mlp"`` (one hidden layer, early stopping on validation pairs).
- :func:`bradley_terry` fits one global score per recording from observed (or predicted) pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from embedstore.probes.logistic import lbfgs_minimise
from embedstore.probes.mlp import mlp_forward
from embedstore.probes.training import TrainOptions, std_stats, torch_threads, train_models

if TYPE_CHECKING:  # pragma: no cover
    import torch

#: L2 strengths of the linear siamese scorer searched on validation pairs.
LAMBDAS = (1e-3, 1e-2, 1e-1, 1.0)


def score_items(params: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """Scores ``f(x)`` of items: (L, n, d) features -> (L, n) scores (params of :func:`pairwise_fit`)."""
    return mlp_forward(params, X)[..., 0]


def compare(scores: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``s(A, B) = f(A) - f(B)`` for index arrays ``a``, ``b`` into the last axis of ``scores``."""
    scores = np.asarray(scores)
    return scores[..., np.asarray(a)] - scores[..., np.asarray(b)]


def _pair_logloss(s: np.ndarray, y: np.ndarray) -> float:
    """Mean log-loss of preference scores (y True = A better)."""
    z = np.where(y, s, -s)
    return float(np.mean(np.logaddexp(0.0, -z)))


def _linear_fit(
    Z: np.ndarray, pairs: np.ndarray, y: np.ndarray, lam: np.ndarray, max_iter: int = 200
) -> np.ndarray:
    """Batched L2 logistic regression on differences: Z (L, n, d) standardised, lam (L, A) -> w (L, A, d)."""
    import torch

    L, _, d = Z.shape
    A = lam.shape[1]
    Zt = torch.as_tensor(Z)
    D = Zt[:, pairs[:, 0]] - Zt[:, pairs[:, 1]]  # (L, p, d)
    sign = torch.as_tensor(np.where(y, 1.0, -1.0), dtype=torch.float32)
    W = torch.zeros(L, A, d, requires_grad=True)
    lam_t = torch.as_tensor(lam, dtype=torch.float32)

    def objective() -> torch.Tensor:
        s = torch.einsum("lpd,lad->lap", D, W)
        nll = torch.nn.functional.softplus(-s * sign).mean(dim=2)
        return (nll + 0.5 * lam_t * (W**2).sum(dim=2)).sum()

    with torch_threads(float(L * A * d) * len(pairs) * 8):
        lbfgs_minimise([W], objective, max_iter=max_iter, tolerance_grad=1e-7)
    return W.detach().numpy()


def pairwise_fit(
    X: np.ndarray,
    pairs: np.ndarray,
    a_better: np.ndarray,
    train_pairs: np.ndarray,
    val_pairs: np.ndarray,
    *,
    probe: str = "linear",
    lams: Sequence[float] = LAMBDAS,
    refit_pairs: np.ndarray | None = None,
    opts: TrainOptions | None = None,
) -> dict[str, np.ndarray]:
    """Train a siamese scorer per layer on training pairs; model selection on validation pairs.

    Parameters
    ----------
    X : (L, n, d) item features
    pairs : (p, 2) item indices; a_better : (p,) bool
    train_pairs, val_pairs : indices into ``pairs`` (validation pairs come from the training fold)
    probe : "linear" (strength chosen per layer among ``lams`` by validation log-loss, then refitted on
        ``refit_pairs``, default ``train_pairs``) or "mlp" (early stopping on validation log-loss)
    opts : training options of the "mlp" scorer

    Returns
    -------
    Scorer params for :func:`score_items` (an MLP without hidden layer for "linear"): mean, sd (L, d),
    W2 (L, d|h, 1), b2 (L, 1) [, W1, b1]; plus ``lam`` or ``best_epoch`` (L,)
    """
    X = np.asarray(X, dtype=np.float32)
    pairs = np.asarray(pairs, dtype=np.int64)
    y = np.asarray(a_better, dtype=bool)
    train_pairs = np.asarray(train_pairs, dtype=np.int64)
    val_pairs = np.asarray(val_pairs, dtype=np.int64)
    L = X.shape[0]
    refit = train_pairs if refit_pairs is None else np.asarray(refit_pairs, dtype=np.int64)
    items = np.unique(pairs[refit].reshape(-1))
    mean, sd = std_stats(X[:, items])
    Z = ((X - mean[:, None, :]) / sd[:, None, :]).astype(np.float32)
    out = {"mean": mean, "sd": sd, "b2": np.zeros((L, 1), np.float32)}
    if probe == "linear":
        return {**out, **_linear_scorer(Z, pairs, y, train_pairs, val_pairs, refit, lams)}
    if probe != "mlp":
        raise ValueError(f"invalid probe={probe!r}; valid values: 'linear', 'mlp'")
    return {**out, **_mlp_scorer(Z, pairs, y, train_pairs, val_pairs, opts or TrainOptions())}


def _linear_scorer(
    Z: np.ndarray,
    pairs: np.ndarray,
    y: np.ndarray,
    train_pairs: np.ndarray,
    val_pairs: np.ndarray,
    refit: np.ndarray,
    lams: Sequence[float],
) -> dict[str, np.ndarray]:
    """Linear scorer: strength per layer by validation log-loss, refitted on ``refit`` pairs: W2, lam."""
    L = Z.shape[0]
    grid = np.asarray(lams, dtype=np.float64)
    if len(val_pairs):
        W = _linear_fit(Z, pairs[train_pairs], y[train_pairs], np.broadcast_to(grid, (L, len(grid))).copy())
        s = np.einsum("lnd,lad->lan", Z, W)
        va, vb = pairs[val_pairs, 0], pairs[val_pairs, 1]
        table = np.array(
            [
                [-_pair_logloss(compare(s[li, j], va, vb), y[val_pairs]) for j in range(len(grid))]
                for li in range(L)
            ]
        )
        best = grid[len(grid) - 1 - np.argmax(table[:, ::-1], axis=1)]
    else:
        best = np.full(L, grid[len(grid) // 2])
    W = _linear_fit(Z, pairs[refit], y[refit], best[:, None])[:, 0]  # (L, d)
    return {"W2": W[:, :, None].astype(np.float32), "lam": best.astype(np.float32)}


def _mlp_scorer(
    Z: np.ndarray,
    pairs: np.ndarray,
    y: np.ndarray,
    train_pairs: np.ndarray,
    val_pairs: np.ndarray,
    opts: TrainOptions,
) -> dict[str, np.ndarray]:
    """MLP scorer early-stopped on validation pairs: W2 [, W1, b1], best_epoch."""
    import torch

    from embedstore.probes.nets import BatchedMLP  # lazy: torch

    L, _, d = Z.shape
    torch.manual_seed(opts.seed)
    model = BatchedMLP(L, d, opts.hidden, 1, opts.dropout)
    Zt = torch.as_tensor(Z)
    sign = torch.as_tensor(np.where(y, 1.0, -1.0), dtype=torch.float32)
    P = torch.as_tensor(pairs)

    def loss_on(pidx: np.ndarray) -> torch.Tensor:
        pidx = torch.as_tensor(pidx)
        pa, pb = P[pidx, 0], P[pidx, 1]
        out = model(Zt[:, torch.cat([pa, pb])])[..., 0]
        s = out[:, : len(pa)] - out[:, len(pa) :]
        return torch.nn.functional.softplus(-s * sign[pidx][None]).mean(dim=1)

    tr = train_pairs
    best_epoch = train_models(
        model,
        len(tr),
        val_pairs,
        lambda b: loss_on(tr[b]),
        (lambda: loss_on(val_pairs)) if len(val_pairs) else (lambda: torch.zeros(L)),
        opts,
    )
    p = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    out = {"W2": p["W2"], "best_epoch": best_epoch.astype(np.float32)}
    if opts.hidden:
        out.update(W1=p["W1"], b1=p["b1"])
    return out


def bradley_terry(
    item_a: Sequence | np.ndarray,
    item_b: Sequence | np.ndarray,
    a_better: Sequence | np.ndarray,
    *,
    items: Sequence | np.ndarray | None = None,
    weights: np.ndarray | None = None,
    l2: float = 0.1,
    max_iter: int = 100,
    tol: float = 1e-9,
) -> tuple[np.ndarray, np.ndarray]:
    """Bradley-Terry strengths from pairwise outcomes (Newton's method on the L2-penalised log-likelihood).

    Parameters
    ----------
    item_a, item_b : (p,) item identifiers; a_better : (p,) bool, or probabilities in [0, 1] (soft outcomes,
        e.g. predicted ``P(A better)``)
    items : identifiers to score (default: all items in the pairs)
    weights : (p,) optional pair weights
    l2 : penalty on the scores (keeps them finite when an item wins every comparison)

    Returns
    -------
    items : (m,) identifiers; scores : (m,) log-strengths centred at 0 (``P(i beats j) = sigmoid(s_i - s_j)``)
    """
    a = np.asarray(item_a).astype(str)
    b = np.asarray(item_b).astype(str)
    y = np.asarray(a_better, dtype=np.float64)
    w = np.ones(len(a)) if weights is None else np.asarray(weights, dtype=np.float64)
    ids = np.array(sorted(set(a) | set(b)) if items is None else [str(i) for i in items])
    pos = {v: i for i, v in enumerate(ids)}
    ia = np.array([pos[v] for v in a], dtype=np.int64)
    ib = np.array([pos[v] for v in b], dtype=np.int64)
    m = len(ids)
    th = np.zeros(m)
    for _ in range(max_iter):
        p = 1.0 / (1.0 + np.exp(-(th[ia] - th[ib])))
        r = w * (y - p)
        g = np.bincount(ia, r, m) - np.bincount(ib, r, m) - l2 * th
        c = w * p * (1 - p)
        H = np.zeros((m, m))
        np.add.at(H, (ia, ia), c)
        np.add.at(H, (ib, ib), c)
        np.add.at(H, (ia, ib), -c)
        np.add.at(H, (ib, ia), -c)
        H += l2 * np.eye(m)
        step = np.linalg.solve(H, g)
        th += step
        if np.max(np.abs(step)) < tol:
            break
    return ids, th - th.mean()
