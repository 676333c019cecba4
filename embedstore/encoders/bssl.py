"""Bark-scale specific loudness (BSSL): a perceptual loudness representation per critical band.

Task: per-frame loudness in each Bark critical band, the input representation of the 2025 multi-task piano
dynamics work, and the ``bssl`` encoder built on it. Implemented from the published description of the
MA-toolbox-style loudness model (Pampalk's ``ma_sone``), not from its code.

Pipeline and units
------------------
1. **Power spectrum.** 22,050 Hz, FFT 1024 (periodic Hann), hop 441 samples = 50 frames/s, centred frames
   (frame ``i`` centred on sample ``i * 441``; ``n_samples // 441`` frames). Bin powers are scaled so that a
   sinusoid of amplitude ``A`` sums to ``A**2`` over its bins.
2. **dB SPL.** Reference: a full-scale sine (peak 1.0) is 96 dB SPL (the 16-bit convention of the MA toolbox:
   2**16 ~ 96 dB). So level = ``96 + 10 log10(power)``; a sine at -20 dBFS peak reads 76 dB SPL in its band.
3. **Outer/middle-ear weighting** (Terhardt 1979), in dB, ``f`` in kHz::

       A(f) = -3.64 f**-0.8 + 6.5 exp(-0.6 (f - 3.3)**2) - 1e-3 f**4

   added to every bin's level (the DC bin is dropped). About -3.4 dB at 1 kHz, +3.6 dB near 3.3 kHz.
4. **Critical bands.** Bin powers are summed into the Bark bands of Zwicker & Fastl (upper edges 100, 200, 300,
   400, 510, 630, 770, 920, 1080, 1270, 1480, 1720, 2000, 2320, 2700, 3150, 3700, 4400, 5300, 6400, 7700, 9500,
   12000, 15500 Hz), keeping the bands that start below Nyquist: 23 bands at 22,050 Hz, the last one
   9,500-11,025 Hz. A 1 kHz tone lands in band index 8 (920-1080 Hz).
5. **Spectral spreading** (Schroeder, Atal & Hall 1979): band powers are convolved (in power) with
   ``10 log10 S(dz) = 15.81 + 7.5 (dz + 0.474) - 17.5 sqrt(1 + (dz + 0.474)**2)`` dB, ``dz`` = maskee band -
   masker band in Bark (-10 dB/Bark upwards, +25 dB/Bark downwards, ~0 dB at ``dz = 0``).
6. **dB -> phon.** The spread band level in dB SPL, floored at 0 dB, is taken as the loudness level in phon
   (the outer-ear weighting has already applied the frequency dependence of the equal-loudness contours).
7. **phon -> sone** (Bladon & Lindblom 1981): ``sone = 2**((phon - 40) / 10)`` for phon >= 40, else
   ``(phon / 40)**2.642``. 40 phon = 1 sone; +10 phon doubles the loudness above 40 phon. Silence is 0 sone.

Specific loudness is in sone per Bark band. :func:`total_loudness` combines bands with Stevens' method
(``0.85 max + 0.15 sum``, in sone) or a plain sum.

The ``bssl`` encoder: ``frames`` = specific loudness ``[1, n_windows, n_frames, 23]`` (sone); ``embed`` = mean
(23) and standard deviation (23) of the specific loudness, then the mean, standard deviation and 5th, 25th,
50th, 75th and 95th percentiles of the total loudness (Stevens, sone): 53-d.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from embedstore.encoders.base import register_encoder
from embedstore.encoders.handcrafted import (
    FRAME_RATE,
    HOP_LENGTH,
    SAMPLE_RATE,
    _Handcrafted,
    power_spectrogram,
)
from embedstore.errors import ConfigError, check_choice

#: Level (dB SPL) of a full-scale sine (peak 1.0).
FULL_SCALE_DB = 96.0
#: Upper edges of the Bark critical bands, Hz (Zwicker & Fastl, Psychoacoustics).
# fmt: off
BARK_UPPER_HZ = (100, 200, 300, 400, 510, 630, 770, 920, 1080, 1270, 1480, 1720, 2000, 2320, 2700, 3150,
                 3700, 4400, 5300, 6400, 7700, 9500, 12000, 15500)
# fmt: on
#: Masking factor of Stevens' total-loudness method.
STEVENS_F = 0.15
#: FFT size of the loudness model.
N_FFT = 1024
#: Percentiles of the total loudness in the ``bssl`` embedding.
TOTAL_PERCENTILES = (5, 25, 50, 75, 95)


def bark_bands(sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Edges of the Bark bands that start below Nyquist.

    Returns
    -------
    np.ndarray, shape (n_bands, 2)
        ``[lower, upper]`` in Hz; the last upper edge is clipped to Nyquist (23 bands at 22,050 Hz).
    """
    nyq = sample_rate / 2.0
    upper = np.asarray(BARK_UPPER_HZ, dtype=np.float64)
    lower = np.concatenate([[0.0], upper[:-1]])
    keep = lower < nyq
    return np.stack([lower[keep], np.minimum(upper[keep], nyq)], axis=1)


