"""Small non-linear probes on recording vectors, trained on every layer at once (torch) with early stopping.

- :func:`mlp_fit` : one hidden layer MLP per layer on recording vectors ``(L, n, d)``.
- :func:`layermix_fit` : a learnable softmax-weighted sum of all layers followed by a linear (or MLP) head - one
  model over the whole stack; its layer weights (:func:`layer_weights`) say which layers it uses.

Training (options, targets and losses, early stopping on an inner split of the training fold) is shared with the
other torch probes: see :mod:`embedstore.probes.training` (targets come from its ``prepare_targets``). Parameters come back as numpy arrays; the ``*_forward`` functions
evaluate them with numpy (no torch needed to predict).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from embedstore.probes.training import Targets, TrainOptions, fit_and_collect, std_stats

if TYPE_CHECKING:  # pragma: no cover
    import torch


def _standardised(
    X: np.ndarray, targets: Targets, opts: TrainOptions | None
) -> tuple[TrainOptions, torch.Tensor, np.ndarray, np.ndarray]:
    """Seed torch and standardise ``X`` (L, n, d) with the training rows' statistics: (opts, Z, mean, sd)."""
    import torch

    opts = opts or TrainOptions()
    torch.manual_seed(opts.seed)
    X = np.asarray(X, dtype=np.float32)
    mean, sd = std_stats(X[:, targets.train_idx])
    return opts, torch.as_tensor((X - mean[:, None, :]) / sd[:, None, :]), mean, sd


def mlp_fit(X: np.ndarray, targets: Targets, *, opts: TrainOptions | None = None) -> dict[str, np.ndarray]:
    """One-hidden-layer MLP per layer, early-stopped on the validation rows (rows of the training fold).

    Parameters
    ----------
    X : (L, n, d) features
    targets : training and validation rows with their targets and loss
        (:func:`~embedstore.probes.training.prepare_targets`)
    opts : training options (``hidden=0`` gives a linear model)

    Returns
    -------
    params (numpy): mean, sd (L, d); W1 (L, d, h); b1 (L, h); W2 (L, h, o); b2 (L, o); y_mean, y_sd (L, o) for
    regression; best_epoch (L,)
    """
    from embedstore.probes.nets import BatchedMLP  # lazy: torch

    opts, Zt, mean, sd = _standardised(X, targets, opts)
    L, _, d = Zt.shape
    tg = targets
    model = BatchedMLP(L, d, opts.hidden, tg.n_out, opts.dropout)
    p, best_epoch = fit_and_collect(model, tg, lambda rows: model(Zt[:, rows]), opts)
    out = {"mean": mean, "sd": sd, "W2": p["W2"], "b2": p["b2"], "best_epoch": best_epoch.astype(np.float32)}
    if opts.hidden:
        out.update(W1=p["W1"], b1=p["b1"])
    if tg.y_mean is not None:
        out["y_mean"] = np.broadcast_to(tg.y_mean, (L, tg.n_out)).copy()
        out["y_sd"] = np.broadcast_to(tg.y_sd, (L, tg.n_out)).copy()
    return out


def mlp_forward(params: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """Outputs of fitted MLPs (inference mode: no dropout).

    Parameters
    ----------
    params : from :func:`mlp_fit` (or any params with mean, sd, W2, b2 [, W1, b1] [, y_mean, y_sd])
    X : (L, n, d) features

    Returns
    -------
    np.ndarray, shape (L, n, o), float32
    """
    Z = (np.asarray(X, dtype=np.float32) - params["mean"][:, None, :]) / params["sd"][:, None, :]
    if "W1" in params:
        Z = np.maximum(
            np.einsum("lnd,ldh->lnh", Z, params["W1"], optimize=True) + params["b1"][:, None, :], 0
        )
    out = np.einsum("lnh,lho->lno", Z, params["W2"], optimize=True) + params["b2"][:, None, :]
    if "y_mean" in params:
        out = out * params["y_sd"][:, None, :] + params["y_mean"][:, None, :]
    return out


def layermix_fit(
    X: np.ndarray, targets: Targets, *, opts: TrainOptions | None = None, hidden: int = 0
) -> dict[str, np.ndarray]:
    """Softmax-weighted layer sum + head (linear with ``hidden=0``), early-stopped on the validation rows.

    Parameters
    ----------
    X : (L, n, d) features of every layer
    targets, opts : as :func:`mlp_fit`
    hidden : hidden units of the head (0: linear head)

    Returns
    -------
    params with a leading model dimension of 1: mean, sd (L, d); logits (1, L); W2 (1, d|h, o); b2 (1, o)
    [, W1, b1] [, y_mean, y_sd (1, o)]; best_epoch (1,)
    """
    from embedstore.probes.nets import LayerMix  # lazy: torch

    opts, Zt, mean, sd = _standardised(X, targets, opts)
    L, _, d = Zt.shape
    tg = targets
    model = LayerMix(L, d, hidden, tg.n_out, opts.dropout)
    s, best_epoch = fit_and_collect(model, tg, lambda rows: model(Zt[:, rows]), opts)
    out = {
        "mean": mean,
        "sd": sd,
        "logits": s["logits"],
        "W2": s["head.W2"],
        "b2": s["head.b2"],
        "best_epoch": best_epoch.astype(np.float32),
    }
    if hidden:
        out.update(W1=s["head.W1"], b1=s["head.b1"])
    if tg.y_mean is not None:
        out["y_mean"], out["y_sd"] = tg.y_mean[None], tg.y_sd[None]
    return out


def layer_weights(params: dict[str, np.ndarray]) -> np.ndarray:
    """The softmax layer weights of a layer-mix probe: (L,), summing to 1."""
    z = params["logits"][0].astype(np.float64)
    e = np.exp(z - z.max())
    return e / e.sum()


def layermix_forward(params: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """Outputs of a fitted layer mix: (L, n, d) features -> (1, n, o) float32."""
    Z = (np.asarray(X, dtype=np.float32) - params["mean"][:, None, :]) / params["sd"][:, None, :]
    w = layer_weights(params).astype(np.float32)
    m = np.einsum("l,lnd->nd", w, Z)[None]
    head = {k: params[k] for k in ("W1", "b1", "W2", "b2", "y_mean", "y_sd") if k in params}
    head["mean"] = np.zeros((1, m.shape[2]), np.float32)
    head["sd"] = np.ones((1, m.shape[2]), np.float32)
    return mlp_forward(head, m)
