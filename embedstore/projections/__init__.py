"""Contrastive projection heads trained on stored embeddings.

- ``losses``     weighted contrastive (regression), Rank-N-Contrast, SupCon, triplet
- ``heads``      linear / 2-layer MLP heads with an L2-normalised output
- ``train``      grouped inner validation split, early stopping (``train_projection``, ``fit_on_store``)
- ``persist``    ``Projection`` (safetensors + JSON config with provenance), projected tables in the store
- ``report``     probe and retrieval metrics before vs after on held-out groups, 2-D maps
- ``retrieval``  retrieval evaluation of a space (MAP, MRR, MR1, P@k with chance levels)

Names are imported lazily so that importing the package does not import torch.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "TrainConfig": "train",
    "train_projection": "train",
    "fit_on_store": "train",
    "Projection": "persist",
    "write_projection": "persist",
    "projection_for_space": "persist",
    "make_loss": "losses",
    "weighted_contrastive_loss": "losses",
    "rank_n_contrast_loss": "losses",
    "ProjectionHead": "heads",
    "evaluate_projection": "report",
    "plot_map": "report",
    "evaluate_retrieval": "retrieval",
    "evaluate_store_retrieval": "retrieval",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"embedstore.projections.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'embedstore.projections' has no attribute {name!r}")
