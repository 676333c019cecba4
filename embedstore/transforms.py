"""Space transforms: apply a stored map from one embedding space to another at search time, with numpy only.

A *projected* space of the store (written by ``embedstore project``) holds vectors of a source space passed through
a trained projection head. To search it with an outside query file, the query is embedded like the source setup and
then mapped the same way. This module does that mapping without torch: it reads the head the projection saved
(``config.json`` + ``model.safetensors``, see :mod:`embedstore.projections.persist`) and evaluates it in numpy.

Format read (written by :meth:`embedstore.projections.persist.Projection.save`, never changed here)
-----------------------------------------------------------------------------------------------------
``config.json``
    ``{"format": "embedstore-projection", "head": {"in_dim", "out_dim", "kind": "linear"|"mlp", "hidden_dim",
    "dropout"}, ...}``
``model.safetensors``
    float32 tensors ``input_mean`` (in_dim,), ``input_scale`` (in_dim,), ``net.0.weight`` (h, in_dim),
    ``net.0.bias`` (h,) and for an MLP ``net.3.weight`` (out_dim, h), ``net.3.bias`` (out_dim,).

The head computes ``z = (x - input_mean) / input_scale``, then ``z W0^T + b0`` (linear) or
``relu(z W0^T + b0) W3^T + b3`` (MLP; dropout is inactive at inference), then L2-normalises each row
(``z / max(||z||, 1e-12)``).

Provenance of a projected space (keys read here)
------------------------------------------------
``kind == "projection"``, ``source_setup_key``, ``source_space_id`` and ``projection = {"path", "sha256", ...}``.
The sha256 of ``model.safetensors`` must match the recorded one, so a retrained or edited head is never applied to
a store built with another.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from embedstore.errors import ConfigError, ProvenanceError, StoreError, check_choice
from embedstore.utils import sha256_file

HEAD_CONFIG_NAME = "config.json"
HEAD_WEIGHTS_NAME = "model.safetensors"
HEAD_FORMAT = "embedstore-projection"
HEAD_KINDS = ("linear", "mlp")
#: Hint of every error about a projected space's head.
REPROJECT_HINT = "re-run `embedstore project --from DIR --name NAME --overwrite` to re-project the store"


class SpaceTransform(ABC):
    """A map from the vectors of a source space to those of a derived space."""

    #: Dimension of the input (source) vectors.
    in_dim: int
    #: Dimension of the output vectors.
    out_dim: int

    @abstractmethod
    def apply(self, vectors: ArrayLike) -> np.ndarray:
        """Map vectors.

        Parameters
        ----------
        vectors : array-like
            (n, in_dim) float.

        Returns
        -------
        np.ndarray
            (n, out_dim) float32.
        """


@dataclass
class ProjectionHeadTransform(SpaceTransform):
    """A saved projection head (linear or 2-layer MLP, L2-normalised output) evaluated in numpy.

    Attributes
    ----------
    kind : str
        ``"linear"`` or ``"mlp"``.
    input_mean, input_scale : np.ndarray
        (in_dim,) float32 input standardisation.
    weights : list of np.ndarray
        One (out, in) float32 matrix per linear layer.
    biases : list of np.ndarray
        One (out,) float32 vector per linear layer.
    """

    kind: str
    input_mean: np.ndarray
    input_scale: np.ndarray
    weights: list[np.ndarray]
    biases: list[np.ndarray]

    def __post_init__(self) -> None:
        check_choice("head", self.kind, HEAD_KINDS)
        n_layers = 1 if self.kind == "linear" else 2
        if len(self.weights) != n_layers or len(self.biases) != n_layers:
            raise ConfigError(f"a {self.kind} head has {n_layers} linear layer(s), got {len(self.weights)}")
        self.in_dim = int(self.weights[0].shape[1])
        self.out_dim = int(self.weights[-1].shape[0])
        if self.input_mean.shape != (self.in_dim,) or self.input_scale.shape != (self.in_dim,):
            raise ConfigError(f"input standardisation does not fit a head of input dim {self.in_dim}")

    @classmethod
    def load(cls, path: str | Path) -> ProjectionHeadTransform:
        """Read a projection folder (``config.json`` + ``model.safetensors``) without torch.

        Raises
        ------
        ConfigError
            When the folder is not a saved projection or its weights do not fit its config.
        """
        from safetensors.numpy import load_file

        p = Path(path)
        if not (p / HEAD_CONFIG_NAME).is_file() or not (p / HEAD_WEIGHTS_NAME).is_file():
            raise ConfigError(
                f"{p} is not a saved projection (needs {HEAD_CONFIG_NAME} and {HEAD_WEIGHTS_NAME})",
                hint="train one with `embedstore project ... --out DIR`",
            )
        cfg = json.loads((p / HEAD_CONFIG_NAME).read_text())
        if cfg.get("format") != HEAD_FORMAT:
            raise ConfigError(f"{p / HEAD_CONFIG_NAME} is not an embedstore projection config")
        head = cfg.get("head") or {}
        kind = head.get("kind", "")
        check_choice("head", kind, HEAD_KINDS)
        tensors = load_file(str(p / HEAD_WEIGHTS_NAME))
        names = ["net.0"] if kind == "linear" else ["net.0", "net.3"]
        try:
            out = cls(
                kind=kind,
                input_mean=_f32(tensors["input_mean"]),
                input_scale=_f32(tensors["input_scale"]),
                weights=[_f32(tensors[f"{n}.weight"]) for n in names],
                biases=[_f32(tensors[f"{n}.bias"]) for n in names],
            )
        except KeyError as e:
            raise ConfigError(
                f"{p / HEAD_WEIGHTS_NAME} lacks the tensor {e.args[0]!r} of a {kind} head"
            ) from e
        if (out.in_dim, out.out_dim) != (head.get("in_dim"), head.get("out_dim")):
            raise ConfigError(
                f"{p / HEAD_WEIGHTS_NAME} holds a {out.in_dim}->{out.out_dim} head, its config says "
                f"{head.get('in_dim')}->{head.get('out_dim')}"
            )
        return out

    def apply(self, vectors: ArrayLike) -> np.ndarray:
        """Standardise, map and L2-normalise: (n, in_dim) -> (n, out_dim) float32 with unit rows."""
        x = np.asarray(vectors, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.in_dim:
            raise ConfigError(f"projection expects vectors of dim {self.in_dim}, got shape {x.shape}")
        z = (x - self.input_mean) / self.input_scale
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            z = z @ w.T + b
            if i < len(self.weights) - 1:
                z = np.maximum(z, 0.0)
        norm = np.linalg.norm(z, axis=1, keepdims=True)
        return (z / np.maximum(norm, 1e-12)).astype(np.float32)


def _f32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def is_projected(provenance: dict) -> bool:
    """Whether a space's provenance describes a projected space."""
    return provenance.get("kind") == "projection"


