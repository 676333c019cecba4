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
- :func:`check_windows` validates encoder input; :func:`split_even` cuts a long window into the equal chunks a
  fixed-context model takes.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from embedstore import __version__
from embedstore.errors import AudioError, ConfigError

_F = TypeVar("_F", bound=Callable[..., Any])


def check_windows(windows: Any, *, sample_rate: int, min_window_s: float = 0.0) -> np.ndarray:
    """Validate encoder input and return it as a C-contiguous float32 array.

    Parameters
    ----------
    windows : array-like, shape (n_windows, n_samples)
        Mono audio in [-1, 1] at ``sample_rate``.
    sample_rate : int
        Hz; only used to turn ``min_window_s`` into samples and in the error message.
    min_window_s : float
        Shortest accepted window, seconds.

    Returns
    -------
    np.ndarray, shape (n_windows, n_samples), float32

    Raises
    ------
    ConfigError
        Not 2-D, no windows, not floating point, or windows shorter than ``min_window_s``.
    AudioError
        NaN or infinite samples (``reason="non_finite"``).
    """
    w = np.asarray(windows)
    if w.ndim != 2:
        raise ConfigError(f"windows must have shape (n_windows, n_samples); got shape {w.shape}")
    if w.shape[0] == 0:
        raise ConfigError("no windows to encode (n_windows == 0)")
    if not np.issubdtype(w.dtype, np.floating):
        raise ConfigError(f"windows must be floating point audio in [-1, 1]; got dtype {w.dtype}")
    w = np.ascontiguousarray(w, dtype=np.float32)
    if not np.isfinite(w).all():
        raise AudioError("windows contain NaN or infinite samples", reason="non_finite")
    min_n = int(math.ceil(min_window_s * sample_rate))
    if w.shape[1] < max(min_n, 1):
        raise ConfigError(
            f"windows of {w.shape[1]} samples are too short: need at least {min_window_s:g} s "
            f"({min_n} samples at {sample_rate} Hz)"
        )
    return w


def split_even(n: int, max_len: int | None, align: int = 1) -> list[tuple[int, int]]:
    """Split ``range(n)`` into the fewest near-equal consecutive pieces of at most ``max_len`` samples.

    Parameters
    ----------
    n : int
        Length of the window, samples.
    max_len : int or None
        Longest piece, samples; ``None`` or 0 means one piece.
    align : int
        Piece boundaries fall on multiples of ``align`` samples (a model's hop), so the frame grids of the
        pieces line up.

    Returns
    -------
    list of (start, stop)
        Half-open sample ranges that cover ``range(n)`` in order.
    """
    if not max_len or n <= max_len:
        return [(0, n)]
    align = max(1, int(align))
    units, max_units = math.ceil(n / align), max(1, max_len // align)
    k = math.ceil(units / max_units)
    edges = [min(n, round(i * units / k) * align) for i in range(k + 1)]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]


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
        """Number of layers (``len(layer_names)``)."""
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

    def provenance(self) -> dict[str, Any]:
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

    def load_kwargs(self) -> dict[str, Any]:
        """Keyword arguments that rebuild this encoder with ``get_encoder(name, **kwargs)`` (e.g. ``model_path``).

        Stored with the vectors so that queries are embedded by the same model as the index.
        """
        return {}

    def params(self) -> dict[str, Any]:
        """Encoder settings that change its output (FFT size, n_mels, dtype...). JSON-serialisable."""
        return {}

    def info(self) -> EncoderInfo:
        """Static facts about this encoder (name, rate, size, layers), as ``embedstore encoders`` shows them."""
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
    """What ``Encoder.info()`` reports: sample rate (Hz), vector size, layers, frames per second, provenance."""

    name: str
    sample_rate: int
    dim: int
    n_layers: int
    frame_rate: float
    model_id: str = ""
    kind: str = ""  # "handcrafted" | "transformers" | "wheel"
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Entry:
    """A registered encoder: its factory and the static facts listed without building it."""

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
) -> Callable[[_F], _F]:
    """Class/function decorator adding an encoder factory to the registry.

    Parameters
    ----------
    name : str
        Registry name (``get_encoder(name)``); a duplicate name raises :class:`ConfigError`.
    kind : str
        ``"handcrafted"``, ``"transformers"`` or ``"wheel"``.
    description, sample_rate, dim, n_layers, model_id
        Static facts shown by ``embedstore encoders`` without building the model (sample rate in Hz).

    Returns
    -------
    callable
        The decorator; it returns the factory unchanged.
    """

    def deco(factory: _F) -> _F:
        """Add ``factory`` to the registry under ``name`` and return it unchanged."""
        if name in _REGISTRY:
            raise ConfigError(f"encoder {name!r} is already registered")
        _REGISTRY[name] = _Entry(factory, kind, description, sample_rate, dim, n_layers, model_id)
        return factory

    return deco


def registered_encoders() -> dict[str, _Entry]:
    """The encoders registered so far (see :mod:`embedstore.encoders.catalog` for the built-in ones)."""
    return dict(_REGISTRY)
