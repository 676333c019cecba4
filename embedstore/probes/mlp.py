"""Small non-linear probes, trained on every layer at once (torch), with early stopping on an inner split.

- :func:`mlp_fit` : one hidden layer MLP per layer on recording vectors ``(L, n, d)``.
- :func:`layermix_fit` : a learnable softmax-weighted sum of all layers followed by a linear (or MLP) head - one
  model over the whole stack; its layer weights say which layers it uses.
- :func:`attention_fit` : attention pooling over the window sequence of each recording (``(L, R, T, d)`` with a
  mask), then a linear head; one model per layer.

Every model has a leading "model" dimension (one per layer, or one for the mix), is trained jointly (the loss is
summed over models; Adam's updates are element-wise, so the models do not interact), and keeps, per model, the
weights of the epoch with the lowest *validation* loss (the validation rows come from the training fold only).
Parameters are returned as numpy arrays; the ``*_forward`` functions evaluate them with numpy.

Losses (``loss``): ``"multiclass"`` (cross-entropy, targets = class indices), ``"multilabel"`` (binary
cross-entropy with positive-class weights), ``"regression"`` (MSE on standardised targets), ``"pairwise"`` (see
:mod:`embedstore.probes.ranking`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

LOSSES = ("multiclass", "multilabel", "regression")


@dataclass
class TrainOptions:
    """Training settings of the torch probes (selection of the epoch is by inner-split validation loss)."""

    hidden: int = 64
    dropout: float = 0.2
    lr: float = 1e-3
    #: learning rate of the models without a hidden layer (layer-mix with a linear head, attention pooling)
    lr_linear: float = 1e-2
    weight_decay: float = 1e-3
    max_epochs: int = 300
    patience: int = 30
    batch_size: int = 64
    seed: int = 0


def _std_stats(Xtr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-layer mean and std over the rows of ``Xtr`` (L, n, d) (constant features get std 1)."""
    mean = Xtr.mean(axis=1)
    sd = Xtr.std(axis=1)
    big = np.maximum(sd.max(axis=1, keepdims=True), 1e-30)
    sd = np.where(sd <= 1e-7 * big, 1.0, sd)
    return mean.astype(np.float32), sd.astype(np.float32)


def _loss_fn(loss: str, pos_weight=None):
    import torch
    import torch.nn.functional as F

    if loss == "multiclass":

        def f(out, y):  # out (M, n, C), y (n,) long
            M = out.shape[0]
            return (
                F.cross_entropy(out.reshape(-1, out.shape[-1]), y.repeat(M), reduction="none")
                .view(M, -1)
                .mean(1)
            )
    elif loss == "multilabel":
        pw = None if pos_weight is None else torch.as_tensor(pos_weight, dtype=torch.float32)

        def f(out, y):
            v = F.binary_cross_entropy_with_logits(
                out, y[None].expand_as(out), pos_weight=pw, reduction="none"
            )
            return v.mean(dim=(1, 2))
    elif loss == "regression":

        def f(out, y):
            return ((out - y[None]) ** 2).mean(dim=(1, 2))
    else:
        raise ValueError(f"invalid loss={loss!r}; valid values: {', '.join(map(repr, LOSSES))}")
    return f


def train_models(
    module,
    n_units: int,
    val_units: np.ndarray | None,
    batch_loss: Callable,
    val_loss: Callable,
    opts: TrainOptions,
) -> np.ndarray:
    """Generic loop: mini-batches over training units, per-model early stopping on ``val_loss() -> (M,)``.

    ``batch_loss(unit_indices) -> (M,)`` tensor. Restores, per model, the parameters of its best epoch.
    Returns the best epoch (1-based) of each model.
    """

    from embedstore.probes.linear import torch_threads

    n_par = sum(p.numel() for p in module.parameters())
    with torch_threads(float(n_par) * max(n_units, 1) * 4):
        return _train_models(module, n_units, val_units, batch_loss, val_loss, opts)


