"""Cut a signal into fixed-length, possibly overlapping analysis windows.

Units: times are seconds (``float``), sample rates Hz (``int``); windows are rounded to whole samples and start at
exact multiples of the hop (no accumulated drift).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from embedstore.errors import ConfigError

__all__ = ["frame_windows"]


def frame_windows(
    samples: ArrayLike,
    sample_rate: int,
    *,
    window_s: float,
    hop_s: float,
    start_s: float = 0.0,
    end_s: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Cut a passage of a signal into (possibly overlapping) fixed-length windows.

    Windows start every ``hop_s`` from ``start_s``. Full windows are kept; after the last full window, one
    partial window is kept, zero-padded, if it holds at least half a window of audio. A passage shorter
    than one window gives exactly one zero-padded window; an empty passage gives none.

    Parameters
    ----------
    samples : array-like, shape (n,)
    sample_rate : int
        Hz.
    window_s, hop_s : float
        Window length and hop, seconds (> 0). Rounded to whole samples.
    start_s, end_s : float
        The passage to window, seconds; ``end_s=None`` means the end of the signal. Audio after ``end_s``
        is never included (padding is zeros).

    Returns
    -------
    windows : np.ndarray, shape (n_windows, round(window_s * sample_rate)), float32
    starts_s : np.ndarray, shape (n_windows,), float64
        Start time of each window in the signal, seconds: its first sample index / ``sample_rate``.

    Raises
    ------
    ConfigError
        For samples that are not 1-d or an invalid rate, window, hop or passage.
    """
    x = np.asarray(samples)
    if x.ndim != 1:
        raise ConfigError(f"frame_windows expects mono samples of shape (n,), got shape {x.shape}")
    if sample_rate is None or int(sample_rate) <= 0:
        raise ConfigError(f"sample_rate must be positive, got {sample_rate!r}")
    if not (window_s and window_s > 0 and np.isfinite(window_s)):
        raise ConfigError(f"window_s must be positive, got {window_s!r}")
    if not (hop_s and hop_s > 0 and np.isfinite(hop_s)):
        raise ConfigError(f"hop_s must be positive, got {hop_s!r}")
    if start_s is None:
        start_s = 0.0
    if start_s < 0:
        raise ConfigError(f"start_s must be >= 0, got {start_s!r}")
    if end_s is not None and end_s <= start_s:
        raise ConfigError(f"end_s must be greater than start_s, got start_s={start_s!r}, end_s={end_s!r}")
    sr = int(sample_rate)
    win = max(1, int(round(window_s * sr)))
    n = x.shape[0]
    a = min(n, int(round(start_s * sr)))
    b = n if end_s is None else min(n, int(round(end_s * sr)))
    b = max(a, b)
    length = b - a
    if length == 0:
        return np.zeros((0, win), dtype=np.float32), np.zeros(0, dtype=np.float64)

    # relative start samples, rounded from exact multiples of hop_s (no accumulated drift)
    n_full = 0 if length < win else int(math.floor((length - win) / (hop_s * sr) + 1e-9)) + 1
    rel = [int(round(i * hop_s * sr)) for i in range(n_full)]
    while rel and rel[-1] + win > length:  # rounding at the edge
        rel.pop()
    n_full = len(rel)
    nxt = int(round(n_full * hop_s * sr))
    if n_full == 0:
        rel.append(0)  # shorter than one window: exactly one padded window
    elif nxt < length and length - nxt >= win / 2.0:
        rel.append(nxt)

    out = np.zeros((len(rel), win), dtype=np.float32)
    for i, r in enumerate(rel):
        seg = x[a + r : min(b, a + r + win)]
        out[i, : seg.shape[0]] = seg
    starts = (a + np.asarray(rel, dtype=np.float64)) / float(sr)
    return out, starts
