"""Training of the frame models (grouped cross-validation: :mod:`embedstore.frames.crossval`).

- **Data**: :func:`load_items` reads a manifest (CSV/JSON; ``audio`` paths relative to it) or a store (its
  recordings table: ``path`` + metadata columns) and returns one :class:`FrameItem` per clip: frame features
  (:class:`~embedstore.frames.features.FrameFeaturizer`) and targets
  (:func:`~embedstore.frames.targets.targets_from_row`); ``group`` is the piece (``piece_id``).
- **Segments**: clips are cut into ``segment_s`` (60 s) segments with ``hop_s`` (30 s) hop; a clip no longer than
  one segment is one segment (the asap-dev clips are 30 s).
- **Joint loss**: cross-entropy on the 6 dynamics classes weighted by inverse class frequency (macro F1 is the
  metric) plus binary cross-entropy on the widened change / beat / downbeat targets with ``pos_weight`` = negative /
  positive mass of the training frames (capped at ``max_pos_weight``): the sparse positives would otherwise be
  ignored. Unknown targets (``-1``) and padding are masked. Task weights default to 1.
- **Optimiser**: AdamW, lr 3e-4 for ``msn-mmoe`` (the paper's), 1e-3 for ``tcn``, 3e-3 for the linear probe (a convex problem that
  would need many more epochs at 3e-4), weight decay 1e-2.
- **Early stopping** on an inner validation split grouped by piece (never the test fold), monitoring by default
  the validation *score* (mean of the beat, downbeat, dynamics and change-point F-measures after
  post-processing, :func:`validation_score`): the validation loss starts rising after a few epochs (the
  class-weighted losses grow over-confident) while the F-measures still improve for many more, so stopping on the
  loss stops far too early. ``monitor="loss"`` is available. The best epoch's weights are kept, then the
  change-point (and peak-mode beat/downbeat) thresholds are tuned on the same validation clips.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from embedstore.errors import ConfigError, check_choice
from embedstore.frames.inference import (
    tune_thresholds,
    validation_score,
)
from embedstore.frames.items import FrameItem, segments
from embedstore.frames.postprocess import BEAT_METHODS

BINARY_TASKS = ("change", "beat", "downbeat")


@dataclass
class TrainConfig:
    """Training settings (stored in the model's config.json)."""

    model: str = "msn-mmoe"
    model_kwargs: dict = field(default_factory=dict)
    epochs: int = 60
    lr: float | None = None  # None: 3e-4 (msn-mmoe), 1e-3 (tcn) or 3e-3 (linear)
    weight_decay: float = 1e-2
    batch_size: int = 4
    segment_s: float = 60.0
    hop_s: float = 30.0
    patience: int = 6
    val_fraction: float = 0.2
    seed: int = 0
    task_weights: dict = field(
        default_factory=lambda: {"dynamics": 1.0, "change": 1.0, "beat": 1.0, "downbeat": 1.0}
    )
    max_pos_weight: float = 100.0
    max_class_weight: float = 10.0
    beat_method: str = "dbn"
    monitor: str = "score"
    threads: int | None = None

    def __post_init__(self):
        from embedstore.frames.models import MODEL_KINDS

        check_choice("model", self.model, MODEL_KINDS)

        check_choice("beat_method", self.beat_method, BEAT_METHODS)
        check_choice("monitor", self.monitor, ("score", "loss"))
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("epochs and batch_size must be >= 1")
        if not 0 < self.hop_s <= self.segment_s:
            raise ConfigError(
                f"need 0 < hop_s <= segment_s, got hop_s={self.hop_s}, segment_s={self.segment_s}"
            )

    @property
    def learning_rate(self) -> float:
        if self.lr is not None:
            return float(self.lr)
        return {"msn-mmoe": 3e-4, "tcn": 1e-3}.get(self.model, 3e-3)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["lr"] = self.learning_rate
        return d


@dataclass
class TrainResult:
    model: object  # FrameModel (torch)
    thresholds: dict
    history: list[dict]
    best_epoch: int
    class_weights: list[float]
    pos_weights: dict
    seconds: float


# ------------------------------------------------------------------------------------------------ data
def _collate(items, segs, torch):
    n = max(e - s for _, s, e in segs)
    d = items[segs[0][0]].features.shape[1]
    b = len(segs)
    x = np.zeros((b, n, d), dtype=np.float32)
    mask = np.zeros((b, n), dtype=bool)
    y = {"dynamics": np.full((b, n), -1, dtype=np.int64)}
    for t in BINARY_TASKS:
        y[t] = np.full((b, n), -1.0, dtype=np.float32)
    for j, (i, s, e) in enumerate(segs):
        it = items[i]
        x[j, : e - s] = it.features[s:e]
        mask[j, : e - s] = True
        arr = it.target_arrays()
        for k in y:
            y[k][j, : e - s] = arr[k][s:e]
    return torch.from_numpy(x), torch.from_numpy(mask), {k: torch.from_numpy(v) for k, v in y.items()}


# ------------------------------------------------------------------------------------------------ loss
def loss_weights(
    items: list[FrameItem], *, max_pos_weight: float = 100.0, max_class_weight: float = 10.0
) -> tuple[np.ndarray, dict]:
    """Inverse-frequency class weights of the dynamics levels (mean 1 over the training frames) and
    ``pos_weight`` (negative / positive target mass) of each binary task."""
    from embedstore.frames.models import TASKS

    n_cls = TASKS["dynamics"]
    counts = np.zeros(n_cls)
    pos = dict.fromkeys(BINARY_TASKS, 0.0)
    neg = dict.fromkeys(BINARY_TASKS, 0.0)
    for it in items:
        a = it.target_arrays()
        d = a["dynamics"]
        counts += np.bincount(d[d >= 0], minlength=n_cls)[:n_cls]
        for t in BINARY_TASKS:
            v = a[t][a[t] >= 0]
            pos[t] += float(v.sum())
            neg[t] += float((1.0 - v).sum())
    present = counts > 0
    w = np.zeros(n_cls)
    if present.any():
        w[present] = counts[present].sum() / (present.sum() * counts[present])
        w = np.minimum(w, max_class_weight)
        w[present] /= (w[present] * counts[present]).sum() / counts[present].sum()
    w[~present] = 1.0
    pw = {
        t: float(np.clip(neg[t] / pos[t], 1.0, max_pos_weight)) if pos[t] > 0 else 1.0 for t in BINARY_TASKS
    }
    return w.astype(np.float32), pw


def joint_loss(out: dict, y: dict, mask, *, class_weights, pos_weights: dict, task_weights: dict):
    """Sum over tasks of the masked, weighted per-frame losses; also returns the per-task values."""
    import torch
    import torch.nn.functional as F

    parts = {}
    d = y["dynamics"]
    valid = mask & (d >= 0)
    if valid.any():
        parts["dynamics"] = F.cross_entropy(out["dynamics"][valid], d[valid], weight=class_weights)
    for t in BINARY_TASKS:
        valid = mask & (y[t] >= 0)
        if valid.any():
            pw = torch.tensor(pos_weights[t], dtype=torch.float32)
            parts[t] = F.binary_cross_entropy_with_logits(out[t][valid], y[t][valid], pos_weight=pw)
    total = sum(task_weights.get(k, 1.0) * v for k, v in parts.items())
    return total, {k: float(v.detach()) for k, v in parts.items()}


# ------------------------------------------------------------------------------------------------ training
def _set_threads(n):
    if n:
        import torch

        torch.set_num_threads(int(n))


def train_frame_model(
    train_items: list[FrameItem],
    *,
    config: TrainConfig | None = None,
    val_items: list[FrameItem] | None = None,
    max_steps: int | None = None,
    log: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train a frame model; with ``val_items``, early stopping on their loss and threshold tuning.

    Parameters
    ----------
    train_items : list of FrameItem
    config : TrainConfig
    val_items : list of FrameItem, optional
        Without them the last epoch's weights are kept and thresholds stay at 0.5.
    max_steps : int, optional
        Stop after this many optimiser steps (for quick checks).

    Returns
    -------
    TrainResult
    """
    import torch

    from embedstore.frames.models import build_model

    cfg = config or TrainConfig()
    if not train_items:
        raise ConfigError("no training items")
    _set_threads(cfg.threads)
    t_start = time.perf_counter()
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    in_dim = train_items[0].features.shape[1]
    model = build_model(cfg.model, in_dim, **cfg.model_kwargs)
    allx = np.concatenate([it.features for it in train_items])
    model.set_input_stats(allx.mean(axis=0), allx.std(axis=0))
    del allx
    cw, pw = loss_weights(
        train_items, max_pos_weight=cfg.max_pos_weight, max_class_weight=cfg.max_class_weight
    )
    cw_t = torch.from_numpy(cw)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    segs = segments(train_items, segment_s=cfg.segment_s, hop_s=cfg.hop_s)
    history, best, best_state, best_epoch, bad, steps = [], math.inf, None, 0, 0, 0
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        order = rng.permutation(len(segs))
        tot, nb = 0.0, 0
        for b0 in range(0, len(order), cfg.batch_size):
            batch = [segs[k] for k in order[b0 : b0 + cfg.batch_size]]
            if len(batch) < 2 and len(order) > 1:  # batch norm needs 2 segments
                continue
            x, mask, y = _collate(train_items, batch, torch)
            out = model(x)
            loss, _ = joint_loss(
                out, y, mask, class_weights=cw_t, pos_weights=pw, task_weights=cfg.task_weights
            )
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            tot += float(loss.detach())
            nb += 1
            steps += 1
            if max_steps is not None and steps >= max_steps:
                break
        rec = {"epoch": epoch, "train_loss": tot / max(nb, 1)}
        if val_items:
            rec["val_loss"] = evaluate_loss(
                model, val_items, class_weights=cw, pos_weights=pw, task_weights=cfg.task_weights
            )
            if cfg.monitor == "score":
                rec["val_score"], rec["val_metrics"] = validation_score(
                    model, val_items, beat_method=cfg.beat_method
                )
                crit = -rec["val_score"]
            else:
                crit = rec["val_loss"]
            if crit < best - 1e-4:
                best, best_epoch, bad = crit, epoch, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                bad += 1
        history.append(rec)
        if log is not None:
            log(
                " ".join(
                    f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in rec.items()
                    if not isinstance(v, dict)
                )
            )
        if (val_items and bad >= cfg.patience) or (max_steps is not None and steps >= max_steps):
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        best_epoch = len(history)
    model.eval()
    thresholds = {"beat": 0.5, "downbeat": 0.5, "change": 0.5}
    if val_items:
        thresholds = tune_thresholds(model, val_items, beat_method=cfg.beat_method)
    return TrainResult(model, thresholds, history, best_epoch, cw.tolist(), pw, time.perf_counter() - t_start)


def evaluate_loss(model, items: list[FrameItem], *, class_weights, pos_weights, task_weights) -> float:
    """Mean joint loss over whole clips (eval mode, no gradients)."""
    import torch

    model.eval()
    cw = torch.as_tensor(class_weights, dtype=torch.float32)
    tot = 0.0
    with torch.no_grad():
        for it in items:
            x, mask, y = _collate([it], [(0, 0, it.n_frames)], torch)
            loss, _ = joint_loss(
                model(x), y, mask, class_weights=cw, pos_weights=pos_weights, task_weights=task_weights
            )
            tot += float(loss)
    model.train()
    return tot / max(len(items), 1)
