"""Contrastive projection heads trained on stored embeddings.

- ``losses``     weighted contrastive (regression), Rank-N-Contrast, SupCon, triplet
- ``heads``      linear / 2-layer MLP heads with an L2-normalised output (torch; imported when used)
- ``targets``    labelled rows and loss targets (bins / classes from the training rows only)
- ``train``      grouped inner validation split, early stopping (``train_projection``, ``fit_on_store``)
- ``persist``    ``Projection`` (safetensors + JSON config with provenance), projected tables in the store
- ``probing``    the linear probes of a space before and after (ridge, logistic)
- ``report``     probe and retrieval metrics before vs after on held-out groups
- ``maps``       2-D maps before vs after (t-SNE, UMAP, PCA)
- ``retrieval``  retrieval evaluation of a space (MAP, MRR, MR1, P@k with chance levels)
- ``workflow``   what the ``project`` and ``evaluate-retrieval`` commands run

Importing the package does not import torch: ``ProjectionHead`` (a torch module) is loaded on first access.
"""

from __future__ import annotations

from typing import Any

from embedstore.projections.losses import make_loss, rank_n_contrast_loss, weighted_contrastive_loss
from embedstore.projections.maps import plot_map
from embedstore.projections.persist import Projection, projection_for_space, write_projection
from embedstore.projections.report import evaluate_projection
from embedstore.projections.retrieval import evaluate_retrieval, evaluate_store_retrieval
from embedstore.projections.train import TrainConfig, fit_on_store, train_projection

__all__ = [
    "ProjectionHead",
    "Projection",
    "TrainConfig",
    "evaluate_projection",
    "evaluate_retrieval",
    "evaluate_store_retrieval",
    "fit_on_store",
    "make_loss",
    "plot_map",
    "projection_for_space",
    "rank_n_contrast_loss",
    "train_projection",
    "weighted_contrastive_loss",
    "write_projection",
]


def __getattr__(name: str) -> Any:
    """``ProjectionHead`` on first access (it subclasses a torch module)."""
    if name == "ProjectionHead":
        from embedstore.projections.heads import ProjectionHead  # lazy: torch

        return ProjectionHead
    raise AttributeError(f"module 'embedstore.projections' has no attribute {name!r}")
