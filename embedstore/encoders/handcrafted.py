"""Handcrafted encoders: chroma, log-mel and MFCC features on one 50 frames/s grid.

Task: turn mono windows at 22,050 Hz into per-frame features (``frames``) and one statistics vector per window
(``embed``), deterministically and without learned weights. They are the baselines the neural encoders are
compared with, and their frames feed the frame-level probes, so every handcrafted encoder (and ``bssl``, see
:mod:`embedstore.encoders.bssl`) uses the same frame grid.

Conventions
-----------
- Sample rate 22,050 Hz, hop 441 samples: ``frame_rate`` = 50 frames/s.
- Frames are centred: frame ``i`` is centred on sample ``i * hop`` (time ``i / 50`` s); the signal is zero-padded
  by ``n_fft // 2`` on both sides. A window of ``n`` samples gives ``n // hop`` frames (10 s -> 500 frames).
- Power spectra use a periodic Hann window and are scaled so that the bins of a sinusoid of amplitude ``A`` sum
  to ``A**2``: a full-scale sine (peak 1.0) has total power 1.0 = 0 dB. Levels in dB below are relative to that
  (dB re full-scale sine).
- Silence gives finite output: chroma of a silent frame is all zeros, log-mel is floored at -100 dB.
- ``frames`` returns ``[1, n_windows, n_frames, frame_dim]`` float32 and ``embed`` ``[1, n_windows, dim]``
  float32 (one layer, ``"L0"``).

Encoders
--------
``chroma``
    STFT (n_fft 4096) -> ``librosa.filters.chroma`` (A4 = 440 Hz, no tuning estimation) -> 12 pitch-class
    energies. ``frames``: per-frame L2-normalised chroma (12-d; zeros for silent frames). ``embed``: mean and
    standard deviation over the window of CENS chroma (Mueller et al.: L1-normalise, quantise with thresholds
    0.05/0.1/0.2/0.4, smooth over ~0.5 s with a Hann window, L2-normalise), each 12-d half centred on its own
    mean (24-d). CENS discards dynamics and fine timbre; the centring removes the offset that all non-negative
    chroma profiles share, so cosine similarity behaves like a correlation of pitch-class profiles.
``logmel``
    STFT (n_fft 2048) -> 128 mel bands (Slaney mel scale, triangles peaking at 1, 27.5 Hz - 11,025 Hz) ->
    ``10 log10(max(power, 1e-10))`` dB. ``frames``: 128-d; ``embed``: mean + std over frames (256-d).
``mfcc``
    20 MFCCs (orthonormal DCT-II of the log-mel dB values, c0 included) and their deltas (Savitzky-Golay
    first derivative over 9 frames, per frame). ``frames``: 40-d; ``embed``: mean + std (80-d).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from embedstore.encoders.base import Encoder, EncoderInfo, register_encoder
from embedstore.errors import ConfigError, EncoderError

#: Sample rate of every handcrafted encoder, Hz.
SAMPLE_RATE = 22050
#: Hop in samples: 441 / 22050 = 20 ms, i.e. 50 frames/s.
HOP_LENGTH = 441
#: Frames per second of the shared frame grid.
FRAME_RATE = SAMPLE_RATE / HOP_LENGTH
#: Floor of the log-mel spectrogram (power 1e-10 re full-scale sine), dB.
LOG_FLOOR_DB = -100.0
# Rough cap on float32 elements of one STFT chunk (frames x n_fft), to bound memory on long batches.
_CHUNK_ELEMENTS = 1 << 23


def frame_count(n_samples: int, hop_length: int = HOP_LENGTH) -> int:
    """Number of frames of a window of ``n_samples`` samples: ``n_samples // hop_length``."""
    return int(n_samples) // int(hop_length)


def _check_windows(windows, *, sample_rate: int, min_window_s: float, name: str) -> np.ndarray:
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


