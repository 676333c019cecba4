"""Training projection heads on stored embeddings.

``train_projection(X, labels, groups)`` fits a head with one of the contrastive losses of
:mod:`embedstore.projections.losses`. Early stopping watches the loss on an inner validation split that is grouped
like the outer evaluation (by piece, performer or recording: no group is on both sides); the weights of the best
validation epoch are kept. ``fit_on_store`` loads a space and a label column from the store and calls it.

Everything is deterministic for a given ``seed`` (on one machine and torch version).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from embedstore.errors import ConfigError, check_choice
from embedstore.evaluation.splits import inner_split
from embedstore.projections.losses import BINNINGS, CONTINUOUS_LOSSES, LOSSES, MININGS, make_loss
from embedstore.projections.persist import Projection
from embedstore.projections.targets import missing_labels, prepare_targets

if TYPE_CHECKING:  # pragma: no cover
    from embedstore.store import EmbeddingSet, Space, Store


@dataclass
class TrainConfig:
    """Options of :func:`train_projection` (all JSON-serialisable; saved with the projection)."""

    loss: Literal["weighted-contrastive", "rank-n-contrast", "supcon", "triplet"] = "weighted-contrastive"
    head: Literal["linear", "mlp"] = "linear"
    out_dim: int = 32
    hidden_dim: int = 256
    dropout: float = 0.0
    n_bins: int = 5
    binning: Literal["uniform", "quantile"] = "uniform"
    margin: float | None = None
    temperature: float | None = None
    mining: Literal["hard", "semihard", "all", "batch-hard"] = "hard"
    lr: float = 1e-2
    weight_decay: float = 1e-4
    batch_size: int = 64
    max_epochs: int = 200
    patience: int = 20
    val_fraction: float = 0.2
    seed: int = 0

    def validate(self) -> TrainConfig:
        """Check every option (a :class:`ConfigError` naming the bad one); returns ``self``."""
        check_choice("loss", self.loss, LOSSES)
        check_choice("head", self.head, ("linear", "mlp"))
        check_choice("binning", self.binning, BINNINGS)
        check_choice("mining", self.mining, MININGS)
        for name in ("out_dim", "hidden_dim", "batch_size", "max_epochs", "patience"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if int(self.n_bins) < 2:
            raise ConfigError(f"n_bins must be at least 2, got {self.n_bins}")
        if not 0.0 < float(self.val_fraction) < 1.0:
            raise ConfigError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if float(self.lr) <= 0:
            raise ConfigError(f"lr must be positive, got {self.lr}")
        return self

    def as_dict(self) -> dict:
        """The options as a JSON-able dict (saved with the projection)."""
        return asdict(self)


def _has_positive_pair(targets: np.ndarray) -> bool:
    """Whether some class (or bin) has two members: a contrastive loss on these rows is defined."""
    _, counts = np.unique(targets[targets >= 0], return_counts=True)
    return bool((counts >= 2).any())


def train_projection(
    X: np.ndarray,
    labels: Sequence | np.ndarray,
    groups: Sequence | np.ndarray,
    *,
    config: TrainConfig | None = None,
    input_provenance: dict | None = None,
    label_column: str = "label",
    train_idx: np.ndarray | None = None,
    verbose: bool = False,
) -> Projection:
    """Train a projection head.

    Parameters
    ----------
    X : array-like (n, d) float, input vectors (one space)
    labels : array-like (n,), numeric for the continuous losses; any values (classes) for supcon/triplet.
        Rows with a missing label are ignored.
    groups : array-like (n,), the grouping of the inner validation split (piece, performer or recording)
    config : TrainConfig
    input_provenance : provenance of the input space (saved with the projection)
    label_column : name of the label (saved with the projection)
    train_idx : optional subset of rows to train on (e.g. an outer CV fold); others are ignored

    Returns
    -------
    Projection (trained; weights of the best validation epoch)
    """
    import torch

    from embedstore.projections.heads import ProjectionHead  # lazy: torch

    config = (config or TrainConfig()).validate()
    X = np.asarray(X, dtype=np.float32)
    labels = np.asarray(labels, dtype=object)
    groups = np.asarray(groups).astype(str)
    if X.ndim != 2 or len(X) != len(labels) or len(X) != len(groups):
        raise ConfigError(
            f"X (n, d), labels (n,) and groups (n,) must agree; got {X.shape}, {labels.shape}, {groups.shape}"
        )
    rows = np.arange(len(X)) if train_idx is None else np.asarray(train_idx, dtype=int)
    keep = rows[~missing_labels(labels[rows])]
    n_dropped = len(rows) - len(keep)
    if len(keep) < 4:
        raise ConfigError(f"need at least 4 labelled rows to train a projection, got {len(keep)}")
    tr_rel, va_rel = inner_split(groups[keep], val_fraction=config.val_fraction, seed=config.seed)
    tr, va = keep[tr_rel], keep[va_rel]
    targets, label_info = prepare_targets(
        labels, tr, loss=config.loss, n_bins=config.n_bins, binning=config.binning, column=label_column
    )
    label_info = {**label_info, "column": label_column}

    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    head = ProjectionHead(
        X.shape[1], config.out_dim, kind=config.head, hidden_dim=config.hidden_dim, dropout=config.dropout
    )
    head.set_standardisation(X[tr])
    loss_fn = make_loss(
        config.loss, margin=config.margin, temperature=config.temperature, mining=config.mining
    )
    opt = torch.optim.AdamW(head.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    Xt = torch.from_numpy(X)
    tt = torch.as_tensor(targets)
    tr_t = torch.as_tensor(tr)
    class_loss = config.loss not in CONTINUOUS_LOSSES
    use_val = len(va) >= 2 and (not class_loss or _has_positive_pair(targets[va]))
    n_batches = max(1, int(np.ceil(len(tr) / config.batch_size)))

    def eval_loss(idx) -> float:
        head.eval()
        with torch.no_grad():
            return float(loss_fn(head(Xt[idx]), tt[idx]))

    best, best_state, best_epoch, wait = np.inf, copy.deepcopy(head.state_dict()), -1, 0
    hist_tr, hist_va = [], []
    epoch = -1
    for epoch in range(config.max_epochs):
        head.train()
        perm = tr_t[torch.randperm(len(tr), generator=gen)]
        total = 0.0
        for chunk in torch.tensor_split(perm, n_batches):
            if len(chunk) < 2:
                continue
            opt.zero_grad()
            loss = loss_fn(head(Xt[chunk]), tt[chunk])
            if loss.requires_grad:
                loss.backward()
                opt.step()
            total += float(loss.detach()) * len(chunk)
        hist_tr.append(total / len(tr))
        v = eval_loss(torch.as_tensor(va)) if use_val else eval_loss(tr_t)
        hist_va.append(v)
        if v < best - 1e-7:
            best, best_state, best_epoch, wait = v, copy.deepcopy(head.state_dict()), epoch, 0
        else:
            wait += 1
            if wait >= config.patience:
                break
        if verbose:
            print(f"epoch {epoch:3d}  train {hist_tr[-1]:.4f}  {'val' if use_val else 'train(eval)'} {v:.4f}")
    head.load_state_dict(best_state)
    head.eval()
    history = {
        "train_loss": hist_tr,
        "val_loss": hist_va,
        "best_epoch": best_epoch,
        "best_val_loss": best,
        "epochs_run": epoch + 1,
        "early_stopping_on": "validation" if use_val else "training loss (no usable validation split)",
        "n_train": int(len(tr)),
        "n_val": int(len(va)),
        "n_dropped_missing_label": n_dropped,
        "val_groups": sorted(set(groups[va])),
    }
    return Projection(
        head=head,
        train_config=config.as_dict(),
        label=label_info,
        input_provenance=dict(input_provenance or {}),
        history=history,
    )


def load_training_data(
    store: Store, space: Space, label_column: str, *, group_by: str = "piece_id", where: str | None = None
) -> tuple[EmbeddingSet, np.ndarray, np.ndarray]:
    """Vectors of a space with a label column and a grouping column from the recordings' metadata.

    Returns
    -------
    es : EmbeddingSet, labels : (n,) object, groups : (n,) str
    """
    es = store.load(space, where=where)
    meta = es.metadata
    for col in (label_column, group_by):
        if col not in meta.columns:
            cols = [c for c in meta.columns if c not in ("path", "content_hash", "added_at")]
            raise ConfigError(f"no metadata column {col!r}", hint="columns: " + ", ".join(cols))
    if not len(es):
        raise ConfigError(f"no vectors in {space.space_id}" + (f" for {where!r}" if where else ""))
    return es, meta[label_column].to_numpy(object), meta[group_by].astype(str).to_numpy()


def fit_on_store(
    store: Store,
    space: Space,
    label_column: str,
    *,
    group_by: str = "piece_id",
    where: str | None = None,
    config: TrainConfig | None = None,
    verbose: bool = False,
) -> Projection:
    """Train a projection on a stored space against a metadata column (validation grouped by ``group_by``)."""
    es, labels, groups = load_training_data(store, space, label_column, group_by=group_by, where=where)
    prov = {**space.provenance, "space_id": space.space_id, "group_by": group_by, "where": where}
    return train_projection(
        es.vectors,
        labels,
        groups,
        config=config,
        input_provenance=prov,
        label_column=label_column,
        verbose=verbose,
    )
