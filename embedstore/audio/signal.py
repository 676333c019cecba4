"""Decoded signals: the :class:`Audio` container, level, mixdown and resampling.

Units: samples are ``float32`` in ``[-1, 1]`` (full scale); sample rates are Hz (``int``); levels are dBFS RMS
(a full-scale sine is -3 dBFS, digital silence is ``-inf``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from embedstore.errors import ConfigError

__all__ = ["Audio", "rms_db", "to_mono", "resample"]


@dataclass
class Audio:
    """A decoded mono recording.

    Attributes
    ----------
    samples : np.ndarray, shape (n,), float32
        Full-scale samples in ``[-1, 1]``.
    sample_rate : int
        Hz.
    path : str or None
        The file it was read from, if any.
    """

    samples: np.ndarray
    sample_rate: int
    path: str | None = None

    @property
    def duration_s(self) -> float:
        """Length in seconds (``len(samples) / sample_rate``)."""
        return len(self.samples) / float(self.sample_rate)

    @property
    def n_samples(self) -> int:
        """Number of samples."""
        return int(len(self.samples))


def rms_db(samples: ArrayLike) -> float:
    """Root-mean-square level in dBFS.

    Parameters
    ----------
    samples : array-like, shape (n,) or (n, channels)

    Returns
    -------
    float
        ``10 log10(mean(x^2))``; ``-inf`` for digital silence or an empty signal, NaN when a sample is not
        finite.
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.size == 0:
        return float("-inf")
    ms = float(np.mean(np.square(x)))
    if not np.isfinite(ms):
        return float("nan")
    if ms <= 0.0:
        return float("-inf")
    return 10.0 * math.log10(ms)


def to_mono(samples: ArrayLike) -> np.ndarray:
    """Mix down to mono (the mean of the channels).

    Parameters
    ----------
    samples : array-like, shape (n,) or (n, channels)

    Returns
    -------
    np.ndarray, shape (n,), float32

    Raises
    ------
    ConfigError
        For any other number of dimensions.
    """
    x = np.asarray(samples)
    if x.ndim == 1:
        return x.astype(np.float32, copy=False)
    if x.ndim != 2:
        raise ConfigError(f"expected samples of shape (n,) or (n, channels), got shape {x.shape}")
    if x.shape[1] == 1:
        return np.ascontiguousarray(x[:, 0], dtype=np.float32)
    return x.mean(axis=1, dtype=np.float64).astype(np.float32)


def resample(samples: ArrayLike, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample with soxr (``'HQ'`` quality).

    Parameters
    ----------
    samples : array-like, shape (n,) or (n, channels)
    sr_in, sr_out : int
        Sample rates in Hz (> 0).

    Returns
    -------
    np.ndarray, shape (round(n * sr_out / sr_in),) or (that, channels), float32
        The input itself when the rates are equal.

    Raises
    ------
    ConfigError
        For a rate that is not positive.
    """
    if int(sr_in) <= 0 or int(sr_out) <= 0:
        raise ConfigError(f"sample rates must be positive, got sr_in={sr_in}, sr_out={sr_out}")
    x = np.asarray(samples, dtype=np.float32)
    if int(sr_in) == int(sr_out) or x.shape[0] == 0:
        if int(sr_in) != int(sr_out):
            return np.zeros((0,) + x.shape[1:], dtype=np.float32)
        return x
    import soxr

    y = soxr.resample(np.ascontiguousarray(x), int(sr_in), int(sr_out), quality="HQ")
    return np.asarray(y, dtype=np.float32)
