"""Attention-pooling probes on window sequences: one model per layer, trained at once (torch), early-stopped.

Input: the window vectors of each recording, padded into sequences ``(L, R, T, d)`` with a mask ``(R, T)``
(:func:`pad_sequences`). Each model learns a query vector, pools the windows of a recording with a softmax over
their scores (:func:`attention_weights`), then applies a linear head. Training is shared with the other torch
probes (:mod:`embedstore.probes.training`); parameters come back as numpy arrays.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from embedstore.probes.training import Targets, TrainOptions, fit_and_collect, std_stats


def pad_sequences(
    X: np.ndarray, recording_ids: Sequence | np.ndarray, order: Sequence | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Window rows grouped into padded per-recording sequences.

    Parameters
    ----------
    X : (L, n_windows, d) window vectors of every layer
    recording_ids : (n_windows,) the recording of each window row
    order : (R,) the recordings, in the order wanted

    Returns
    -------
    S : (L, R, T, d) float32, T = the most windows of a recording; mask : (R, T) bool, True where a window exists
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
    S: np.ndarray, mask: np.ndarray, targets: Targets, *, opts: TrainOptions | None = None
) -> dict[str, np.ndarray]:
    """Attention pooling over windows + linear head, one model per layer, early-stopped on the validation rows.

    Parameters
    ----------
    S : (L, R, T, d) padded window sequences; mask : (R, T) True where a window exists
    targets : per-recording targets with the training and validation recordings
        (:func:`~embedstore.probes.training.prepare_targets`)
    opts : training options

    Returns
    -------
    params (numpy): mean, sd (L, d); q (L, d); W (L, d, o); b (L, o) [, y_mean, y_sd (L, o)]; best_epoch (L,)
    """
    import torch

    from embedstore.probes.nets import AttentionPool  # lazy: torch

    opts = opts or TrainOptions()
    torch.manual_seed(opts.seed)
    S = np.asarray(S, dtype=np.float32)
    L, _, _, d = S.shape
    tg = targets
    flat = S[:, tg.train_idx][:, mask[tg.train_idx]]  # (L, windows, d)
    mean, sd = std_stats(flat)
    Z = (
        torch.as_tensor((S - mean[:, None, None, :]) / sd[:, None, None, :])
        * torch.as_tensor(mask)[None, :, :, None]
    )
    mk = torch.as_tensor(mask)
    model = AttentionPool(L, d, tg.n_out, opts.dropout)
    p, best_epoch = fit_and_collect(model, tg, lambda rows: model(Z[:, rows], mk[rows]), opts)
    out = {
        "mean": mean,
        "sd": sd,
        "q": p["q"],
        "W": p["W"],
        "b": p["b"],
        "best_epoch": best_epoch.astype(np.float32),
    }
    if tg.y_mean is not None:
        out["y_mean"] = np.broadcast_to(tg.y_mean, (L, tg.n_out)).copy()
        out["y_sd"] = np.broadcast_to(tg.y_sd, (L, tg.n_out)).copy()
    return out


def _standardised_windows(params: dict[str, np.ndarray], S: np.ndarray, mask: np.ndarray) -> np.ndarray:
    Z = (np.asarray(S, dtype=np.float32) - params["mean"][:, None, None, :]) / params["sd"][:, None, None, :]
    return Z * mask[None, :, :, None]


def attention_weights(params: dict[str, np.ndarray], S: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Attention of each model over the windows of each recording.

    Parameters
    ----------
    params : from :func:`attention_fit`; S : (L, R, T, d) sequences; mask : (R, T)

    Returns
    -------
    np.ndarray, shape (L, R, T): weights summing to 1 over the windows of a recording (0 at padding)
    """
    Z = _standardised_windows(params, S, mask)
    a = np.einsum("lrtd,ld->lrt", Z, params["q"]) / np.sqrt(Z.shape[-1])
    a = np.where(mask[None], a, -np.inf)
    a = a - a.max(axis=-1, keepdims=True)
    e = np.where(mask[None], np.exp(a), 0.0)
    return e / np.maximum(e.sum(axis=-1, keepdims=True), 1e-30)


def attention_forward(params: dict[str, np.ndarray], S: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Outputs of fitted attention probes: (L, R, T, d) sequences and (R, T) mask -> (L, R, o)."""
    Z = _standardised_windows(params, S, mask)
    a = attention_weights(params, S, mask).astype(np.float32)
    pooled = np.einsum("lrt,lrtd->lrd", a, Z)
    out = np.einsum("lrd,ldo->lro", pooled, params["W"]) + params["b"][:, None, :]
    if "y_mean" in params:
        out = out * params["y_sd"][:, None, :] + params["y_mean"][:, None, :]
    return out
