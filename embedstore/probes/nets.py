"""The torch modules of the neural probes, batched over a leading "model" dimension.

This module imports torch at its top: callers import it inside the functions that train (``# lazy: torch``), so
importing the rest of :mod:`embedstore.probes` stays cheap. Shapes: ``M`` models, ``n`` rows, ``d`` input
features, ``o`` outputs, ``R`` recordings of ``T`` windows.
"""

from __future__ import annotations

import torch
from torch import nn


class BatchedMLP(nn.Module):
    """One MLP per model: (M, n, d) -> (M, n, o); ``hidden=0`` makes it linear.

    Parameters
    ----------
    M : number of models
    d : input features
    hidden : hidden units (0: no hidden layer)
    o : outputs
    dropout : dropout on the hidden layer (training only)
    """

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

    def forward(self, Z: torch.Tensor) -> torch.Tensor:
        """(M, n, d) standardised features -> (M, n, o) outputs."""
        h = Z
        if self.hidden:
            h = self.drop(torch.relu(h @ self.W1 + self.b1[:, None, :]))
        return h @ self.W2 + self.b2[:, None, :]


class LayerMix(nn.Module):
    """Softmax-weighted sum of L layers, then a head: (L, n, d) -> (1, n, o).

    Parameters
    ----------
    L : number of layers mixed
    d, hidden, o, dropout : the head's shape (see :class:`BatchedMLP`)
    """

    def __init__(self, L: int, d: int, hidden: int, o: int, dropout: float):
        super().__init__()
        self.nonlinear = bool(hidden)
        self.logits = nn.Parameter(torch.zeros(1, L))
        self.head = BatchedMLP(1, d, hidden, o, dropout)

    def forward(self, Z: torch.Tensor) -> torch.Tensor:
        """(L, n, d) standardised features -> (1, n, o) outputs."""
        w = torch.softmax(self.logits[0], dim=0)
        return self.head(torch.einsum("l,lnd->nd", w, Z)[None])


class AttentionPool(nn.Module):
    """Per-model attention pooling over windows, then a linear head: (M, R, T, d), mask (R, T) -> (M, R, o).

    Parameters
    ----------
    M : number of models (one per layer)
    d : features per window
    o : outputs
    dropout : dropout on the pooled vector (training only)
    """

    def __init__(self, M: int, d: int, o: int, dropout: float):
        super().__init__()
        self.nonlinear = False
        self.q = nn.Parameter(torch.zeros(M, d))
        self.W = nn.Parameter(torch.zeros(M, d, o))
        self.b = nn.Parameter(torch.zeros(M, o))
        self.drop = nn.Dropout(dropout)
        self.scale = 1.0 / d**0.5

    def forward(self, Z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(M, R, T, d) standardised windows and (R, T) bool mask -> (M, R, o) outputs."""
        a = torch.einsum("mrtd,md->mrt", Z, self.q) * self.scale
        a = a.masked_fill(~mask[None], float("-inf"))
        a = torch.softmax(a, dim=-1)
        pooled = torch.einsum("mrt,mrtd->mrd", a, Z)
        return self.drop(pooled) @ self.W + self.b[:, None, :]
