"""How window vectors become one vector per recording.

The last window of a recording is zero-padded when the audio ends inside it; :func:`window_weights` gives the share
of real audio in each window, and ``mean`` pooling weighs windows by it so that a mostly-silent padded tail does not
pull the recording vector towards silence. The indexing pipeline and query embedding use the same two functions,
so a query file is pooled exactly as the stored recordings were.
"""

from __future__ import annotations

import numpy as np

from embedstore.errors import ConfigError
from embedstore.store.schema import POOLINGS


def window_weights(starts_s: np.ndarray, window_s: float, duration_s: float) -> np.ndarray:
    """Share of real (unpadded) audio in each window.

    Parameters
    ----------
    starts_s : np.ndarray
        (n_windows,) window starts, seconds.
    window_s : float
        Window length, seconds (> 0).
    duration_s : float
        Length of the audio the windows were cut from, seconds.

    Returns
    -------
    np.ndarray
        (n_windows,) float32 in [0, 1].
    """
    real = np.clip(duration_s - np.asarray(starts_s), 0.0, window_s)
    return (real / window_s).astype(np.float32)


def pool_windows(vectors: np.ndarray, weights: np.ndarray | None, pooling: str) -> np.ndarray:
    """Pool the window vectors of one recording, for every layer at once.

    Parameters
    ----------
    vectors : np.ndarray
        (n_layers, n_windows, dim) float32.
    weights : np.ndarray or None
        (n_windows,) share of real audio per window (:func:`window_weights`). ``mean`` pooling weighs windows by
        it; ``None`` (or all zeros) gives the plain mean. Ignored by ``max``.
    pooling : str
        ``"mean"`` or ``"max"`` (element-wise over windows).

    Returns
    -------
    np.ndarray
        (n_layers, dim) float32.

    Raises
    ------
    ConfigError
        For another ``pooling``.
    """
    if pooling == "mean":
        if weights is None or not np.any(weights > 0):
            return vectors.mean(axis=1)
        w = np.asarray(weights, dtype=np.float64)
        return (vectors * (w / w.sum())[None, :, None]).sum(axis=1).astype(np.float32)
    if pooling == "max":
        return vectors.max(axis=1)
    valid = ", ".join(repr(p) for p in POOLINGS)
    raise ConfigError(f"invalid pooling={pooling!r}; valid values: {valid}")