def terhardt_weighting_db(freqs_hz: ArrayLike) -> np.ndarray:
    """Terhardt's outer/middle-ear transfer function in dB at ``freqs_hz`` (-inf at 0 Hz)."""
    f = np.asarray(freqs_hz, dtype=np.float64) / 1000.0
    with np.errstate(divide="ignore"):
        a = -3.64 * np.power(f, -0.8) + 6.5 * np.exp(-0.6 * (f - 3.3) ** 2) - 1e-3 * f**4
    return np.where(f > 0, a, -np.inf)


def schroeder_spreading(n_bands: int) -> np.ndarray:
    """Spreading matrix (linear power), ``S[i, j]`` = gain from masker band ``j`` to band ``i``.

    Returns
    -------
    np.ndarray, shape (n_bands, n_bands)
    """
    z = np.arange(n_bands, dtype=np.float64)
    dz = z[:, None] - z[None, :] + 0.474
    return 10.0 ** ((15.81 + 7.5 * dz - 17.5 * np.sqrt(1.0 + dz**2)) / 10.0)


def phon_to_sone(phon: ArrayLike) -> np.ndarray:
    """Loudness level (phon, >= 0) to loudness (sone): ``2**((p-40)/10)`` above 40 phon, ``(p/40)**2.642`` below."""
    p = np.maximum(np.asarray(phon, dtype=np.float64), 0.0)
    return np.where(p >= 40.0, 2.0 ** ((p - 40.0) / 10.0), (p / 40.0) ** 2.642)


def _band_matrix(sample_rate: int, n_fft: int) -> np.ndarray:
    """(n_bins, n_bands) matrix summing outer-ear-weighted bin powers into Bark bands."""
    freqs = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    weight = 10.0 ** (terhardt_weighting_db(freqs) / 10.0)  # 0 at DC
    bands = bark_bands(sample_rate)
    m = np.zeros((len(freqs), len(bands)))
    for b, (lo, hi) in enumerate(bands):
        sel = (freqs > lo) & (freqs <= hi) if b else (freqs <= hi)
        m[sel, b] = weight[sel]
    return m


def bark_specific_loudness(
    samples: ArrayLike,
    sample_rate: int = SAMPLE_RATE,
    *,
    n_fft: int = N_FFT,
    hop_length: int | None = None,
    spread: bool = True,
) -> np.ndarray:
    """Bark-scale specific loudness of a mono signal (or a batch of windows).

    Parameters
    ----------
    samples : np.ndarray, shape (n_samples,) or (n_windows, n_samples)
        Audio in [-1, 1] (full scale = 1.0 = 96 dB SPL for a sine).
    sample_rate : int
        Hz. 22,050 Hz is the convention of the ``bssl`` encoder.
    n_fft : int
        FFT size.
    hop_length : int, optional
        Hop in samples; default ``round(sample_rate / 50)`` (441 at 22,050 Hz: 50 frames/s).
    spread : bool
        Apply Schroeder's spreading function.

    Returns
    -------
    np.ndarray, shape (n_frames, n_bands) or (n_windows, n_frames, n_bands), float32
        Specific loudness in sone; ``n_frames = n_samples // hop_length``, ``n_bands`` = 23 at 22,050 Hz.
    """
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim not in (1, 2):
        raise ConfigError(f"samples must have shape (n_samples,) or (n_windows, n_samples), got {x.shape}")
    if int(sample_rate) <= 0:
        raise ConfigError(f"invalid sample_rate={sample_rate!r}")
    hop = int(round(sample_rate / FRAME_RATE)) if hop_length is None else int(hop_length)
    if hop <= 0:
        raise ConfigError(f"invalid hop_length={hop_length!r}")
    batch = x if x.ndim == 2 else x[None]
    power = power_spectrogram(batch, n_fft=n_fft, hop_length=hop)  # (B, F, bins), full-scale sine = 1
    bands = power.astype(np.float64) @ _band_matrix(int(sample_rate), n_fft)  # (B, F, n_bands)
    bands *= 10.0 ** (FULL_SCALE_DB / 10.0)  # power re 0 dB SPL
    if spread:
        bands = bands @ schroeder_spreading(bands.shape[-1]).T
    phon = 10.0 * np.log10(np.maximum(bands, 1.0))  # dB SPL floored at 0 dB, taken as phon
    sone = phon_to_sone(phon).astype(np.float32)
    return sone if x.ndim == 2 else sone[0]