def _train_models(module, n_units, val_units, batch_loss, val_loss, opts) -> np.ndarray:
    import torch

    g = torch.Generator().manual_seed(opts.seed)
    lr = opts.lr if getattr(module, "nonlinear", True) else opts.lr_linear
    opt = torch.optim.AdamW(module.parameters(), lr=lr, weight_decay=opts.weight_decay)
    M = next(module.parameters()).shape[0]
    best = np.full(M, np.inf)
    best_epoch = np.zeros(M, dtype=int)
    saved = {k: v.detach().clone() for k, v in module.state_dict().items()}
    stale = 0
    bs = max(1, min(opts.batch_size, n_units))
    for epoch in range(1, opts.max_epochs + 1):
        module.train()
        perm = torch.randperm(n_units, generator=g).numpy()
        for i in range(0, n_units, bs):
            opt.zero_grad()
            batch_loss(perm[i : i + bs]).sum().backward()
            opt.step()
        module.eval()
        if val_units is None or len(val_units) == 0:  # no validation rows: train for max_epochs
            best_epoch[:] = epoch
            continue
        with torch.no_grad():
            v = val_loss().detach().numpy().astype(np.float64)
        v = np.where(np.isfinite(v), v, np.inf)
        improved = v < best - 1e-7
        if improved.any():
            stale = 0
            best = np.where(improved, v, best)
            best_epoch[improved] = epoch
            mask = torch.as_tensor(improved)
            for k, p in module.state_dict().items():
                if p.shape[:1] == (M,):
                    saved[k][mask] = p.detach()[mask]
        else:
            stale += 1
            if stale >= opts.patience:
                break
    if val_units is None or len(val_units) == 0:
        return best_epoch
    module.load_state_dict(saved)
    return best_epoch


# ---------------------------------------------------------------------------------------------- modules
def _modules():
    import torch
    from torch import nn

    class BatchedMLP(nn.Module):
        """One MLP per model: (M, n, d) -> (M, n, o); hidden=0 makes it linear."""

        def __init__(self, M: int, d: int, hidden: int, o: int, dropout: float):
            super().__init__()
            self.hidden = hidden
            self.nonlinear = bool(hidden)
            if hidden:
                self.W1 = nn.Parameter(torch.randn(M, d, hidden) * (2.0 / d) ** 0.5)
                self.b1 = nn.Parameter(torch.zeros(M, hidden))
                self.W2 = nn.Parameter(torch.randn(M, hidden, o) * (1.0 / hidden) ** 0.5)
            else:
                self.W2 = nn.Parameter(torch.zeros(M, d, o))
            self.b2 = nn.Parameter(torch.zeros(M, o))
            self.drop = nn.Dropout(dropout)

        def forward(self, Z):
            h = Z
            if self.hidden:
                h = self.drop(torch.relu(h @ self.W1 + self.b1[:, None, :]))
            return h @ self.W2 + self.b2[:, None, :]

    class LayerMix(nn.Module):
        """Softmax-weighted sum of L layers, then a head: (L, n, d) -> (1, n, o)."""

        def __init__(self, L: int, d: int, hidden: int, o: int, dropout: float):
            super().__init__()
            self.nonlinear = bool(hidden)
            self.logits = nn.Parameter(torch.zeros(1, L))
            self.head = BatchedMLP(1, d, hidden, o, dropout)

        def forward(self, Z):
            w = torch.softmax(self.logits[0], dim=0)
            return self.head(torch.einsum("l,lnd->nd", w, Z)[None])

    class AttentionPool(nn.Module):
        """Per-model attention pooling over windows, then a linear head: (M, R, T, d), mask (R, T) -> (M, R, o)."""

        def __init__(self, M: int, d: int, o: int, dropout: float):
            super().__init__()
            self.nonlinear = False
            self.q = nn.Parameter(torch.zeros(M, d))
            self.W = nn.Parameter(torch.zeros(M, d, o))
            self.b = nn.Parameter(torch.zeros(M, o))
            self.drop = nn.Dropout(dropout)
            self.scale = 1.0 / d**0.5

        def forward(self, Z, mask):
            a = torch.einsum("mrtd,md->mrt", Z, self.q) * self.scale
            a = a.masked_fill(~mask[None], float("-inf"))
            a = torch.softmax(a, dim=-1)
            pooled = torch.einsum("mrt,mrtd->mrd", a, Z)
            return self.drop(pooled) @ self.W + self.b[:, None, :]

    return BatchedMLP, LayerMix, AttentionPool


