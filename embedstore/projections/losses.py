"""Contrastive losses for projection heads.

Task: map embeddings ``z`` (n, dim) — the L2-normalised output of a projection head — so that items with similar
labels end up close. Distances are Euclidean between the (normalised) embeddings, so they lie in [0, 2].

Losses
------
``weighted-contrastive``
    Weighted contrastive loss for regression (Seshadri & Lerch, "Improving music performance assessment with
    contrastive learning", ISMIR 2021). Continuous labels are binned into ``n_bins`` bins; for every unordered pair
    (i, j), i != j, with distance d:

    - same bin:       ½·d²
    - different bins: ½·max(0, m·|b_i − b_j| − d)²

    averaged over all n·(n−1)/2 pairs of the batch (default margin m = 0.5).
``rank-n-contrast``
    Rank-N-Contrast (Zha et al., NeurIPS 2023) for continuous labels, written here: for an anchor i and a positive
    j, the negatives are the items k != i whose label is at least as far from y_i as y_j is,

    ``l(i, j) = −log( exp(s_ij/τ) / Σ_{k≠i, |y_i−y_k| ≥ |y_i−y_j|} exp(s_ik/τ) )``, with s = −d,

    averaged over all ordered pairs (i, j), i != j.
``supcon``
    Supervised contrastive loss (Khosla et al. 2020) for class labels: ``pytorch_metric_learning.losses.SupConLoss``.
``triplet``
    Triplet margin loss with hard-negative mining for class labels: ``pytorch_metric_learning`` ``TripletMarginLoss``
    on the triplets of ``TripletMarginMiner(type_of_triplets="hard")`` (or ``"semihard"`` / ``"all"``), or the
    batch-hard miner (``mining="batch-hard"``).

Conventions: ``labels`` are float (continuous losses) or int class codes (class losses), shape (n,). Every loss
returns a scalar tensor; a batch without any usable pair returns 0 (with a gradient path).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

from embedstore.errors import ConfigError, check_choice

if TYPE_CHECKING:  # pragma: no cover
    import torch

LOSSES = ("weighted-contrastive", "rank-n-contrast", "supcon", "triplet")
#: Losses that take continuous labels; the others take class labels.
CONTINUOUS_LOSSES = ("weighted-contrastive", "rank-n-contrast")
BINNINGS = ("uniform", "quantile")
MININGS = ("hard", "semihard", "all", "batch-hard")

LossName = Literal["weighted-contrastive", "rank-n-contrast", "supcon", "triplet"]


def bin_edges(
    values: Sequence[float] | np.ndarray,
    *,
    n_bins: int = 5,
    binning: Literal["uniform", "quantile"] = "uniform",
) -> np.ndarray:
    """Bin edges for continuous labels (computed on training labels only).

    Parameters
    ----------
    values : array-like (n,) float
    n_bins : int >= 2
    binning : ``"uniform"`` (equal-width bins between min and max, as in Seshadri & Lerch) or ``"quantile"``

    Returns
    -------
    edges : (n_bins + 1,) float64, increasing (outer edges are the observed min and max)
    """
    check_choice("binning", binning, BINNINGS)
    if int(n_bins) < 2:
        raise ConfigError(f"n_bins must be at least 2, got {n_bins}")
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        raise ConfigError("no finite label values to bin")
    if binning == "uniform":
        lo, hi = float(v.min()), float(v.max())
        if hi <= lo:
            hi = lo + 1.0
        return np.linspace(lo, hi, int(n_bins) + 1)
    edges = np.quantile(v, np.linspace(0, 1, int(n_bins) + 1))
    return np.maximum.accumulate(edges)


def assign_bins(values: Sequence[float] | np.ndarray, edges: Sequence[float] | np.ndarray) -> np.ndarray:
    """Bin index (0 .. len(edges) − 2) of each value; values outside the edges go to the first/last bin."""
    edges = np.asarray(edges, dtype=np.float64)
    b = np.searchsorted(edges[1:-1], np.asarray(values, dtype=np.float64), side="right")
    return np.clip(b, 0, len(edges) - 2).astype(np.int64)


def _pairwise_sq_dist(z: torch.Tensor) -> torch.Tensor:
    import torch

    sq = (z * z).sum(dim=1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (z @ z.T)
    return torch.clamp(d2, min=0.0)


def weighted_contrastive_loss(
    embeddings: torch.Tensor, bins: np.ndarray | torch.Tensor, *, margin: float = 0.5
) -> torch.Tensor:
    """Weighted contrastive loss for regression (Seshadri & Lerch 2021).

    Parameters
    ----------
    embeddings : torch.Tensor (n, dim)
    bins : array-like or torch.Tensor (n,) int, the label bin of each item
    margin : float, m; pairs b bins apart are pushed to a distance of at least m·b

    Returns
    -------
    torch.Tensor, scalar: mean over the n·(n−1)/2 unordered pairs
    """
    import torch

    z = embeddings
    n = z.shape[0]
    if n < 2:
        return z.sum() * 0.0
    b = torch.as_tensor(np.asarray(bins) if not torch.is_tensor(bins) else bins, device=z.device).to(z.dtype)
    d2 = _pairwise_sq_dist(z)
    d = torch.sqrt(d2 + 1e-12)
    gap = (b[:, None] - b[None, :]).abs()
    same = gap == 0
    pos = 0.5 * d2
    neg = 0.5 * torch.clamp(margin * gap - d, min=0.0) ** 2
    per_pair = torch.where(same, pos, neg)
    iu = torch.triu_indices(n, n, offset=1, device=z.device)
    return per_pair[iu[0], iu[1]].mean()


def rank_n_contrast_loss(
    embeddings: torch.Tensor, labels: np.ndarray | torch.Tensor, *, temperature: float = 0.5
) -> torch.Tensor:
    """Rank-N-Contrast loss (Zha et al. 2023) with s_ij = −‖z_i − z_j‖ and L1 label distance.

    Parameters
    ----------
    embeddings : torch.Tensor (n, dim)
    labels : array-like or torch.Tensor (n,) float
    temperature : float, τ

    Returns
    -------
    torch.Tensor, scalar: mean of l(i, j) over the n·(n−1) ordered pairs
    """
    import torch

    z = embeddings
    n = z.shape[0]
    if n < 2:
        return z.sum() * 0.0
    y = torch.as_tensor(np.asarray(labels) if not torch.is_tensor(labels) else labels, device=z.device)
    y = y.to(torch.float64).reshape(n, -1)
    ldiff = torch.cdist(y, y, p=1)  # (n, n)
    logits = -torch.sqrt(_pairwise_sq_dist(z) + 1e-12) / float(temperature)
    logits = logits - logits.max(dim=1, keepdim=True).values.detach()
    off = ~torch.eye(n, dtype=torch.bool, device=z.device)
    exp_l = torch.exp(logits) * off  # (n, n), anchor i on rows; diagonal removed
    # neg_mask[i, j, k] = k is a negative for the pair (i, j): |y_i - y_k| >= |y_i - y_j|, k != i
    neg_mask = (ldiff[:, None, :] >= ldiff[:, :, None]) & off[:, None, :]
    denom = (neg_mask * exp_l[:, None, :]).sum(dim=2)  # (n, n)
    log_prob = logits - torch.log(denom + 1e-30)
    return -(log_prob[off]).mean()


class ContrastiveLoss:
    """A configured loss: ``loss(embeddings, targets) -> scalar tensor``.

    ``targets`` are what :func:`make_loss`'s callers prepare: bins (int) for ``weighted-contrastive``, raw labels
    (float) for ``rank-n-contrast`` and class codes (int) for ``supcon`` / ``triplet``.
    """

    def __init__(self, name: str, params: dict):
        self.name = name
        self.params = dict(params)
        self._impl = None
        self._miner = None
        if name == "supcon":
            from pytorch_metric_learning import losses

            self._impl = losses.SupConLoss(temperature=float(params.get("temperature", 0.1)))
        elif name == "triplet":
            from pytorch_metric_learning import losses, miners

            m = float(params.get("margin", 0.2))
            self._impl = losses.TripletMarginLoss(margin=m)
            mining = params.get("mining", "hard")
            if mining == "batch-hard":
                self._miner = miners.BatchHardMiner()
            else:
                self._miner = miners.TripletMarginMiner(margin=m, type_of_triplets=mining)

    def __call__(self, embeddings: torch.Tensor, targets: np.ndarray | torch.Tensor) -> torch.Tensor:
        import torch

        if self.name == "weighted-contrastive":
            return weighted_contrastive_loss(
                embeddings, targets, margin=float(self.params.get("margin", 0.5))
            )
        if self.name == "rank-n-contrast":
            return rank_n_contrast_loss(
                embeddings, targets, temperature=float(self.params.get("temperature", 0.5))
            )
        t = torch.as_tensor(
            np.asarray(targets) if not torch.is_tensor(targets) else targets, device=embeddings.device
        ).long()
        if self._miner is not None:
            tuples = self._miner(embeddings, t)
            return self._impl(embeddings, t, tuples)
        return self._impl(embeddings, t)

    def __repr__(self) -> str:
        return f"ContrastiveLoss({self.name!r}, {self.params})"


def make_loss(
    name: LossName,
    *,
    margin: float | None = None,
    temperature: float | None = None,
    mining: Literal["hard", "semihard", "all", "batch-hard"] = "hard",
) -> ContrastiveLoss:
    """Build a loss by name (see the module docstring).

    Parameters
    ----------
    name : ``"weighted-contrastive"``, ``"rank-n-contrast"``, ``"supcon"`` or ``"triplet"``
    margin : weighted-contrastive m (default 0.5) or triplet margin (default 0.2)
    temperature : rank-n-contrast τ (default 0.5) or supcon temperature (default 0.1)
    mining : triplet mining strategy
    """
    check_choice("loss", name, LOSSES)
    check_choice("mining", mining, MININGS)
    params: dict = {}
    if name == "weighted-contrastive":
        params["margin"] = 0.5 if margin is None else float(margin)
    elif name == "triplet":
        params["margin"] = 0.2 if margin is None else float(margin)
        params["mining"] = mining
    elif name == "rank-n-contrast":
        params["temperature"] = 0.5 if temperature is None else float(temperature)
    else:
        params["temperature"] = 0.1 if temperature is None else float(temperature)
    for k in ("margin", "temperature"):
        if k in params and params[k] <= 0:
            raise ConfigError(f"{k} must be positive, got {params[k]}")
    return ContrastiveLoss(name, params)
