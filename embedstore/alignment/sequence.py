"""Frame sequences for alignment: the :class:`FrameFeatures` container, chroma normalisation and CENS.

Conventions are those of :mod:`embedstore.alignment.features` (which computes them): ``chroma`` holds
CENS-quantised chroma at the full 50 frames/s and CENS vectors after :meth:`FrameFeatures.downsample`;
:meth:`FrameFeatures.compact` is the form stored per recording (14 float16 columns at :data:`STORED_RATE`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import DTypeLike

from embedstore.errors import ConfigError

__all__ = [
    "SAMPLE_RATE",
    "HOP_LENGTH",
    "FRAME_RATE",
    "STORED_RATE",
    "FrameFeatures",
    "normalise_chroma",
    "cens",
]

#: Analysis sample rate, Hz.
SAMPLE_RATE = 22050
#: Hop between frames, samples (20 ms).
HOP_LENGTH = 441
#: Frames per second of :func:`embedstore.alignment.features.compute_features`.
FRAME_RATE = SAMPLE_RATE / HOP_LENGTH
#: Frames per second of the compact sequences stored per recording (:meth:`FrameFeatures.compact`).
STORED_RATE = 10.0


@dataclass
class FrameFeatures:
    """Frame-level features of one recording (see the module docstring for each field).

    Attributes
    ----------
    chroma : np.ndarray, shape (n, 12), float32
        CENS-quantised chroma (0-4) at full rate; at a reduced rate (after :meth:`downsample`), CENS vectors.
    onsets : np.ndarray or None, shape (n, 12), float32
        Chroma onset features; ``None`` after downsampling.
    strength : np.ndarray, shape (n,), float32
        Onset strength.
    loudness : np.ndarray, shape (n,), float32
        Total loudness, sone.
    frame_rate : float
        Frames per second.
    provenance : dict
        How the features were computed (rates, thresholds), stored with them.
    """

    chroma: np.ndarray
    onsets: np.ndarray | None
    strength: np.ndarray
    loudness: np.ndarray
    frame_rate: float
    provenance: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.chroma)
        if self.chroma.ndim != 2 or self.chroma.shape[1] != 12:
            raise ConfigError(f"chroma must have shape (n, 12), got {self.chroma.shape}")
        for name in ("strength", "loudness"):
            if getattr(self, name).shape != (n,):
                raise ConfigError(f"{name} must have shape ({n},), got {getattr(self, name).shape}")
        if self.onsets is not None and self.onsets.shape != (n, 12):
            raise ConfigError(f"onsets must have shape ({n}, 12), got {self.onsets.shape}")
        if not self.frame_rate > 0:
            raise ConfigError(f"frame_rate must be positive, got {self.frame_rate!r}")

    def __len__(self) -> int:
        return len(self.chroma)

    @property
    def duration_s(self) -> float:
        """Length covered by the frames, seconds."""
        return len(self) / self.frame_rate

    def times(self) -> np.ndarray:
        """Frame centre times, seconds, shape (n,)."""
        return np.arange(len(self)) / self.frame_rate

    def slice(self, start_s: float, end_s: float) -> FrameFeatures:
        """The frames whose centres lie in ``[start_s, end_s)``; times restart at 0."""
        a = max(0, int(np.ceil(start_s * self.frame_rate - 1e-9)))
        b = min(len(self), max(a, int(np.ceil(end_s * self.frame_rate - 1e-9))))
        return FrameFeatures(
            chroma=self.chroma[a:b],
            onsets=None if self.onsets is None else self.onsets[a:b],
            strength=self.strength[a:b],
            loudness=self.loudness[a:b],
            frame_rate=self.frame_rate,
            provenance=dict(self.provenance, offset_s=a / self.frame_rate),
        )

    def downsample(self, factor: int, *, smooth: int | None = None) -> FrameFeatures:
        """Reduce the frame rate by an integer factor.

        Chroma becomes CENS (:func:`cens` with a Hann window of ``smooth`` frames, default ``4 * factor + 1``),
        onset strength the maximum and loudness the mean over each block of ``factor`` frames. Onset features
        are dropped.
        """
        f = int(factor)
        if f < 1:
            raise ConfigError(f"factor must be a positive integer, got {factor!r}")
        if f == 1:
            return self
        w = 4 * f + 1 if smooth is None else int(smooth)
        n_out = int(np.ceil(len(self) / f))
        pad = n_out * f - len(self)
        st = np.pad(self.strength, (0, pad)).reshape(n_out, f).max(axis=1)
        ld = np.pad(self.loudness, (0, pad), mode="edge" if len(self) else "constant")
        ld = ld.reshape(n_out, f).mean(axis=1)
        return FrameFeatures(
            chroma=cens(self.chroma, smooth=w, down=f),
            onsets=None,
            strength=st.astype(np.float32),
            loudness=ld.astype(np.float32),
            frame_rate=self.frame_rate / f,
            provenance=dict(self.provenance, frame_rate=self.frame_rate / f, cens_smooth=w, downsample=f),
        )

    def compact(self, rate: float = STORED_RATE, *, dtype: DTypeLike = np.float16) -> np.ndarray:
        """The compact sequence stored per recording: CENS chroma, onset strength and loudness.

        Parameters
        ----------
        rate : float
            Target frame rate; ``frame_rate / rate`` must be an integer.
        dtype : numpy dtype
            Storage type (float16: 28 bytes per frame, about 1.0 MB per hour at 10 frames/s).

        Returns
        -------
        np.ndarray, shape (n_frames, 14)
            Columns 0-11 CENS chroma (unit norm), 12 onset strength, 13 loudness (sone).
        """
        f = self.frame_rate / float(rate)
        if abs(f - round(f)) > 1e-6 or round(f) < 1:
            raise ConfigError(f"rate {rate!r} must divide the frame rate {self.frame_rate:g}")
        d = self.downsample(int(round(f))) if round(f) > 1 else self
        chroma = d.chroma if round(f) > 1 else normalise_chroma(d.chroma)
        return np.column_stack([chroma, d.strength, d.loudness]).astype(dtype)

    @classmethod
    def from_compact(
        cls, array: np.ndarray, frame_rate: float, provenance: dict | None = None
    ) -> FrameFeatures:
        """Rebuild features (without onset features) from :meth:`compact` output."""
        a = np.asarray(array, dtype=np.float32)
        if a.ndim != 2 or a.shape[1] != 14:
            raise ConfigError(f"a compact frame sequence has shape (n, 14), got {a.shape}")
        return cls(
            chroma=a[:, :12].copy(),
            onsets=None,
            strength=a[:, 12].copy(),
            loudness=a[:, 13].copy(),
            frame_rate=float(frame_rate),
            provenance=dict(provenance or {}),
        )


def normalise_chroma(chroma: np.ndarray, *, floor: float = 1e-3) -> np.ndarray:
    """L2-normalise chroma rows; rows with a norm below ``floor`` become the uniform unit vector.

    The uniform vector makes silence match silence under a cosine cost (Sync Toolbox convention).

    Parameters
    ----------
    chroma : np.ndarray, shape (n, 12)

    Returns
    -------
    np.ndarray, shape (n, 12), float32, every row of unit norm
    """
    c = np.asarray(chroma, dtype=np.float32)
    norm = np.linalg.norm(c, axis=1, keepdims=True)
    uniform = np.full((1, c.shape[1]), 1.0 / np.sqrt(c.shape[1]), dtype=np.float32)
    return np.where(norm >= floor, c / np.maximum(norm, floor), uniform).astype(np.float32)


def cens(chroma_q: np.ndarray, *, smooth: int, down: int) -> np.ndarray:
    """CENS features: Hann-smoothed, downsampled and L2-normalised quantised chroma.

    Parameters
    ----------
    chroma_q : np.ndarray, shape (n, 12)
        Quantised chroma (:attr:`FrameFeatures.chroma` at full rate).
    smooth : int
        Hann window length, frames (1 = no smoothing).
    down : int
        Keep every ``down``-th frame (frame ``k`` of the output is centred on input frame ``k * down``).

    Returns
    -------
    np.ndarray, shape (ceil(n / down), 12), float32, unit rows (silence: the uniform vector)
    """
    import scipy.ndimage  # lazy: 0.5 s at import, only some paths need it

    q = np.asarray(chroma_q, dtype=np.float32)
    if smooth > 1 and len(q):
        w = np.hanning(int(smooth) + 2)[1:-1].astype(np.float32)
        q = scipy.ndimage.convolve1d(q, w / w.sum(), axis=0, mode="constant")
    return normalise_chroma(q[:: max(1, int(down))])
