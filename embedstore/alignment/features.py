"""Frame features for music alignment: quantised chroma, chroma onsets, onset strength and loudness.

Task
    Turn a mono signal into the frame sequences that dynamic time warping compares: a harmonic description that
    is robust to tempo, dynamics and timbre (chroma, CENS at coarse resolutions) and an onset description that
    pins the alignment to note attacks (chroma onset features in the spirit of DLNCO, Ewert, Mueller & Grosche
    2009). Onset strength and total loudness are carried along for interpretation curves.

Units and conventions
    - Analysis at 22,050 Hz; frame ``i`` is centred on sample ``i * hop`` (time ``i / frame_rate`` s) with
      ``hop = 441`` samples, i.e. :data:`FRAME_RATE` = 50 frames/s. A signal of ``n`` samples gives
      ``n // 441`` frames.
    - ``chroma``: CENS-quantised chroma (Mueller, Kurth & Clausen 2005: L1-normalise the 12 pitch-class energies,
      count how many of the thresholds 0.05, 0.1, 0.2, 0.4 each exceeds, values 0-4; pitch class 0 is C).
      Silent frames are all zero. :func:`normalise_chroma` turns them into unit vectors for cosine costs, and
      :func:`cens` smooths and downsamples them into CENS features.
    - ``onsets``: per pitch class, the positive increase of log-compressed pitch energy, summed over octaves,
      divided by a local maximum (1.5 s) of the frame norms and spread over the next 10 frames with decaying
      weights ``sqrt(1/k)`` (k = 1..10). Values in [0, 1].
    - ``strength``: onset strength (spectral flux of the log pitch energies minus its 0.1 s local mean,
      half-wave rectified), scaled so that the recording's 99th percentile is 1.
    - ``loudness``: total loudness (Stevens' method over Bark-scale specific loudness, sone), see
      :mod:`embedstore.encoders.bssl`.
    - Long signals are processed in blocks of :data:`BLOCK_S` seconds with enough context that the result is
      the same as processing the whole signal at once; memory stays bounded for hour-long recordings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from embedstore.alignment.sequence import (
    FRAME_RATE,
    HOP_LENGTH,
    SAMPLE_RATE,
    STORED_RATE,
    FrameFeatures,
    cens,
    normalise_chroma,
)
from embedstore.audio import load_audio, resample, to_mono
from embedstore.encoders.bssl import N_FFT as BSSL_N_FFT
from embedstore.encoders.bssl import bark_specific_loudness, total_loudness
from embedstore.encoders.handcrafted import power_spectrogram
from embedstore.errors import ConfigError

__all__ = [
    "SAMPLE_RATE",
    "HOP_LENGTH",
    "FRAME_RATE",
    "STORED_RATE",
    "FrameFeatures",
    "compute_features",
    "features_from_file",
    "normalise_chroma",
    "cens",
    "pitch_energy_matrix",
    "SEQUENCE_COLUMNS",
    "index_sequence",
    "sequence_provenance",
]

#: Columns of the compact sequence stored per recording (:meth:`FrameFeatures.compact`).
SEQUENCE_COLUMNS = tuple(
    f"cens_{c}" for c in ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
) + (
    "onset_strength",
    "loudness_sone",
)
#: Version of the stored sequences; bump when :func:`compute_features` or :meth:`FrameFeatures.compact` change.
SEQUENCE_VERSION = 1

#: FFT size of the pitch analysis (186 ms: semitones resolved from about 90 Hz up).
N_FFT = 4096
#: Block length for long signals, seconds.
BLOCK_S = 60.0
#: CENS quantisation thresholds on L1-normalised chroma (Mueller, Kurth & Clausen 2005).
CENS_THRESHOLDS = (0.05, 0.1, 0.2, 0.4)
#: Log compression factor of the pitch energies (energies are first divided by the recording's reference level).
LOG_GAMMA = 1000.0
#: Frames whose energy is below this fraction of the reference level are silent (-60 dB).
SILENCE_REL = 1e-6
#: Onset decay weights over the 10 frames after an onset (DLNCO).
ONSET_DECAY = np.sqrt(1.0 / np.arange(1, 11))
#: Local normalisation window of the chroma onsets, seconds.
ONSET_NORM_S = 1.5
#: Local-average window subtracted from the onset strength, seconds (FMP's spectral novelty).
STRENGTH_AVG_S = 0.1
#: Lowest and highest MIDI pitch of the pitch analysis (piano range).
PITCH_RANGE = (21, 108)


def pitch_energy_matrix(sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT) -> np.ndarray:
    """Matrix summing STFT bin powers into MIDI pitches.

    Each bin goes to the pitch whose centre frequency (A4 = 440 Hz, equal temperament) is nearest on a log scale,
    if that pitch is in :data:`PITCH_RANGE` (bins below half a semitone under A0 or above C8 are dropped).

    Parameters
    ----------
    sample_rate : int
        Hz.
    n_fft : int
        FFT size.

    Returns
    -------
    np.ndarray, shape (n_fft // 2 + 1, 88), float32
        0/1 entries; column ``p`` is MIDI pitch ``21 + p``.
    """
    freqs = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    lo, hi = PITCH_RANGE
    m = np.zeros((len(freqs), hi - lo + 1), dtype=np.float32)
    with np.errstate(divide="ignore"):
        pitch = 69.0 + 12.0 * np.log2(freqs / 440.0)
    near = np.rint(pitch)
    ok = np.isfinite(pitch) & (near >= lo) & (near <= hi)
    m[np.flatnonzero(ok), (near[ok] - lo).astype(int)] = 1.0
    return m


def _block_slice(x: np.ndarray, n_fft: int, hop: int, start: int, n_frames: int) -> tuple[np.ndarray, int]:
    """The samples behind frames ``start .. start + n_frames`` plus ``ctx`` frames of context on each side.

    The context keeps the edge padding of a centred STFT away from the kept frames; samples outside the signal
    are zeros. Returns the slice and ``ctx``.
    """
    ctx = int(np.ceil((n_fft // 2) / hop))
    a = (start - ctx) * hop
    b = (start + n_frames + ctx) * hop
    seg = np.zeros(b - a, dtype=np.float32)
    lo, hi = max(a, 0), min(b, len(x))
    if hi > lo:
        seg[lo - a : hi - a] = x[lo:hi]
    return seg, ctx


def _blocked_spectrogram(x: np.ndarray, n_fft: int, hop: int, start: int, n_frames: int) -> np.ndarray:
    """Power spectrogram of frames ``start .. start + n_frames`` of the whole signal, computed from a slice."""
    seg, ctx = _block_slice(x, n_fft, hop, start, n_frames)
    spec = power_spectrogram(seg[None], n_fft=n_fft, hop_length=hop)[0]
    return spec[ctx : ctx + n_frames]


def _block_loudness(x: np.ndarray, hop: int, start: int, n_frames: int) -> np.ndarray:
    """Total loudness (sone) of frames ``start .. start + n_frames``, computed from a slice."""
    seg, ctx = _block_slice(x, BSSL_N_FFT, hop, start, n_frames)
    spec = bark_specific_loudness(seg, SAMPLE_RATE, hop_length=hop)
    return total_loudness(spec)[ctx : ctx + n_frames]


def _local_max(v: np.ndarray, size: int) -> np.ndarray:
    import scipy.ndimage  # lazy: 0.5 s at import, only some paths need it

    return scipy.ndimage.maximum_filter1d(v, size=max(1, size), mode="nearest")


def compute_features(samples: np.ndarray, sample_rate: int, *, onsets: bool = True) -> FrameFeatures:
    """Alignment features of a mono signal at :data:`FRAME_RATE` (50 frames/s).

    Parameters
    ----------
    samples : np.ndarray, shape (n,) or (n, channels)
        Audio in [-1, 1]; resampled to 22,050 Hz when needed.
    sample_rate : int
        Hz.
    onsets : bool
        Compute the chroma onset features (needed for the finest alignment level).

    Returns
    -------
    FrameFeatures
        ``n // 441`` frames of the 22,050 Hz signal.
    """
    import scipy.ndimage  # lazy: 0.5 s at import, only some paths need it

    if int(sample_rate) <= 0:
        raise ConfigError(f"sample_rate must be positive, got {sample_rate!r}")
    x = to_mono(samples)
    if not np.all(np.isfinite(x)):
        raise ConfigError("samples contain NaN or infinite values")
    x = resample(x, int(sample_rate), SAMPLE_RATE)
    hop = HOP_LENGTH
    n = len(x) // hop
    pm = pitch_energy_matrix()
    block = int(BLOCK_S * FRAME_RATE)
    pitch = np.zeros((n, pm.shape[1]), dtype=np.float32)
    loud = np.zeros(n, dtype=np.float32)
    for s in range(0, n, block):
        m = min(block, n - s)
        pitch[s : s + m] = _blocked_spectrogram(x, N_FFT, hop, s, m) @ pm
        loud[s : s + m] = _block_loudness(x, hop, s, m)

    # chroma (pitch class 0 = C: MIDI 21 is A, class 9)
    classes = (np.arange(PITCH_RANGE[0], PITCH_RANGE[1] + 1)) % 12
    chroma_e = np.zeros((n, 12), dtype=np.float32)
    for c in range(12):
        chroma_e[:, c] = pitch[:, classes == c].sum(axis=1)
    total = chroma_e.sum(axis=1)
    ref = float(np.percentile(total, 99)) if n else 0.0
    ref = ref if ref > 0 else 1.0
    silent = total <= SILENCE_REL * ref
    l1 = np.where(silent[:, None], 0.0, chroma_e / np.maximum(total, 1e-30)[:, None])
    q = np.zeros_like(l1, dtype=np.float32)
    for t in CENS_THRESHOLDS:
        q += l1 > t

    # onsets from log-compressed pitch energies
    logp = np.log1p(LOG_GAMMA * pitch / ref)
    rise = np.maximum(np.diff(logp, axis=0, prepend=logp[:1]), 0.0) if n else logp
    flux = rise.sum(axis=1)
    avg_n = 2 * int(round(STRENGTH_AVG_S * FRAME_RATE)) + 1
    local = scipy.ndimage.uniform_filter1d(flux, size=avg_n, mode="nearest") if n else flux
    strength = np.maximum(flux - local, 0.0)
    s99 = float(np.percentile(strength, 99)) if n else 0.0
    strength = strength / s99 if s99 > 0 else strength

    on = None
    if onsets:
        co = np.zeros((n, 12), dtype=np.float32)
        for c in range(12):
            co[:, c] = rise[:, classes == c].sum(axis=1)
        norms = np.linalg.norm(co, axis=1)
        lm = _local_max(norms, int(round(ONSET_NORM_S * FRAME_RATE)))
        floor = max(1e-3 * float(lm.max()) if n else 0.0, 1e-6)
        co = np.where(lm[:, None] > floor, co / np.maximum(lm, floor)[:, None], 0.0)
        dec = np.zeros_like(co)
        for k, w in enumerate(ONSET_DECAY):
            shifted = np.zeros_like(co)
            shifted[k:] = co[: n - k] if k else co
            dec = np.maximum(dec, w * shifted)
        on = dec.astype(np.float32)

    prov = {
        "features": "alignment",
        "sample_rate": SAMPLE_RATE,
        "hop_length": hop,
        "frame_rate": FRAME_RATE,
        "n_fft": N_FFT,
        "cens_thresholds": list(CENS_THRESHOLDS),
        "log_gamma": LOG_GAMMA,
        "onsets": "chroma onsets, local norm 1.5 s, decay sqrt(1/k) k=1..10" if onsets else None,
        "loudness": "bssl total loudness (stevens), sone",
    }
    return FrameFeatures(
        chroma=q,
        onsets=on,
        strength=strength.astype(np.float32),
        loudness=loud,
        frame_rate=FRAME_RATE,
        provenance=prov,
    )


def features_from_file(
    path: str | Path,
    *,
    onsets: bool = True,
    start_s: float | None = None,
    end_s: float | None = None,
) -> FrameFeatures:
    """Decode an audio file (any format :func:`embedstore.audio.load_audio` reads) and compute its features.

    Parameters
    ----------
    path : str or Path
    onsets : bool
        Compute chroma onset features.
    start_s, end_s : float, optional
        Analyse only this passage of the file (seconds); frame times then start at ``start_s``'s frame.

    Returns
    -------
    FrameFeatures
    """
    audio = load_audio(path, sample_rate=SAMPLE_RATE)
    x = audio.samples
    if start_s is not None or end_s is not None:
        a = int(round((start_s or 0.0) * SAMPLE_RATE))
        b = len(x) if end_s is None else int(round(end_s * SAMPLE_RATE))
        if not 0 <= a < b:
            raise ConfigError(f"empty passage start_s={start_s!r}, end_s={end_s!r}")
        x = x[a:b]
    f = compute_features(x, SAMPLE_RATE, onsets=onsets)
    f.provenance["path"] = str(path)
    return f


def sequence_provenance() -> dict:
    """Provenance of the sequences :func:`index_sequence` computes (stored with the sequence space)."""
    return {
        "features": "embedstore.alignment.features.index_sequence",
        "version": SEQUENCE_VERSION,
        "frame_rate": STORED_RATE,
        "columns": list(SEQUENCE_COLUMNS),
        "dtype": "float16",
        "analysis": {
            "sample_rate": SAMPLE_RATE,
            "hop_length": HOP_LENGTH,
            "n_fft": N_FFT,
            "cens_thresholds": list(CENS_THRESHOLDS),
            "cens_smooth_frames": 4 * int(round(FRAME_RATE / STORED_RATE)) + 1,
        },
    }


def index_sequence(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """The compact frame sequence stored per recording at index time (the indexing pipeline's hook).

    Parameters
    ----------
    samples : np.ndarray, shape (n,)
        Mono audio (any rate; resampled to 22,050 Hz).
    sample_rate : int
        Hz.

    Returns
    -------
    np.ndarray, shape (n // 441 / 5 rounded up, 14), float16
        CENS chroma, onset strength and loudness at :data:`STORED_RATE` frames/s (:data:`SEQUENCE_COLUMNS`), about
        1.0 MB per hour of audio.
    """
    return compute_features(samples, sample_rate, onsets=False).compact(STORED_RATE)