def _targets(Y, loss: str, idx):
    import torch

    Y = np.asarray(Y)
    if loss == "multiclass":
        return torch.as_tensor(Y[idx], dtype=torch.long)
    y = Y[idx].astype(np.float32)
    return torch.as_tensor(y.reshape(len(idx), -1))


def _target_scaling(Y, loss: str, train_idx) -> tuple[np.ndarray | None, np.ndarray | None]:
    if loss != "regression":
        return None, None
    y = np.asarray(Y, dtype=np.float64)[train_idx].reshape(len(train_idx), -1)
    mu = y.mean(axis=0)
    sd = y.std(axis=0)
    sd = np.where(sd <= 1e-12, 1.0, sd)
    return mu.astype(np.float32), sd.astype(np.float32)


def _n_out(Y, loss: str, n_classes: int | None) -> int:
    if loss == "multiclass":
        return int(n_classes if n_classes is not None else int(np.max(Y)) + 1)
    Y = np.asarray(Y)
    return 1 if Y.ndim == 1 else Y.shape[1]


def mlp_fit(
    X: np.ndarray,
    Y: np.ndarray,
    train_idx,
    val_idx,
    *,
    loss: str,
    n_classes: int | None = None,
    pos_weight=None,
    opts: TrainOptions | None = None,
) -> dict[str, np.ndarray]:
    """One-hidden-layer MLP per layer, early-stopped on ``val_idx`` (rows of the training fold).

    Parameters
    ----------
    X : (L, n, d); Y : (n,) class indices, (n, k) 0/1 labels or (n,)/(n, t) real targets
    loss : "multiclass", "multilabel" or "regression"

    Returns
    -------
    params (numpy): mean, sd (L, d); W1 (L, d, h); b1 (L, h); W2 (L, h, o); b2 (L, o); y_mean, y_sd (L, o) for
    regression; best_epoch (L,)
    """
    import torch

    opts = opts or TrainOptions()
    torch.manual_seed(opts.seed)
    BatchedMLP, _, _ = _modules()
    train_idx = np.asarray(train_idx)
    val_idx = np.asarray(val_idx) if val_idx is not None else np.zeros(0, dtype=int)
    X = np.asarray(X, dtype=np.float32)
    L, _, d = X.shape
    mean, sd = _std_stats(X[:, train_idx])
    Z = torch.as_tensor((X - mean[:, None, :]) / sd[:, None, :])
    y_mu, y_sd = _target_scaling(Y, loss, train_idx)
    Ys = Y if y_mu is None else ((np.asarray(Y, dtype=np.float32).reshape(len(Y), -1) - y_mu) / y_sd)
    o = _n_out(Y, loss, n_classes)
    model = BatchedMLP(L, d, opts.hidden, o, opts.dropout)
    f = _loss_fn(loss, pos_weight)
    ytr = _targets(Ys, loss, train_idx)
    yva = _targets(Ys, loss, val_idx) if len(val_idx) else None
    tr = torch.as_tensor(train_idx)
    va = torch.as_tensor(val_idx)
    best_epoch = train_models(
        model,
        len(train_idx),
        val_idx,
        lambda b: f(model(Z[:, tr[b]]), ytr[b]),
        (lambda: f(model(Z[:, va]), yva)) if len(val_idx) else (lambda: torch.zeros(L)),
        opts,
    )
    p = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    out = {"mean": mean, "sd": sd, "W2": p["W2"], "b2": p["b2"], "best_epoch": best_epoch.astype(np.float32)}
    if opts.hidden:
        out.update(W1=p["W1"], b1=p["b1"])
    if y_mu is not None:
        out["y_mean"] = np.broadcast_to(y_mu, (L, o)).copy()
        out["y_sd"] = np.broadcast_to(y_sd, (L, o)).copy()
    return out


