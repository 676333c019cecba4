"""What every torch probe shares: training options, thread use, standardisation, losses and the training loop.

Models trained here have a leading "model" dimension (one model per layer, or one for a layer mix) and are
trained jointly: the loss is summed over models, and Adam's updates are element-wise, so the models do not
interact. :func:`train_models` keeps, per model, the weights of the epoch with the lowest *validation* loss (the
validation rows come from the training fold only).

Losses (``loss``): ``"multiclass"`` (cross-entropy, targets = class indices), ``"multilabel"`` (binary
cross-entropy with positive-class weights) and ``"regression"`` (MSE on standardised targets).

torch is imported inside the functions that use it, so importing this module is cheap.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import torch

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


@contextlib.contextmanager
def torch_threads(work: float) -> Iterator[None]:
    """Use one torch thread for small problems (thread start-up and contention cost more than they save).

    Parameters
    ----------
    work : rough number of floating-point operations of the job; below 3e7 torch runs on one thread
    """
    import torch

    old = torch.get_num_threads()
    small = work < 3e7 and old > 1
    if small:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if small:
            torch.set_num_threads(old)


def std_stats(Xtr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-layer mean and standard deviation over rows; constant features get a standard deviation of 1.

    Parameters
    ----------
    Xtr : np.ndarray, shape (L, n, d), the training rows of each layer

    Returns
    -------
    mean, sd : np.ndarray, shape (L, d), float32
    """
    mean = Xtr.mean(axis=1)
    sd = Xtr.std(axis=1)
    big = np.maximum(sd.max(axis=1, keepdims=True), 1e-30)
    sd = np.where(sd <= 1e-7 * big, 1.0, sd)
    return mean.astype(np.float32), sd.astype(np.float32)