def _l2_normalise(x: np.ndarray, *, floor: float) -> np.ndarray:
    norm = np.sqrt(np.sum(x * x, axis=-1, keepdims=True))
    return np.where(norm > floor, x / np.maximum(norm, floor), 0.0).astype(np.float32)


def _mean_std(f: np.ndarray) -> np.ndarray:
    """(layers, windows, frames, d) -> (layers, windows, 2d): mean then std over frames."""
    return np.concatenate([f.mean(axis=2), f.std(axis=2)], axis=-1).astype(np.float32)


class _Handcrafted(Encoder):
    """Shared bits: 22,050 Hz, 50 frames/s, one layer, input validation."""

    sample_rate = SAMPLE_RATE
    frame_rate = FRAME_RATE
    layer_names = ["L0"]
    min_window_s = 0.5
    hop_length = HOP_LENGTH

    def _windows(self, windows: Any) -> np.ndarray:
        return _check_windows(
            windows, sample_rate=self.sample_rate, min_window_s=self.min_window_s, name=self.name
        )

    def info(self) -> EncoderInfo:
        """Static facts, with ``kind="handcrafted"``, ``frame_dim`` and the parameters."""
        i = super().info()
        i.kind = "handcrafted"
        i.model_id = self.name
        i.extra = {"frame_dim": self.frame_dim, "params": self.params()}
        return i


@register_encoder(
    "chroma",
    kind="handcrafted",
    description="12-bin chroma (STFT 4096, 50 fps); embed = centred mean+std of CENS chroma (24-d)",
    sample_rate=SAMPLE_RATE,
    dim=24,
    n_layers=1,
)
class ChromaEncoder(_Handcrafted):
    """Chroma frames and CENS window statistics.

    Parameters
    ----------
    n_fft : int
        FFT size; 4096 (186 ms) resolves semitones down to about 90 Hz.
    smooth_s : float
        Length of the Hann window smoothing the quantised chroma before the CENS statistics, seconds.
    """

    name = "chroma"
    dim = 24
    frame_dim = 12
    #: CENS quantisation thresholds on L1-normalised chroma (Mueller, Kurth & Clausen 2005).
    cens_thresholds = (0.05, 0.1, 0.2, 0.4)
    #: Frames whose chroma energy (re full-scale sine) is below this are silent: zero chroma.
    silence_power = 1e-10

    def __init__(self, *, n_fft: int = 4096, smooth_s: float = 0.5) -> None:
        if n_fft < 256 or n_fft & (n_fft - 1):
            raise ConfigError(f"invalid n_fft={n_fft!r}; use a power of two >= 256")
        if not smooth_s >= 0:
            raise ConfigError(f"invalid smooth_s={smooth_s!r}; must be >= 0")
        self.n_fft = int(n_fft)
        self.smooth_s = float(smooth_s)
        # Odd number of frames, at least 1.
        self.smooth_frames = 2 * int(round(self.smooth_s * FRAME_RATE / 2)) + 1
        self._fb: np.ndarray | None = None

    def params(self) -> dict[str, Any]:
        """Settings that change the output (FFT, hop, window, CENS settings...)."""
        return {
            "n_fft": self.n_fft,
            "hop_length": self.hop_length,
            "window": "hann",
            "tuning": 0.0,
            "frames": "chroma, per-frame L2 norm",
            "embed": "CENS mean+std, each centred",
            "cens_thresholds": list(self.cens_thresholds),
            "smooth_frames": self.smooth_frames,
        }

    def _filterbank(self) -> np.ndarray:
        if self._fb is None:
            import librosa

            fb = librosa.filters.chroma(sr=self.sample_rate, n_fft=self.n_fft, n_chroma=12, tuning=0.0)
            self._fb = np.ascontiguousarray(fb.T.astype(np.float32))  # (n_bins, 12), C first
        return self._fb

    def chroma_energy(self, windows: np.ndarray) -> np.ndarray:
        """Un-normalised chroma energies, shape (n_windows, n_frames, 12), index 0 = C."""
        x = self._windows(windows)
        return power_spectrogram(x, n_fft=self.n_fft, hop_length=self.hop_length) @ self._filterbank()

    def frames(self, windows: np.ndarray) -> np.ndarray:
        """Per-frame L2-normalised chroma, shape (1, n_windows, n_frames, 12), float32 (zeros when silent)."""
        c = self.chroma_energy(windows)
        return _l2_normalise(c, floor=np.sqrt(self.silence_power))[None]

    def cens(self, chroma: np.ndarray) -> np.ndarray:
        """CENS features from chroma energies (n_windows, n_frames, 12) -> same shape, unit-norm or zero."""
        import scipy.ndimage
        import scipy.signal

        total = chroma.sum(axis=-1, keepdims=True)
        c = np.where(total > self.silence_power, chroma / np.maximum(total, self.silence_power), 0.0)
        q = np.zeros_like(c, dtype=np.float32)
        for t in self.cens_thresholds:
            q += c > t
        if self.smooth_frames > 1:
            w = scipy.signal.get_window("hann", self.smooth_frames + 2, fftbins=False)[1:-1]
            q = scipy.ndimage.convolve1d(q, (w / w.sum()).astype(np.float32), axis=1, mode="constant")
        return _l2_normalise(q, floor=1e-6)

    def embed(self, windows: np.ndarray) -> np.ndarray:
        """Centred mean and std of CENS chroma, shape (1, n_windows, 24), float32."""
        cens = self.cens(self.chroma_energy(windows))
        mean, std = cens.mean(axis=1), cens.std(axis=1)
        out = np.concatenate(
            [mean - mean.mean(axis=-1, keepdims=True), std - std.mean(axis=-1, keepdims=True)], axis=-1
        )
        return out[None].astype(np.float32)