def mlp_forward(params: dict, X: np.ndarray) -> np.ndarray:
    """(L, n, d) -> (L, n, o) with numpy (inference mode: no dropout)."""
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
    X: np.ndarray,
    Y: np.ndarray,
    train_idx,
    val_idx,
    *,
    loss: str,
    n_classes: int | None = None,
    pos_weight=None,
    opts: TrainOptions | None = None,
    hidden: int = 0,
) -> dict[str, np.ndarray]:
    """Softmax-weighted layer sum + head (linear with ``hidden=0``), early-stopped on ``val_idx``.

    Returns params with a leading model dimension of 1: mean, sd (L, d); logits (1, L); W2 (1, d|h, o) ...
    """
    import torch

    opts = opts or TrainOptions()
    torch.manual_seed(opts.seed)
    _, LayerMix, _ = _modules()
    train_idx = np.asarray(train_idx)
    val_idx = np.asarray(val_idx) if val_idx is not None else np.zeros(0, dtype=int)
    X = np.asarray(X, dtype=np.float32)
    L, _, d = X.shape
    mean, sd = _std_stats(X[:, train_idx])
    Z = torch.as_tensor((X - mean[:, None, :]) / sd[:, None, :])
    y_mu, y_sd = _target_scaling(Y, loss, train_idx)
    Ys = Y if y_mu is None else ((np.asarray(Y, dtype=np.float32).reshape(len(Y), -1) - y_mu) / y_sd)
    o = _n_out(Y, loss, n_classes)
    model = LayerMix(L, d, hidden, o, opts.dropout)
    f = _loss_fn(loss, pos_weight)
    ytr = _targets(Ys, loss, train_idx)
    yva = _targets(Ys, loss, val_idx) if len(val_idx) else None
    tr, va = torch.as_tensor(train_idx), torch.as_tensor(val_idx)
    best_epoch = train_models(
        model,
        len(train_idx),
        val_idx,
        lambda b: f(model(Z[:, tr[b]]), ytr[b]),
        (lambda: f(model(Z[:, va]), yva)) if len(val_idx) else (lambda: torch.zeros(1)),
        opts,
    )
    sdict = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    out = {
        "mean": mean,
        "sd": sd,
        "logits": sdict["logits"],
        "W2": sdict["head.W2"],
        "b2": sdict["head.b2"],
        "best_epoch": best_epoch.astype(np.float32),
    }
    if hidden:
        out.update(W1=sdict["head.W1"], b1=sdict["head.b1"])
    if y_mu is not None:
        out["y_mean"], out["y_sd"] = y_mu[None], y_sd[None]
    return out


def layer_weights(params: dict) -> np.ndarray:
    """The softmax layer weights (L,) of a layer-mix probe."""
    z = params["logits"][0].astype(np.float64)
    e = np.exp(z - z.max())
    return e / e.sum()


def layermix_forward(params: dict, X: np.ndarray) -> np.ndarray:
    """(L, n, d) -> (1, n, o)."""
    Z = (np.asarray(X, dtype=np.float32) - params["mean"][:, None, :]) / params["sd"][:, None, :]
    w = layer_weights(params).astype(np.float32)
    m = np.einsum("l,lnd->nd", w, Z)[None]
    head = {k: params[k] for k in ("W1", "b1", "W2", "b2", "y_mean", "y_sd") if k in params}
    head["mean"] = np.zeros((1, m.shape[2]), np.float32)
    head["sd"] = np.ones((1, m.shape[2]), np.float32)
    return mlp_forward(head, m)


# ---------------------------------------------------------------------------------------------- attention
def pad_sequences(X: np.ndarray, recording_ids, order) -> tuple[np.ndarray, np.ndarray]:
    """Window rows (L, n_windows, d) grouped into padded sequences (L, R, T, d) + mask (R, T), R = len(order).

    ``recording_ids`` (n_windows,) names the recording of each window row; ``order`` lists the recordings.
    """
    rid = np.asarray(recording_ids).astype(str)
    pos = {r: i for i, r in enumerate(np.asarray(order).astype(str))}
    members: list[list[int]] = [[] for _ in range(len(pos))]
    for j, r in enumerate(rid):
        if r in pos:
            members[pos[r]].append(j)
    T = max((len(m) for m in members), default=1) or 1
    L, _, d = X.shape
    out = np.zeros((L, len(pos), T, d), dtype=np.float32)
    mask = np.zeros((len(pos), T), dtype=bool)
    for i, m in enumerate(members):
        if m:
            out[:, i, : len(m)] = X[:, m]
            mask[i, : len(m)] = True
    return out, mask


