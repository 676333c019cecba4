"""The encoder interface and its registry.

An encoder turns fixed-length mono windows (float32, at ``sample_rate``) into per-layer features.

Conventions
-----------
- ``frames(windows)`` returns ``[n_layers, n_windows, n_frames, dim]`` float32: the per-frame features of
  every layer (hidden states for neural encoders, one "layer" for handcrafted ones) at ``frame_rate`` Hz.
- ``embed(windows)`` returns ``[n_layers, n_windows, dim]`` float32: one vector per window and layer.
  The default is the mean over frames; handcrafted encoders may override (e.g. mean + std statistics), in which
  case ``dim`` is the size of ``embed``'s output and ``frame_dim`` the size of ``frames``' output.
- Encoders are registered by name with :func:`register_encoder`; a duplicate name is an error.
- ``provenance()`` is stored with every vector so queries are embedded exactly as the index was built.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from embedstore import __version__
from embedstore.errors import ConfigError


class Encoder(ABC):
    """A frozen audio encoder. Subclasses set the class/instance attributes and implement ``frames``."""

    #: Registry name, e.g. ``"chroma"`` or ``"mert-v1-95m"``.
    name: str = ""
    #: Input sample rate in Hz; windows passed to ``frames``/``embed`` are at this rate.
    sample_rate: int = 22050
    #: Size of the vectors returned by ``embed``.
    dim: int = 0
    #: Size of the per-frame vectors returned by ``frames`` (defaults to ``dim``).
    frame_dim: int | None = None
    #: Frames per second of ``frames``' output.
    frame_rate: float = 50.0
    #: One name per layer, e.g. ``["L0", ..., "L12"]``; handcrafted encoders have one.
    layer_names: list[str] = ["L0"]
    #: Model id (hub id or local path) and revision/hash of the weights, for provenance.
    model_id: str = ""
    revision: str = ""
    #: Shortest window (seconds) the encoder accepts.
    min_window_s: float = 0.5

    @property
    def n_layers(self) -> int:
        return len(self.layer_names)

    @abstractmethod
    def frames(self, windows: np.ndarray) -> np.ndarray:
        """Per-frame features.

        Parameters
        ----------
        windows : np.ndarray, shape (n_windows, n_samples), float32 at ``sample_rate``

        Returns
        -------
        np.ndarray, shape (n_layers, n_windows, n_frames, frame_dim), float32
        """

    def embed(self, windows: np.ndarray) -> np.ndarray:
        """One vector per window and layer.

        Parameters
        ----------
        windows : np.ndarray, shape (n_windows, n_samples), float32 at ``sample_rate``

        Returns
        -------
        np.ndarray, shape (n_layers, n_windows, dim), float32
        """
        f = self.frames(windows)
        return f.mean(axis=2).astype(np.float32)

    def provenance(self) -> dict:
        """What must match for two vectors to be comparable (stored with every space)."""
        return {
            "encoder": self.name,
            "model_id": self.model_id or self.name,
            "revision": self.revision or "",
            "sample_rate": int(self.sample_rate),
            "dim": int(self.dim),
            "layer_names": list(self.layer_names),
            "embedstore_version": __version__,
            "params": self.params(),
            "load_kwargs": self.load_kwargs(),
        }

    def load_kwargs(self) -> dict:
        """Keyword arguments that rebuild this encoder with ``get_encoder(name, **kwargs)`` (e.g. ``model_path``).

        Stored with the vectors so that queries are embedded by the same model as the index.
        """
        return {}

    def params(self) -> dict:
        """Encoder settings that change its output (FFT size, n_mels, dtype...). JSON-serialisable."""
        return {}

    def info(self) -> EncoderInfo:
        return EncoderInfo(
            name=self.name,
            sample_rate=self.sample_rate,
            dim=self.dim,
            n_layers=self.n_layers,
            frame_rate=self.frame_rate,
            model_id=self.model_id,
            kind="",
        )


@dataclass
class EncoderInfo:
    name: str
    sample_rate: int
    dim: int
    n_layers: int
    frame_rate: float
    model_id: str = ""
    kind: str = ""  # "handcrafted" | "transformers" | "wheel"
    description: str = ""
    extra: dict = field(default_factory=dict)


@dataclass
class _Entry:
    factory: Callable[..., Encoder]
    kind: str
    description: str
    # Static facts shown by `embedstore encoders` without building the model.
    sample_rate: int
    dim: int | None
    n_layers: int | None
    model_id: str = ""


_REGISTRY: dict[str, _Entry] = {}


def register_encoder(
    name: str,
    *,
    kind: str,
    description: str = "",
    sample_rate: int,
    dim: int | None = None,
    n_layers: int | None = None,
    model_id: str = "",
):
    """Class/function decorator adding an encoder factory to the registry. Duplicate names are rejected."""

    def deco(factory):
        if name in _REGISTRY:
            raise ConfigError(f"encoder {name!r} is already registered")
        _REGISTRY[name] = _Entry(factory, kind, description, sample_rate, dim, n_layers, model_id)
        return factory

    return deco


def registered_encoders() -> dict[str, _Entry]:
    """The encoders registered so far (see :mod:`embedstore.encoders.catalog` for the built-in ones)."""
    return dict(_REGISTRY)