@register_encoder(
    "logmel",
    kind="handcrafted",
    description="128-band log-mel power (dB, STFT 2048, 50 fps); embed = mean+std over frames (256-d)",
    sample_rate=SAMPLE_RATE,
    dim=256,
    n_layers=1,
)
class LogMelEncoder(_Handcrafted):
    """Log-mel spectrogram frames; embed = mean and standard deviation over frames.

    Parameters
    ----------
    n_mels : int
        Number of mel bands (64 or 128 are usual).
    n_fft : int
        FFT size.
    fmin, fmax : float
        Frequency range of the mel filterbank, Hz (``fmax=None``: Nyquist).
    """

    name = "logmel"

    def __init__(
        self, *, n_mels: int = 128, n_fft: int = 2048, fmin: float = 27.5, fmax: float | None = None
    ) -> None:
        if not 1 <= int(n_mels) <= 512:
            raise ConfigError(f"invalid n_mels={n_mels!r}; must be in 1..512")
        if n_fft < 256 or n_fft & (n_fft - 1):
            raise ConfigError(f"invalid n_fft={n_fft!r}; use a power of two >= 256")
        self.n_mels = int(n_mels)
        self.n_fft = int(n_fft)
        self.fmin = float(fmin)
        self.fmax = float(self.sample_rate / 2 if fmax is None else fmax)
        if not 0 <= self.fmin < self.fmax <= self.sample_rate / 2:
            raise ConfigError(f"invalid fmin={fmin!r}/fmax={fmax!r}; need 0 <= fmin < fmax <= Nyquist")
        self.frame_dim = self.n_mels
        self.dim = 2 * self.n_mels
        self._fb: np.ndarray | None = None

    def params(self) -> dict[str, Any]:
        """Settings that change the output (FFT, hop, window, CENS settings...)."""
        return {
            "n_fft": self.n_fft,
            "hop_length": self.hop_length,
            "window": "hann",
            "n_mels": self.n_mels,
            "fmin": self.fmin,
            "fmax": self.fmax,
            "mel_scale": "slaney",
            "mel_norm": None,
            "db_floor": LOG_FLOOR_DB,
            "embed": "mean+std",
        }

    def _filterbank(self) -> np.ndarray:
        if self._fb is None:
            import librosa

            fb = librosa.filters.mel(
                sr=self.sample_rate,
                n_fft=self.n_fft,
                n_mels=self.n_mels,
                fmin=self.fmin,
                fmax=self.fmax,
                htk=False,
                norm=None,
            )
            self._fb = np.ascontiguousarray(fb.T.astype(np.float32))  # (n_bins, n_mels)
        return self._fb

    def logmel(self, windows: np.ndarray) -> np.ndarray:
        """Log-mel power in dB re full-scale sine, shape (n_windows, n_frames, n_mels), floored at -100 dB."""
        x = self._windows(windows)
        mel = power_spectrogram(x, n_fft=self.n_fft, hop_length=self.hop_length) @ self._filterbank()
        return (10.0 * np.log10(np.maximum(mel, 10.0 ** (LOG_FLOOR_DB / 10.0)))).astype(np.float32)

    def frames(self, windows: np.ndarray) -> np.ndarray:
        """Log-mel frames, shape (1, n_windows, n_frames, n_mels), float32, dB re full-scale sine."""
        return self.logmel(windows)[None]

    def embed(self, windows: np.ndarray) -> np.ndarray:
        """Mean and std over frames of ``frames``, shape (1, n_windows, dim), float32."""
        return _mean_std(self.frames(windows))