def source_setup_of(provenance: dict) -> str | None:
    """The setup a projected space's queries are embedded with (``None`` for an ordinary space)."""
    return provenance.get("source_setup_key") if is_projected(provenance) else None


def transform_for_provenance(provenance: dict, *, space_id: str = "") -> SpaceTransform | None:
    """The transform from the source space into the space with this provenance (``None`` for an ordinary space).

    Parameters
    ----------
    provenance : dict
        The space's provenance (``Space.provenance``).
    space_id : str
        Used in error messages.

    Returns
    -------
    SpaceTransform or None

    Raises
    ------
    StoreError
        When the projection folder recorded in the provenance is missing.
    ProvenanceError
        When its weights changed since the space was written (sha256 mismatch).
    """
    if not is_projected(provenance):
        return None
    meta = provenance.get("projection") or {}
    path = Path(meta.get("path", ""))
    name = space_id or provenance.get("source_space_id", "this projected space")
    if not (path / HEAD_WEIGHTS_NAME).is_file():
        raise StoreError(
            f"the projection of space {name} is missing at {path}",
            hint="restore the projection folder, or train a new one with "
            "`embedstore project ... --name NAME --overwrite`",
        )
    if meta.get("sha256") and sha256_file(path / HEAD_WEIGHTS_NAME) != meta["sha256"]:
        raise ProvenanceError(
            f"the projection at {path} changed since space {name} was written", hint=REPROJECT_HINT
        )
    return ProjectionHeadTransform.load(path)
