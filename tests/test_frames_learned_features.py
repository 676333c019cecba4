"""The learned encoders with weights in their wheels (basic-pitch, transkun) as frame features for ``train-frames``.

``FrameFeaturizer(encoder="basic-pitch" | "transkun", layer=...)`` must give one row per frame of the common grid
(``floor(duration * 50)`` rows at 50 frames/s), with the layer's width, the same values on a second call, and
frames that sit at the right time: a note that starts at 1.5 s changes the features at frame 75, not frames
earlier or later (basic-pitch runs at 86.1 frames/s, transkun at 43.1 with its block layers in steps of 8 frames;
both are resampled to the grid).
"""

from __future__ import annotations

import numpy as np
from optional import needs_basic_pitch, needs_transkun

from embedstore.frames.features import FRAME_RATE, FrameFeaturizer

SR = 22050
ONSET_S = 1.5
MIDI = 69  # A4: basic-pitch key index 69 - 21 = 48


def tone_after_silence(duration_s: float = 3.0, onset_s: float = ONSET_S, midi: int = MIDI) -> np.ndarray:
    """Silence, then one piano-like note (8 slightly stretched partials, fast attack, slow decay) at ``onset_s``."""
    n, n0 = int(duration_s * SR), int(onset_s * SR)
    t = np.arange(n - n0) / SR
    f0 = 440.0 * 2 ** ((midi - 69) / 12)
    x = sum(k**-1.5 * np.sin(2 * np.pi * f0 * k * (1 + 2e-4 * k * k) * t) for k in range(1, 9))
    x = np.minimum(1.0, t / 0.005) * np.exp(-t / 0.8) * x
    y = np.zeros(n, dtype=np.float32)
    y[n0:] = 0.3 * x / np.abs(x).max()
    return y


def change_frame(x: np.ndarray, onset_s: float = ONSET_S) -> int:
    """The grid frame where the features first move far from the silence before the onset (half the largest
    distance); the reference skips the first 0.2 s (edge padding) and the last 0.3 s before the onset."""
    ref = x[int(0.2 * FRAME_RATE) : int((onset_s - 0.3) * FRAME_RATE)].mean(axis=0)
    d = np.linalg.norm(x - ref, axis=1)
    d[: int(0.2 * FRAME_RATE)] = 0.0
    return int(np.argmax(d > 0.5 * d.max()))


@needs_basic_pitch
def test_basic_pitch_frames_on_the_common_grid():
    y = tone_after_silence()
    n = int(np.floor(len(y) / SR * FRAME_RATE))
    note = FrameFeaturizer(encoder="basic-pitch", layer=4)  # "note": 88-key posteriorgram
    assert note.config()["layer_name"] == "note"
    x = note(y, SR)
    assert x.shape == (n, 88) and x.dtype == np.float32
    np.testing.assert_array_equal(x, note(y, SR))  # deterministic
    # the played key is the one that lights up after the onset, and only after it
    after = x[int((ONSET_S + 0.2) * FRAME_RATE) :]
    assert int(np.argmax(after.mean(axis=0))) == MIDI - 21
    assert x[: int((ONSET_S - 0.2) * FRAME_RATE), MIDI - 21].max() < 0.5 * after[:, MIDI - 21].max()
    assert abs(change_frame(x) - ONSET_S * FRAME_RATE) <= 3  # within 60 ms of the onset on the 50 fps grid
    # an inner layer works too, with its own width
    inner = FrameFeaturizer(encoder="basic-pitch", layer=0)(y, SR)
    assert inner.shape[0] == n and inner.shape[1] == 88 and np.isfinite(inner).all()


@needs_transkun
def test_transkun_frames_on_the_common_grid():
    # 2 s of audio (model load ~5-10 s, then ~2 s per call on one core)
    onset_s = 1.0
    y = tone_after_silence(2.0, onset_s)
    n = int(np.floor(len(y) / SR * FRAME_RATE))
    fz = FrameFeaturizer(encoder="transkun", layer=0)  # "block1": first transformer block
    assert fz.config()["layer_name"] == "block1" and fz.dim == 256
    x = fz(y, SR)  # resampled to 44.1 kHz inside, then from 43.07 fps to the 50 fps grid
    assert x.shape == (n, 256) and x.dtype == np.float32 and np.isfinite(x).all()
    np.testing.assert_array_equal(x, fz(y, SR))
    # the block layers hold one vector per 8 transkun frames (186 ms = 9.3 grid frames), and a frame's 4096-sample
    # window sees 46 ms ahead: the change shows in the block that holds the onset, never after it
    onset = onset_s * FRAME_RATE
    assert onset - 10 <= change_frame(x, onset_s) <= onset + 2
