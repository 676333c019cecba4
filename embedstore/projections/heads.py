"""Projection heads: a linear map or a 2-layer MLP with an L2-normalised output.

A head standardises its input with the training set's per-dimension mean and scale (stored as buffers, so they
travel with the weights), maps it to ``out_dim`` and L2-normalises the result. Shapes: input (n, in_dim) float32,
output (n, out_dim) float32 with unit norm.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import nn

from embedstore.errors import ConfigError, check_choice

HEADS = ("linear", "mlp")


class ProjectionHead(nn.Module):
    """Linear or 2-layer MLP projection head with an L2-normalised output.

    Parameters
    ----------
    in_dim : int
    out_dim : int
    kind : ``"linear"`` or ``"mlp"`` (Linear → ReLU → Dropout → Linear)
    hidden_dim : int, width of the MLP's hidden layer
    dropout : float, MLP dropout (training only)
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int = 32,
        *,
        kind: Literal["linear", "mlp"] = "linear",
        hidden_dim: int = 256,
        dropout: float = 0.0,
    ):
        super().__init__()
        check_choice("head", kind, HEADS)
        if int(in_dim) < 1 or int(out_dim) < 1:
            raise ConfigError(f"head dimensions must be positive, got in_dim={in_dim}, out_dim={out_dim}")
        self.in_dim, self.out_dim, self.kind = int(in_dim), int(out_dim), kind
        self.hidden_dim, self.dropout = int(hidden_dim), float(dropout)
        self.register_buffer("input_mean", torch.zeros(self.in_dim))
        self.register_buffer("input_scale", torch.ones(self.in_dim))
        if kind == "linear":
            self.net = nn.Sequential(nn.Linear(self.in_dim, self.out_dim))
        else:
            self.net = nn.Sequential(
                nn.Linear(self.in_dim, self.hidden_dim),
                nn.ReLU(),
                nn.Dropout(self.dropout),
                nn.Linear(self.hidden_dim, self.out_dim),
            )

    def config(self) -> dict:
        """The architecture as a JSON-able dict (saved with the weights; :meth:`from_config` rebuilds it)."""
        return {
            "in_dim": self.in_dim,
            "out_dim": self.out_dim,
            "kind": self.kind,
            "hidden_dim": self.hidden_dim,
            "dropout": self.dropout,
        }

    @classmethod
    def from_config(cls, cfg: dict) -> ProjectionHead:
        """A new (untrained) head of the architecture :meth:`config` describes."""
        return cls(
            cfg["in_dim"],
            cfg["out_dim"],
            kind=cfg["kind"],
            hidden_dim=cfg.get("hidden_dim", 256),
            dropout=cfg.get("dropout", 0.0),
        )

    def set_standardisation(self, X: np.ndarray) -> None:
        """Set the input mean/scale from training vectors X (n, in_dim)."""
        X = np.asarray(X, dtype=np.float64)
        mean = X.mean(axis=0)
        scale = X.std(axis=0)
        scale = np.where(scale > 1e-8 * max(1.0, float(np.abs(mean).max(initial=0.0))), scale, 1.0)
        self.input_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.input_scale.copy_(torch.as_tensor(scale, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(n, in_dim) vectors -> (n, out_dim) unit-norm projections."""
        z = self.net((x - self.input_mean) / self.input_scale)
        return nn.functional.normalize(z, dim=-1, eps=1e-12)