def total_loudness(spec: ArrayLike, *, method: Literal["stevens", "sum"] = "stevens") -> np.ndarray:
    """Total loudness per frame from specific loudness.

    Parameters
    ----------
    spec : np.ndarray, shape (..., n_frames, n_bands)
        Specific loudness in sone (:func:`bark_specific_loudness`).
    method : {"stevens", "sum"}
        ``"stevens"``: ``0.85 max + 0.15 sum`` over bands (Stevens' method, masking factor 0.15);
        ``"sum"``: plain sum over bands.

    Returns
    -------
    np.ndarray, shape (..., n_frames), float32, sone
    """
    check_choice("method", method, ("stevens", "sum"))
    s = np.asarray(spec, dtype=np.float32)
    if s.ndim < 1:
        raise ConfigError("spec must have a band axis")
    if method == "sum":
        return s.sum(axis=-1).astype(np.float32)
    return ((1.0 - STEVENS_F) * s.max(axis=-1) + STEVENS_F * s.sum(axis=-1)).astype(np.float32)


@register_encoder(
    "bssl",
    kind="handcrafted",
    description="Bark-scale specific loudness (23 bands, sone, 50 fps); embed = mean+std + total-loudness stats (53-d)",
    sample_rate=SAMPLE_RATE,
    dim=2 * len(bark_bands(SAMPLE_RATE)) + 2 + len(TOTAL_PERCENTILES),
    n_layers=1,
)
class BSSLEncoder(_Handcrafted):
    """Bark-scale specific loudness frames; embed = band mean/std and total-loudness statistics."""

    name = "bssl"

    def __init__(self, *, spread: bool = True) -> None:
        self.spread = bool(spread)
        self.n_bands = len(bark_bands(self.sample_rate))
        self.frame_dim = self.n_bands
        self.dim = 2 * self.n_bands + 2 + len(TOTAL_PERCENTILES)

    def params(self) -> dict[str, Any]:
        """Settings that change the output (FFT, bands, loudness model)."""
        return {
            "n_fft": N_FFT,
            "hop_length": HOP_LENGTH,
            "window": "hann",
            "n_bands": self.n_bands,
            "full_scale_db_spl": FULL_SCALE_DB,
            "outer_ear": "terhardt",
            "spreading": "schroeder" if self.spread else None,
            "phon_to_sone": "2^((p-40)/10) | (p/40)^2.642",
            "total_loudness": "stevens 0.15",
            "embed": "band mean+std, total mean, std, percentiles " + ",".join(map(str, TOTAL_PERCENTILES)),
        }

    def frames(self, windows: np.ndarray) -> np.ndarray:
        """Specific loudness, shape (1, n_windows, n_frames, n_bands), float32, sone, 50 frames/s."""
        x = self._windows(windows)
        return bark_specific_loudness(
            x, self.sample_rate, n_fft=N_FFT, hop_length=self.hop_length, spread=self.spread
        )[None]

    def embed(self, windows: np.ndarray) -> np.ndarray:
        """Band mean+std and total-loudness statistics, shape (1, n_windows, dim), float32."""
        spec = self.frames(windows)[0]  # (B, F, n_bands)
        tot = total_loudness(spec)  # (B, F)
        stats = [
            spec.mean(axis=1),
            spec.std(axis=1),
            tot.mean(axis=1, keepdims=True),
            tot.std(axis=1, keepdims=True),
            np.percentile(tot, TOTAL_PERCENTILES, axis=1).T,
        ]
        return np.concatenate(stats, axis=-1).astype(np.float32)[None]