def attention_fit(
    S: np.ndarray,
    mask: np.ndarray,
    Y: np.ndarray,
    train_idx,
    val_idx,
    *,
    loss: str,
    n_classes: int | None = None,
    pos_weight=None,
    opts: TrainOptions | None = None,
) -> dict[str, np.ndarray]:
    """Attention pooling over windows + linear head, one model per layer, early-stopped on ``val_idx``.

    Parameters
    ----------
    S : (L, R, T, d) padded window sequences; mask : (R, T) True where a window exists
    Y : targets per recording (R rows)
    """
    import torch

    opts = opts or TrainOptions()
    torch.manual_seed(opts.seed)
    _, _, AttentionPool = _modules()
    train_idx = np.asarray(train_idx)
    val_idx = np.asarray(val_idx) if val_idx is not None else np.zeros(0, dtype=int)
    S = np.asarray(S, dtype=np.float32)
    L, _, _, d = S.shape
    flat = S[:, train_idx][:, mask[train_idx]]  # (L, windows, d)
    mean, sd = _std_stats(flat)
    Z = (
        torch.as_tensor((S - mean[:, None, None, :]) / sd[:, None, None, :])
        * torch.as_tensor(mask)[None, :, :, None]
    )
    mk = torch.as_tensor(mask)
    y_mu, y_sd = _target_scaling(Y, loss, train_idx)
    Ys = Y if y_mu is None else ((np.asarray(Y, dtype=np.float32).reshape(len(Y), -1) - y_mu) / y_sd)
    o = _n_out(Y, loss, n_classes)
    model = AttentionPool(L, d, o, opts.dropout)
    f = _loss_fn(loss, pos_weight)
    ytr = _targets(Ys, loss, train_idx)
    yva = _targets(Ys, loss, val_idx) if len(val_idx) else None
    tr, va = torch.as_tensor(train_idx), torch.as_tensor(val_idx)
    best_epoch = train_models(
        model,
        len(train_idx),
        val_idx,
        lambda b: f(model(Z[:, tr[b]], mk[tr[b]]), ytr[b]),
        (lambda: f(model(Z[:, va], mk[va]), yva)) if len(val_idx) else (lambda: torch.zeros(L)),
        opts,
    )
    p = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    out = {
        "mean": mean,
        "sd": sd,
        "q": p["q"],
        "W": p["W"],
        "b": p["b"],
        "best_epoch": best_epoch.astype(np.float32),
    }
    if y_mu is not None:
        out["y_mean"] = np.broadcast_to(y_mu, (L, o)).copy()
        out["y_sd"] = np.broadcast_to(y_sd, (L, o)).copy()
    return out


def attention_weights(params: dict, S: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Attention of each model over the windows: (L, R, T) (zeros at padding)."""
    Z = (np.asarray(S, dtype=np.float32) - params["mean"][:, None, None, :]) / params["sd"][:, None, None, :]
    Z = Z * mask[None, :, :, None]
    a = np.einsum("lrtd,ld->lrt", Z, params["q"]) / np.sqrt(Z.shape[-1])
    a = np.where(mask[None], a, -np.inf)
    a = a - a.max(axis=-1, keepdims=True)
    e = np.where(mask[None], np.exp(a), 0.0)
    return e / np.maximum(e.sum(axis=-1, keepdims=True), 1e-30)


def attention_forward(params: dict, S: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(L, R, T, d), (R, T) -> (L, R, o)."""
    Z = (np.asarray(S, dtype=np.float32) - params["mean"][:, None, None, :]) / params["sd"][:, None, None, :]
    Z = Z * mask[None, :, :, None]
    a = attention_weights(params, S, mask).astype(np.float32)
    pooled = np.einsum("lrt,lrtd->lrd", a, Z)
    out = np.einsum("lrd,ldo->lro", pooled, params["W"]) + params["b"][:, None, :]
    if "y_mean" in params:
        out = out * params["y_sd"][:, None, :] + params["y_mean"][:, None, :]
    return out
