"""L2 logistic regression on every layer (and every strength) at once, with batched L-BFGS (torch).

Conventions
-----------
- Features ``X`` have shape ``(n_layers, n_items, dim)``; each layer (and each strength) gets its own model,
  fitted in one batched L-BFGS run (the models share nothing but the optimiser's line search).
- Features are standardised with the training rows' statistics; the returned parameters are in raw feature
  coordinates: ``logits = X[l] @ W[l, a] + b[l, a]``.
- ``lam`` multiplies ``0.5 * ||W||^2`` added to the *mean* loss. The strength is chosen on a validation split of
  the training rows; ties go to the stronger regularisation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from embedstore.probes.training import std_stats, torch_threads

if TYPE_CHECKING:  # pragma: no cover
    import torch

#: L2 strengths of logistic regression searched on the inner split.
LAMBDAS = (1e-4, 1e-3, 1e-2, 1e-1)


def lbfgs_minimise(
    params: list[torch.Tensor],
    objective: Callable[[], torch.Tensor],
    *,
    max_iter: int = 200,
    tolerance_grad: float = 1e-6,
) -> None:
    """Minimise ``objective()`` over ``params`` in place with L-BFGS (strong Wolfe line search).

    Parameters
    ----------
    params : tensors with ``requires_grad``
    objective : returns the scalar loss (gradients are computed here)
    max_iter : L-BFGS iterations
    tolerance_grad : stop when the largest gradient entry is below this
    """
    import torch

    opt = torch.optim.LBFGS(
        params,
        lr=1.0,
        max_iter=max_iter,
        history_size=20,
        tolerance_grad=tolerance_grad,
        tolerance_change=1e-10,
        line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = objective()
        loss.backward()
        return loss

    opt.step(closure)


def logistic_fit(
    X: np.ndarray,
    Y: np.ndarray,
    train_idx: np.ndarray,
    *,
    lams: float | Sequence[float] | np.ndarray,
    kind: str = "multiclass",
    n_classes: int | None = None,
    pos_weight: np.ndarray | None = None,
    max_iter: int = 200,
    fit_intercept: bool = True,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """L2 logistic regression on every layer (and every strength) at once with L-BFGS.

    Parameters
    ----------
    X : (L, n, d) features
    Y : (n,) int class indices (``kind="multiclass"``) or (n, k) 0/1 (``kind="multilabel"``)
    train_idx : rows to fit
    lams : (L, A) or (A,) or scalar L2 strengths; A models per layer are fitted jointly
    kind : ``"multiclass"`` (softmax) or ``"multilabel"`` (one sigmoid per label)
    n_classes : classes of ``multiclass`` (default: the largest index + 1)
    pos_weight : (k,) positive-class weights for ``multilabel`` (``n_neg / n_pos``)
    max_iter : L-BFGS iterations
    fit_intercept : fit a bias (multiclass: initialised at the log class prior)
    seed : torch seed

    Returns
    -------
    dict with ``W`` (L, A, d, o) and ``b`` (L, A, o) in raw coordinates (``o`` = classes or labels), float32
    """
    with torch_threads(float(np.prod(np.shape(X))) * np.size(lams) * 8):
        return _logistic_fit(
            X,
            Y,
            train_idx,
            lams=lams,
            kind=kind,
            n_classes=n_classes,
            pos_weight=pos_weight,
            max_iter=max_iter,
            fit_intercept=fit_intercept,
            seed=seed,
        )


def _strengths(lams: float | Sequence[float] | np.ndarray, L: int) -> np.ndarray:
    """Strengths as an (L, A) array."""
    lam = np.asarray(lams, dtype=np.float64)
    if lam.ndim == 0:
        return np.full((L, 1), float(lam))
    if lam.ndim == 1:
        return np.broadcast_to(lam[None, :], (L, len(lam))).copy()
    return lam


def _logistic_fit(
    X: np.ndarray,
    Y: np.ndarray,
    train_idx: np.ndarray,
    *,
    lams: float | Sequence[float] | np.ndarray,
    kind: str,
    n_classes: int | None,
    pos_weight: np.ndarray | None,
    max_iter: int,
    fit_intercept: bool,
    seed: int,
) -> dict[str, np.ndarray]:
    import torch

    torch.manual_seed(seed)
    L = X.shape[0]
    lam = _strengths(lams, L)
    A = lam.shape[1]
    rows = np.asarray(train_idx, dtype=np.int64)
    Xtr = np.asarray(X, dtype=np.float32)[:, rows]
    mean_np, sd_np = std_stats(Xtr)
    mean, sd = torch.as_tensor(mean_np), torch.as_tensor(sd_np)
    Z = (torch.as_tensor(Xtr) - mean[:, None, :]) / sd[:, None, :]
    d = Z.shape[2]
    if kind == "multiclass":
        y = torch.as_tensor(np.asarray(Y)[rows], dtype=torch.long)
        o = int(n_classes if n_classes is not None else int(y.max()) + 1)
    elif kind == "multilabel":
        y = torch.as_tensor(np.asarray(Y, dtype=np.float32)[rows])
        o = y.shape[1]
        pw = torch.as_tensor(np.ones(o) if pos_weight is None else pos_weight, dtype=torch.float32)
    else:
        raise ValueError(f"invalid kind={kind!r}; valid values: 'multiclass', 'multilabel'")
    W = torch.zeros(L, A, d, o, requires_grad=True)
    b = torch.zeros(L, A, o, requires_grad=fit_intercept)
    if kind == "multiclass" and fit_intercept:
        with torch.no_grad():
            prior = torch.bincount(y, minlength=o).float() + 1.0
            b += torch.log(prior / prior.sum())
    lam_t = torch.as_tensor(lam, dtype=torch.float32)

    def objective() -> torch.Tensor:
        logits = (Z @ W.permute(0, 2, 1, 3).reshape(L, d, A * o)).view(L, -1, A, o).permute(0, 2, 1, 3)
        logits = logits + b[:, :, None, :]
        if kind == "multiclass":
            lp = torch.log_softmax(logits, dim=-1)
            nll = -lp.gather(-1, y[None, None, :, None].expand(L, A, -1, 1)).squeeze(-1).mean(dim=2)
        else:
            nll = (
                torch.nn.functional.binary_cross_entropy_with_logits(
                    logits, y[None, None].expand(L, A, -1, -1), pos_weight=pw, reduction="none"
                )
                .mean(dim=2)
                .sum(-1)
            )
        return (nll + 0.5 * lam_t * (W**2).sum(dim=(2, 3))).sum()

    lbfgs_minimise([W, b] if fit_intercept else [W], objective, max_iter=max_iter, tolerance_grad=1e-6)
    with torch.no_grad():
        Wr = W / sd[:, None, :, None]
        br = b - torch.einsum("ld,ladc->lac", mean, Wr)
    return {"W": Wr.detach().numpy().astype(np.float32), "b": br.detach().numpy().astype(np.float32)}


def logistic_select(
    X: np.ndarray,
    Y: np.ndarray,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    *,
    lams: Sequence[float] = LAMBDAS,
    score: Callable[[np.ndarray, np.ndarray], float],
    **kw: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """Pick one L2 strength per layer on a validation split (all strengths fitted in one batched call).

    Parameters
    ----------
    X, Y, train_idx : as :func:`logistic_fit`
    val_idx : rows to score on (inside the training fold)
    lams : strengths to try
    score : ``score(val_rows, logits (n_val, o)) -> float``, higher is better
    **kw : further :func:`logistic_fit` options

    Returns
    -------
    best : (L,) chosen strength per layer (ties: the stronger); table : (L, A) validation scores
    """
    p = logistic_fit(X, Y, train_idx, lams=np.asarray(lams), **kw)
    Xv = np.asarray(X, dtype=np.float32)[:, np.asarray(val_idx)]
    out = np.einsum("lnd,ladc->lanc", Xv, p["W"], optimize=True) + p["b"][:, :, None, :]
    L, A = out.shape[:2]
    table = np.full((L, A), -np.inf)
    for li in range(L):
        for j in range(A):
            v = score(np.asarray(val_idx), out[li, j])
            table[li, j] = v if np.isfinite(v) else -np.inf
    best = A - 1 - np.argmax(table[:, ::-1], axis=1)
    return np.asarray(lams, dtype=np.float64)[best], table


def pick(params: dict[str, np.ndarray], j: np.ndarray | Sequence[int]) -> dict[str, np.ndarray]:
    """Select model ``j[l]`` of each layer: (L, A, ...) params -> (L, ...)."""
    j = np.asarray(j)
    L = params["W"].shape[0]
    return {k: v[np.arange(L), j] for k, v in params.items()}
