"""The frame grid every handcrafted encoder shares, and its short-time power spectrum.

22,050 Hz, hop 441 samples = 50 frames/s; frame ``i`` is centred on sample ``i * hop`` (zero padding by
``n_fft // 2`` at both ends), so a window of ``n`` samples has ``n // hop`` frames. Used by
:mod:`embedstore.encoders.handcrafted`, :mod:`embedstore.encoders.bssl` and the alignment features.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from embedstore.errors import ConfigError, EncoderError

#: Sample rate of every handcrafted encoder, Hz.
SAMPLE_RATE = 22050
#: Hop in samples: 441 / 22050 = 20 ms, i.e. 50 frames/s.
HOP_LENGTH = 441
#: Frames per second of the shared frame grid.
FRAME_RATE = SAMPLE_RATE / HOP_LENGTH
# Rough cap on float32 elements of one STFT chunk (frames x n_fft), to bound memory on long batches.
_CHUNK_ELEMENTS = 1 << 23


def frame_count(n_samples: int, hop_length: int = HOP_LENGTH) -> int:
    """Number of frames of a window of ``n_samples`` samples: ``n_samples // hop_length``."""
    return int(n_samples) // int(hop_length)


def _check_windows(windows: Any, *, sample_rate: int, min_window_s: float, name: str) -> np.ndarray:
    """Validate ``windows`` (n_windows, n_samples) and return them as float32."""
    x = np.asarray(windows)
    if x.ndim != 2:
        raise EncoderError(
            f"{name}: windows must have shape (n_windows, n_samples), got {x.shape}",
            hint="pass a 2-D array; use x[None, :] for a single window",
        )
    if x.shape[1] < round(min_window_s * sample_rate):
        raise EncoderError(
            f"{name}: windows of {x.shape[1]} samples are shorter than min_window_s={min_window_s} s "
            f"at {sample_rate} Hz",
            hint="use longer windows",
        )
    x = x.astype(np.float32, copy=False)
    if not np.all(np.isfinite(x)):
        raise EncoderError(f"{name}: windows contain NaN or infinite samples")
    return x


def power_spectrogram(windows: np.ndarray, *, n_fft: int, hop_length: int = HOP_LENGTH) -> np.ndarray:
    """Centred short-time power spectrum of a batch of windows.

    Parameters
    ----------
    windows : np.ndarray, shape (n_windows, n_samples)
    n_fft : int
        FFT size (periodic Hann window of the same length).
    hop_length : int
        Hop in samples.

    Returns
    -------
    np.ndarray, shape (n_windows, n_samples // hop_length, n_fft // 2 + 1), float32
        Power per bin, scaled so that a sinusoid of amplitude ``A`` sums to ``A**2`` over its bins. Frame ``i``
        is centred on sample ``i * hop_length`` (zero padding at both ends).
    """
    import scipy.fft
    import scipy.signal

    x = np.asarray(windows, dtype=np.float32)
    if x.ndim != 2:
        raise ConfigError(f"windows must have shape (n_windows, n_samples), got {x.shape}")
    n_win, n = x.shape
    n_frames = frame_count(n, hop_length)
    n_bins = n_fft // 2 + 1
    out = np.empty((n_win, n_frames, n_bins), dtype=np.float32)
    if n_win == 0 or n_frames == 0:
        return out
    win = scipy.signal.get_window("hann", n_fft, fftbins=True).astype(np.float32)
    scale = np.float32(4.0 / (n_fft * float(np.sum(win.astype(np.float64) ** 2))))
    pad = n_fft // 2
    padded = np.pad(x, ((0, 0), (pad, pad)))
    # (n_win, n_frames, n_fft) strided view, no copy.
    view = np.lib.stride_tricks.sliding_window_view(padded, n_fft, axis=1)[:, ::hop_length][:, :n_frames]
    per_chunk = max(1, _CHUNK_ELEMENTS // (n_frames * n_fft))
    for b0 in range(0, n_win, per_chunk):
        seg = view[b0 : b0 + per_chunk] * win
        spec = scipy.fft.rfft(seg, axis=-1)
        out[b0 : b0 + per_chunk] = (spec.real**2 + spec.imag**2) * scale
    return out
