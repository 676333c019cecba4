"""Kaldi-compatible log-mel filterbank in numpy (the input of AudioMAE; frame counts of AST).

``kaldi_fbank`` reproduces ``torchaudio.compliance.kaldi.fbank`` with the settings AST and AudioMAE were trained
with, so neither torchaudio nor a feature extractor is needed; ``audiomae_features`` adds AudioMAE's padding and
AudioSet normalisation.
"""

from __future__ import annotations

import numpy as np

#: AudioSet log-mel statistics used by AST and AudioMAE (input is ``(fbank - mean) / (2 * std)``).
AUDIOSET_MEAN = -4.2677393
AUDIOSET_STD = 4.5689974


def fbank_frames(n_samples: int, *, win: int = 400, hop: int = 160) -> int:
    """Frames of a Kaldi fbank (``snip_edges=True``) of ``n_samples`` samples: 0 when shorter than ``win``.

    Parameters
    ----------
    n_samples : int
    win, hop : int
        Window and hop, samples (25 ms / 10 ms at 16 kHz by default).

    Returns
    -------
    int
    """
    return 0 if n_samples < win else 1 + (n_samples - win) // hop


def kaldi_fbank(
    waveform: np.ndarray,
    *,
    sample_rate: int = 16000,
    n_mels: int = 128,
    frame_length_ms: float = 25.0,
    frame_shift_ms: float = 10.0,
    preemphasis: float = 0.97,
    low_freq: float = 20.0,
    high_freq: float = 0.0,
) -> np.ndarray:
    """Kaldi-compatible log mel filterbank (``torchaudio.compliance.kaldi.fbank`` defaults, ``htk_compat=True``,
    ``use_energy=False``, ``window_type="hanning"``, ``dither=0``), in numpy.

    Parameters
    ----------
    waveform : np.ndarray, shape (n_samples,), float in [-1, 1]

    Returns
    -------
    np.ndarray, shape (n_frames, n_mels), float32, with ``n_frames = 1 + (n_samples - win) // hop``
    (``snip_edges=True``; 0 frames when shorter than one window).
    """
    x = np.asarray(waveform, dtype=np.float64)
    win = int(round(sample_rate * frame_length_ms / 1000.0))
    hop = int(round(sample_rate * frame_shift_ms / 1000.0))
    n_frames = fbank_frames(len(x), win=win, hop=hop)
    if n_frames == 0:
        return np.zeros((0, n_mels), dtype=np.float32)
    idx = np.arange(win)[None, :] + hop * np.arange(n_frames)[:, None]
    frames = x[idx]
    frames = frames - frames.mean(axis=1, keepdims=True)  # remove DC offset
    prev = np.concatenate([frames[:, :1], frames[:, :-1]], axis=1)
    frames = frames - preemphasis * prev
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / (win - 1))  # "hanning" (symmetric)
    n_fft = 1 << (win - 1).bit_length()
    power = np.abs(np.fft.rfft(frames * window, n=n_fft, axis=1)) ** 2
    banks = _kaldi_mel_banks(n_mels, n_fft, sample_rate, low_freq, high_freq)
    mel = power @ banks.T
    return np.log(np.maximum(mel, np.finfo(np.float32).eps)).astype(np.float32)


def _kaldi_mel_banks(
    n_mels: int, n_fft: int, sample_rate: int, low_freq: float, high_freq: float
) -> np.ndarray:
    """Triangular filters, linear in Kaldi's mel scale (1127 ln(1 + f/700)); shape (n_mels, n_fft // 2 + 1)."""
    nyquist = 0.5 * sample_rate
    if high_freq <= 0.0:
        high_freq += nyquist
    mel = lambda f: 1127.0 * np.log(1.0 + np.asarray(f, dtype=np.float64) / 700.0)  # noqa: E731
    n_bins = n_fft // 2
    mel_low, mel_high = mel(low_freq), mel(high_freq)
    delta = (mel_high - mel_low) / (n_mels + 1)
    i = np.arange(n_mels)[:, None]
    left, center, right = mel_low + i * delta, mel_low + (i + 1) * delta, mel_low + (i + 2) * delta
    m = mel(sample_rate / n_fft * np.arange(n_bins))[None, :]
    up = (m - left) / (center - left)
    down = (right - m) / (right - center)
    banks = np.maximum(0.0, np.minimum(up, down))
    return np.pad(banks, ((0, 0), (0, 1)))  # no weight on the Nyquist bin


def audiomae_features(
    waveform: np.ndarray, *, n_frames: int = 1024, n_mels: int = 128, sample_rate: int = 16000
) -> np.ndarray:
    """AudioMAE input: mean-removed waveform -> Kaldi fbank -> zero-pad/cut to ``n_frames`` -> AudioSet norm.

    Returns
    -------
    np.ndarray, shape (n_frames, n_mels), float32: ``(fbank - mean) / (2 * std)``
    """
    x = np.asarray(waveform, dtype=np.float64)
    fb = kaldi_fbank(x - x.mean(), sample_rate=sample_rate, n_mels=n_mels)[:n_frames]
    if fb.shape[0] < n_frames:
        fb = np.pad(fb, ((0, n_frames - fb.shape[0]), (0, 0)))
    return ((fb - AUDIOSET_MEAN) / (2.0 * AUDIOSET_STD)).astype(np.float32)