@register_encoder(
    "mfcc",
    kind="handcrafted",
    description="20 MFCCs + deltas from the 128-band log-mel (50 fps); embed = mean+std (80-d)",
    sample_rate=SAMPLE_RATE,
    dim=80,
    n_layers=1,
)
class MFCCEncoder(LogMelEncoder):
    """MFCCs (c0..c19) and their deltas; embed = mean and standard deviation over frames.

    Parameters
    ----------
    n_mfcc : int
        Number of cepstral coefficients (c0 included).
    deltas : bool
        Append first-order deltas (9-frame Savitzky-Golay derivative).
    n_mels, n_fft, fmin, fmax
        As for :class:`LogMelEncoder`.
    """

    name = "mfcc"
    delta_width = 9

    def __init__(
        self,
        *,
        n_mfcc: int = 20,
        deltas: bool = True,
        n_mels: int = 128,
        n_fft: int = 2048,
        fmin: float = 27.5,
        fmax: float | None = None,
    ) -> None:
        super().__init__(n_mels=n_mels, n_fft=n_fft, fmin=fmin, fmax=fmax)
        if not 1 <= int(n_mfcc) <= self.n_mels:
            raise ConfigError(f"invalid n_mfcc={n_mfcc!r}; must be in 1..n_mels ({self.n_mels})")
        self.n_mfcc = int(n_mfcc)
        self.deltas = bool(deltas)
        self.frame_dim = self.n_mfcc * (2 if self.deltas else 1)
        self.dim = 2 * self.frame_dim

    def params(self) -> dict[str, Any]:
        """Log-mel settings plus the MFCC and delta settings."""
        p = super().params()
        p.update(
            {
                "n_mfcc": self.n_mfcc,
                "dct": "type-2 ortho",
                "deltas": self.deltas,
                "delta_width": self.delta_width if self.deltas else None,
            }
        )
        return p

    def frames(self, windows: np.ndarray) -> np.ndarray:
        """MFCCs (and deltas), shape (1, n_windows, n_frames, frame_dim), float32."""
        import scipy.fft
        import scipy.signal

        mfcc = scipy.fft.dct(self.logmel(windows), type=2, norm="ortho", axis=-1)[..., : self.n_mfcc]
        feats = [mfcc]
        if self.deltas:
            feats.append(
                scipy.signal.savgol_filter(
                    mfcc, self.delta_width, polyorder=1, deriv=1, axis=1, mode="nearest"
                )
            )
        return np.concatenate(feats, axis=-1).astype(np.float32)[None]
