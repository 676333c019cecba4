"""Frame-level features from any frozen encoder, on one common frame grid.

Task: turn a mono recording into a ``(n_frames, dim)`` float32 matrix at ``frame_rate`` frames/s (50 by default),
frame ``i`` describing the audio around time ``i / frame_rate`` seconds, ``n_frames = floor(duration * frame_rate)``.

Any registered encoder works through :meth:`Encoder.frames`: ``bssl`` (Bark-scale specific loudness, 23 bands,
50 frames/s, :mod:`embedstore.encoders.bssl`), ``logmel`` (128 bands, 50 frames/s), ``chroma``, ``mfcc``, and the
per-frame hidden states of the transformers encoders (one chosen layer; e.g. 75 frames/s for MERT), which are
resampled to the common rate by linear interpolation in time.

Long recordings are cut into overlapping chunks (``chunk_s``, default 30 s) and only the centre of each chunk is
kept, so no frame is computed next to an artificial chunk edge (zero padding at chunk edges changes the frames of
handcrafted features within ``n_fft / 2`` samples and the hidden states of neural encoders within seconds).

Computed on the fly, not cached in the store
--------------------------------------------
The store holds window- and recording-level vectors. Frame features are 250x more vectors (50 per second instead
of one per 5 s hop; for a transformers encoder ~2 MB per second of audio over all layers), and the handcrafted
ones used by the frame probes (``bssl``, ``logmel``) compute at about 60x real time on one busy CPU core (an hour
of audio in a minute), so recomputing them is cheaper than storing them beside every window setup. A frame model is also tied to
one layer and one frame rate, which the store's window setups do not fix. Training code can memoise features in
the user cache (``cache=True``: ``embedstore.config.cache_dir()/frames``, keyed by the file's content hash and the
featurizer's configuration), never in the repository or the store.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from embedstore.audio import content_hash, load_audio, resample
from embedstore.config import cache_dir
from embedstore.encoders import get_encoder
from embedstore.errors import ConfigError, check_choice

#: The common frame rate of all frame-level features, frames/s (the ``bssl``/``logmel`` rate: hop 441 at 22,050 Hz).
FRAME_RATE = 50.0
#: Feature compressions: ``log1p`` is applied to ``bssl`` (sone values are heavy-tailed; log(1 + sone) is close to a
#: phon/dB scale), nothing to the others (log-mel is already in dB).
COMPRESSIONS = ("auto", "none", "log1p")
_AUTO_LOG1P = {"bssl"}


def n_frames_for(duration_s: float, frame_rate: float = FRAME_RATE) -> int:
    """Number of frames of a recording: ``floor(duration_s * frame_rate)`` (at least 1 for non-empty audio)."""
    n = int(np.floor(float(duration_s) * float(frame_rate) + 1e-9))
    return max(n, 1 if duration_s > 0 else 0)


def frame_times(n_frames: int, frame_rate: float = FRAME_RATE) -> np.ndarray:
    """Centre time of each frame, seconds: ``i / frame_rate``. Shape (n_frames,)."""
    return np.arange(int(n_frames), dtype=np.float64) / float(frame_rate)


def resample_frames(
    x: np.ndarray, times_in: np.ndarray, n_out: int, frame_rate: float = FRAME_RATE
) -> np.ndarray:
    """Linear interpolation of frames at ``times_in`` onto the grid ``i / frame_rate``, ``i < n_out``.

    Parameters
    ----------
    x : np.ndarray, shape (n_in, dim)
    times_in : np.ndarray, shape (n_in,), increasing, seconds
    n_out : int

    Returns
    -------
    np.ndarray, shape (n_out, dim), float32. Outside ``times_in`` the edge frames are repeated.
    """
    x = np.asarray(x, dtype=np.float32)
    t = np.asarray(times_in, dtype=np.float64)
    if x.ndim != 2 or len(t) != len(x):
        raise ConfigError(
            f"resample_frames: x must be (n, dim) with one time per row, got {x.shape}, {t.shape}"
        )
    if len(x) == 0:
        return np.zeros((n_out, x.shape[1]), dtype=np.float32)
    out_t = frame_times(n_out, frame_rate)
    if len(x) == 1:
        return np.repeat(x, n_out, axis=0)
    pos = np.interp(out_t, t, np.arange(len(t), dtype=np.float64))
    lo = np.clip(np.floor(pos).astype(int), 0, len(t) - 1)
    hi = np.minimum(lo + 1, len(t) - 1)
    w = (pos - lo)[:, None].astype(np.float32)
    return ((1.0 - w) * x[lo] + w * x[hi]).astype(np.float32)


@dataclass
class FrameFeaturizer:
    """Frame features of one encoder layer on the common grid.

    Parameters
    ----------
    encoder : str
        Registry name (``bssl``, ``logmel``, ...) or ``hf:/path``.
    layer : int
        Layer of ``Encoder.frames`` (negative counts from the last). Handcrafted encoders have one layer (0).
    frame_rate : float
        Output frames/s.
    compress : {"auto", "none", "log1p"}
        ``auto``: ``log1p`` for ``bssl``, none otherwise.
    chunk_s : float, optional
        Chunk length for long recordings, seconds; default 120 when the encoder includes ``madmom`` (its
        bidirectional LSTMs see the whole chunk, and one pass over a clip up to 116 s is cheapest), else 30.
    encoder_kwargs : dict
        Passed to :func:`embedstore.encoders.get_encoder`.
    """

    encoder: str = "bssl"
    layer: int = -1
    frame_rate: float = FRAME_RATE
    compress: Literal["auto", "none", "log1p"] = "auto"
    chunk_s: float | None = None
    encoder_kwargs: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.chunk_s is None:
            self.chunk_s = 120.0 if "madmom" in self.encoder.split("+") else 30.0
        check_choice("compress", self.compress, COMPRESSIONS)
        if not self.frame_rate > 0:
            raise ConfigError(f"invalid frame_rate={self.frame_rate!r}; must be > 0")
        if not self.chunk_s >= 4.0:
            raise ConfigError(f"invalid chunk_s={self.chunk_s!r}; must be >= 4 s")
        self._enc = None

    # ---------------------------------------------------------------- encoder
    @property
    def encoder_obj(self):
        if self._enc is None:
            self._enc = get_encoder(self.encoder, **self.encoder_kwargs)
            n = self._enc.n_layers
            if not -n <= int(self.layer) < n:
                raise ConfigError(
                    f"invalid layer={self.layer!r} for encoder {self.encoder!r} with {n} layers"
                )
        return self._enc

    @property
    def sample_rate(self) -> int:
        return int(self.encoder_obj.sample_rate)

    @property
    def dim(self) -> int:
        e = self.encoder_obj
        return int(e.frame_dim or e.dim)

    @property
    def compression(self) -> str:
        if self.compress == "auto":
            parts = set(
                self.encoder.split("+")
            )  # a combination: log1p when any part needs it (monotone on the rest)
            return "log1p" if parts & _AUTO_LOG1P else "none"
        return self.compress

    def layer_index(self) -> int:
        return int(self.layer) % self.encoder_obj.n_layers

    def config(self) -> dict:
        """JSON-serialisable settings (stored with a trained model)."""
        return {
            "encoder": self.encoder,
            "layer": self.layer_index(),
            "layer_name": self.encoder_obj.layer_names[self.layer_index()],
            "frame_rate": float(self.frame_rate),
            "compress": self.compression,
            "chunk_s": float(self.chunk_s),
            "encoder_kwargs": dict(self.encoder_kwargs),
            "dim": self.dim,
        }

    def part_columns(self) -> dict[str, tuple[int, int]]:
        """Columns of each part of a combination in the features: ``{name: (start, stop)}`` in spec order (one
        entry, all columns, for a single encoder)."""
        e = self.encoder_obj
        parts = getattr(e, "parts", None) or [e]
        out, start = {}, 0
        for p in parts:
            d = int(p.frame_dim or p.dim)
            out[str(p.name)] = (start, start + d)
            start += d
        return out

    def provenance(self) -> dict:
        """The encoder's provenance (what must match for features to be comparable)."""
        return self.encoder_obj.provenance()

    @classmethod
    def from_config(cls, cfg: dict) -> FrameFeaturizer:
        return cls(
            encoder=cfg["encoder"],
            layer=int(cfg["layer"]),
            frame_rate=float(cfg["frame_rate"]),
            compress=cfg.get("compress", "auto"),
            chunk_s=float(cfg.get("chunk_s") or 30.0),
            encoder_kwargs=dict(cfg.get("encoder_kwargs") or {}),
        )

    # ---------------------------------------------------------------- features
    def __call__(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        """Frame features of a mono signal.

        Parameters
        ----------
        samples : np.ndarray, shape (n_samples,)
        sample_rate : int
            Hz; resampled to the encoder's rate when different.

        Returns
        -------
        np.ndarray, shape (floor(duration * frame_rate), dim), float32
        """
        x = np.asarray(samples, dtype=np.float32)
        if x.ndim != 1:
            raise ConfigError(f"samples must be mono, shape (n,), got {x.shape}")
        enc = self.encoder_obj
        sr = int(enc.sample_rate)
        if int(sample_rate) != sr:
            x = resample(x, int(sample_rate), sr)
        duration = len(x) / sr
        n_out = n_frames_for(duration, self.frame_rate)
        if n_out == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        feats, times = self._encoder_frames(x, sr)
        out = resample_frames(feats, times, n_out, self.frame_rate)
        if self.compression == "log1p":
            out = np.log1p(np.maximum(out, 0.0))
        return out.astype(np.float32)

    def _encoder_frames(self, x: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
        """Encoder frames of the whole signal and their times, from overlapping chunks (centres kept)."""
        enc = self.encoder_obj
        li = self.layer_index()
        fr = float(enc.frame_rate)
        min_len = int(np.ceil(enc.min_window_s * sr))
        win = int(round(self.chunk_s * sr))
        margin = int(round(min(2.0, self.chunk_s / 8) * sr))
        if len(x) + 2 * margin <= win:  # one chunk: the whole signal, padded to the minimum length
            w = np.zeros(max(len(x), min_len), dtype=np.float32)
            w[: len(x)] = x
            f = enc.frames(w[None])[li, 0]
            times = np.arange(len(f)) / fr
            keep = times < len(x) / sr + 1.0 / fr
            return f[keep], times[keep]
        hop = win - 2 * margin
        padded = np.concatenate([np.zeros(margin, np.float32), x, np.zeros(win, np.float32)])
        feats, times = [], []
        n_chunks = int(np.ceil(len(x) / hop))
        batch = 4
        for b0 in range(0, n_chunks, batch):
            ks = range(b0, min(n_chunks, b0 + batch))
            windows = np.stack([padded[k * hop : k * hop + win] for k in ks])
            f = enc.frames(windows)[li]  # (n, F, D)
            for j, k in enumerate(ks):
                t = (k * hop - margin) / sr + np.arange(f.shape[1]) / fr  # time in the original signal
                keep = (t >= k * hop / sr) & (t < (k + 1) * hop / sr)
                feats.append(f[j][keep])
                times.append(t[keep])
        return np.concatenate(feats), np.concatenate(times)

    def file(self, path, *, cache: bool = False) -> tuple[np.ndarray, float]:
        """Frame features of an audio file and its duration (seconds), optionally memoised in the user cache."""

        key = None
        if cache:
            cfg = json.dumps(
                {"f": self.config(), "p": _stable(self.provenance())}, sort_keys=True, default=str
            )
            key = hashlib.sha1((content_hash(path) + cfg).encode()).hexdigest()[:24]
            cp = cache_dir() / "frames" / f"{key}.npz"
            if cp.exists():
                with np.load(cp) as z:
                    return z["x"].astype(np.float32), float(z["duration"])
        audio = load_audio(path, sample_rate=self.sample_rate)
        x = self(audio.samples, audio.sample_rate)
        if key is not None:
            cp.parent.mkdir(parents=True, exist_ok=True)
            tmp = cp.with_suffix(".tmp.npz")
            np.savez(tmp, x=x, duration=np.float64(audio.duration_s))
            tmp.replace(cp)
        return x, float(audio.duration_s)


def _stable(prov: dict) -> dict:
    """Provenance without fields that do not change the features (the package version)."""
    return {k: v for k, v in prov.items() if k != "embedstore_version"}


def frame_features(
    samples,
    sample_rate: int,
    *,
    encoder: str = "bssl",
    layer: int = -1,
    frame_rate: float = FRAME_RATE,
    compress: str = "auto",
    chunk_s: float = 30.0,
    encoder_kwargs: dict | None = None,
) -> np.ndarray:
    """Frame features of a mono signal (see :class:`FrameFeaturizer`).

    Returns
    -------
    np.ndarray, shape (floor(duration * frame_rate), dim), float32
    """
    fz = FrameFeaturizer(
        encoder=encoder,
        layer=layer,
        frame_rate=frame_rate,
        compress=compress,
        chunk_s=chunk_s,
        encoder_kwargs=dict(encoder_kwargs or {}),
    )
    return fz(samples, sample_rate)


def check_compatible(saved_provenance: dict, current: dict) -> list[str]:
    """Fields of two encoder provenances that differ (ignoring the package version)."""
    a, b = _stable(saved_provenance), _stable(current)
    return sorted(
        k
        for k in set(a) | set(b)
        if json.dumps(a.get(k), sort_keys=True, default=str)
        != json.dumps(b.get(k), sort_keys=True, default=str)
    )


__all__ = [
    "FRAME_RATE",
    "FrameFeaturizer",
    "check_compatible",
    "frame_features",
    "frame_times",
    "n_frames_for",
    "resample_frames",
]