def loss_function(loss: str, pos_weight: np.ndarray | None = None) -> Callable[[Any, Any], Any]:
    """Per-model loss ``f(outputs (M, n, o), targets) -> (M,)`` tensor.

    Parameters
    ----------
    loss : ``"multiclass"`` (targets: (n,) long class indices), ``"multilabel"`` (targets: (n, o) 0/1) or
        ``"regression"`` (targets: (n, o) float)
    pos_weight : (o,) positive-class weights of the multilabel loss
    """
    import torch
    import torch.nn.functional as F

    if loss == "multiclass":

        def f(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            M = out.shape[0]
            return (
                F.cross_entropy(out.reshape(-1, out.shape[-1]), y.repeat(M), reduction="none")
                .view(M, -1)
                .mean(1)
            )
    elif loss == "multilabel":
        pw = None if pos_weight is None else torch.as_tensor(pos_weight, dtype=torch.float32)

        def f(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            v = F.binary_cross_entropy_with_logits(
                out, y[None].expand_as(out), pos_weight=pw, reduction="none"
            )
            return v.mean(dim=(1, 2))
    elif loss == "regression":

        def f(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return ((out - y[None]) ** 2).mean(dim=(1, 2))
    else:
        raise ValueError(f"invalid loss={loss!r}; valid values: {', '.join(map(repr, LOSSES))}")
    return f


@dataclass
class Targets:
    """Training and validation targets of a torch probe, prepared once (see :func:`prepare_targets`).

    Attributes
    ----------
    train_idx, val_idx : (n_train,), (n_val,) row indices (validation may be empty)
    train, val : target tensors of those rows (``val`` is None without validation rows)
    n_out : number of model outputs
    y_mean, y_sd : (o,) target standardisation of regression (None otherwise)
    loss : the per-model loss function (:func:`loss_function`)
    """

    train_idx: np.ndarray
    val_idx: np.ndarray
    train: Any
    val: Any
    n_out: int
    y_mean: np.ndarray | None
    y_sd: np.ndarray | None
    loss: Callable[[Any, Any], Any]


def _target_tensor(Y: np.ndarray, loss: str, idx: np.ndarray) -> torch.Tensor:
    import torch

    Y = np.asarray(Y)
    if loss == "multiclass":
        return torch.as_tensor(Y[idx], dtype=torch.long)
    y = Y[idx].astype(np.float32)
    return torch.as_tensor(y.reshape(len(idx), -1))


def prepare_targets(
    Y: np.ndarray,
    train_idx: np.ndarray,
    val_idx: np.ndarray | None,
    *,
    loss: str,
    n_classes: int | None = None,
    pos_weight: np.ndarray | None = None,
) -> Targets:
    """Targets of a torch probe: regression targets standardised with the training rows' mean and sd.

    Parameters
    ----------
    Y : (n,) class indices, (n, k) 0/1 labels or (n,) / (n, t) real targets
    train_idx, val_idx : rows to train on and to stop early on (``val_idx`` may be None or empty)
    loss : ``"multiclass"``, ``"multilabel"`` or ``"regression"``
    n_classes : number of classes of ``multiclass`` (default: the largest index + 1)
    pos_weight : (k,) positive-class weights of ``multilabel``
    """
    train_idx = np.asarray(train_idx)
    val_idx = np.asarray(val_idx) if val_idx is not None else np.zeros(0, dtype=int)
    y_mu = y_sd = None
    Ys = Y
    if loss == "regression":
        y = np.asarray(Y, dtype=np.float64)[train_idx].reshape(len(train_idx), -1)
        sd = y.std(axis=0)
        y_mu = y.mean(axis=0).astype(np.float32)
        y_sd = np.where(sd <= 1e-12, 1.0, sd).astype(np.float32)
        Ys = (np.asarray(Y, dtype=np.float32).reshape(len(Y), -1) - y_mu) / y_sd
    if loss == "multiclass":
        o = int(n_classes if n_classes is not None else int(np.max(Y)) + 1)
    else:
        o = 1 if np.asarray(Y).ndim == 1 else np.asarray(Y).shape[1]
    return Targets(
        train_idx=train_idx,
        val_idx=val_idx,
        train=_target_tensor(Ys, loss, train_idx),
        val=_target_tensor(Ys, loss, val_idx) if len(val_idx) else None,
        n_out=o,
        y_mean=y_mu,
        y_sd=y_sd,
        loss=loss_function(loss, pos_weight),
    )


def train_models(
    module: torch.nn.Module,
    n_units: int,
    val_units: np.ndarray | None,
    batch_loss: Callable[[np.ndarray], torch.Tensor],
    val_loss: Callable[[], torch.Tensor],
    opts: TrainOptions,
) -> np.ndarray:
    """Mini-batches over training units with per-model early stopping on ``val_loss() -> (M,)``.

    Parameters
    ----------
    module : a torch module whose parameters have a leading model dimension M (``nonlinear`` attribute: use
        ``opts.lr``, else ``opts.lr_linear``)
    n_units : number of training units (rows or pairs)
    val_units : validation units (None or empty: train for ``max_epochs`` without stopping)
    batch_loss : ``batch_loss(unit_indices) -> (M,)`` tensor
    val_loss : ``val_loss() -> (M,)`` tensor
    opts : training options

    Returns
    -------
    best_epoch : (M,) int, the 1-based epoch whose weights each model keeps
    """
    import torch

    n_par = sum(p.numel() for p in module.parameters())
    with torch_threads(float(n_par) * max(n_units, 1) * 4):
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


def fit_and_collect(
    model: torch.nn.Module,
    targets: Targets,
    outputs: Callable[[Any], torch.Tensor],
    opts: TrainOptions,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Train ``model`` on ``targets`` rows and return its state (numpy float32) and each model's best epoch.

    Parameters
    ----------
    model : batched torch module (leading model dimension M)
    targets : from :func:`prepare_targets`
    outputs : ``outputs(row_index_tensor) -> (M, rows, o)`` model outputs for those rows
    opts : training options
    """
    import torch

    tr = torch.as_tensor(targets.train_idx)
    va = torch.as_tensor(targets.val_idx)
    f = targets.loss
    M = next(model.parameters()).shape[0]
    has_val = len(targets.val_idx) > 0
    best_epoch = train_models(
        model,
        len(targets.train_idx),
        targets.val_idx,
        lambda b: f(outputs(tr[b]), targets.train[b]),
        (lambda: f(outputs(va), targets.val)) if has_val else (lambda: torch.zeros(M)),
        opts,
    )
    state = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    return state, best_epoch
