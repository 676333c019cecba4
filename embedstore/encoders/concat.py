"""Concatenation of several encoders' frames (``bssl+madmom``, ``madmom+logmel``...), one encoder to the rest.

Task: ``get_encoder("madmom+bssl")`` builds one :class:`ConcatEncoder` whose ``frames`` are the parts' frames side by
side and whose ``embed`` is the parts' window vectors side by side, so a combination works wherever one encoder
does (``train-frames --encoder madmom+bssl``, window setups of the store).

Conventions: the input sample rate is the highest of the parts' (windows are resampled to each part's own rate
with :func:`embedstore.audio.resample`); every part must have the same ``frame_rate`` (50 frames/s for the
handcrafted encoders and ``madmom``); each part contributes its LAST layer; the frame count is the smallest of
the parts' (they differ by at most a frame at the window end). Feature order follows the spec's order.
"""

from __future__ import annotations

import numpy as np

from embedstore.encoders.base import Encoder
from embedstore.errors import ConfigError

#: Separator of encoder names in a combination spec.
SEPARATOR = "+"


class ConcatEncoder(Encoder):
    """Side-by-side frames and window vectors of several encoders (one layer, ``"concat"``)."""

    layer_names = ["concat"]

    def __init__(self, parts: list[Encoder]):
        if len(parts) < 2:
            raise ConfigError("a combination needs at least two encoders, e.g. 'madmom+bssl'")
        rates = {float(p.frame_rate) for p in parts}
        if len(rates) != 1:
            raise ConfigError(
                "encoders of a combination must share one frame rate, got "
                + ", ".join(f"{p.name}: {p.frame_rate:g}" for p in parts)
            )
        self.parts = list(parts)
        self.name = SEPARATOR.join(p.name for p in parts)
        self.model_id = self.name
        self.sample_rate = max(int(p.sample_rate) for p in parts)
        self.frame_rate = float(next(iter(rates)))
        self.frame_dim = int(sum(int(p.frame_dim or p.dim) for p in parts))
        self.dim = int(sum(int(p.dim) for p in parts))
        self.min_window_s = max(float(p.min_window_s) for p in parts)

    def params(self) -> dict:
        return {"parts": [p.provenance() for p in self.parts]}

    def load_kwargs(self) -> dict:
        return {p.name: p.load_kwargs() for p in self.parts if p.load_kwargs()}

    def _per_part(self, windows: np.ndarray):
        from embedstore.audio import resample

        x = np.asarray(windows, dtype=np.float32)
        if x.ndim != 2:
            raise ConfigError(f"windows must have shape (n_windows, n_samples), got {x.shape}")
        for p in self.parts:
            sr = int(p.sample_rate)
            if sr == self.sample_rate:
                yield p, x
            else:
                yield p, np.stack([resample(w, self.sample_rate, sr) for w in x])

    def frames(self, windows: np.ndarray) -> np.ndarray:
        fs = [p.frames(w)[-1] for p, w in self._per_part(windows)]  # each (B, F_k, D_k)
        n = min(f.shape[1] for f in fs)
        return np.concatenate([f[:, :n] for f in fs], axis=-1).astype(np.float32)[None]

    def embed(self, windows: np.ndarray) -> np.ndarray:
        es = [p.embed(w)[-1] for p, w in self._per_part(windows)]  # each (B, D_k)
        return np.concatenate(es, axis=-1).astype(np.float32)[None]


__all__ = ["SEPARATOR", "ConcatEncoder"]
