"""Encoders whose REAL learned weights ship in their wheels (basic-pitch ONNX, Transkun), run offline.

Behaviour checked on synthetic piano-like tones (numpy harmonic partials with a percussive decay):
the basic-pitch note posteriorgram peaks at the played keys, and embeddings separate different pitch sequences
more than a gain change of the same sequence.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from optional import needs_basic_pitch, needs_transkun

from embedstore.encoders import get_encoder
from embedstore.errors import AudioError, ConfigError


def piano_tones(midis, sr, *, note_s=0.5, gain=0.3):
    """A sequence of piano-like notes: 8 partials (slightly stretched), 1/k^1.5 amplitudes, fast attack."""
    n = int(note_s * sr)
    t = np.arange(n) / sr
    env = np.minimum(1.0, t / 0.005) * np.exp(-t / 0.35)
    notes = []
    for m in midis:
        f0 = 440.0 * 2 ** ((m - 69) / 12)
        x = sum(
            k**-1.5 * np.sin(2 * np.pi * f0 * k * (1 + 2e-4 * k * k) * t)
            for k in range(1, 9)
            if f0 * k * (1 + 2e-4 * k * k) < 0.45 * sr
        )
        notes.append(env * x)
    y = np.concatenate(notes)
    return (gain * y / np.abs(y).max()).astype(np.float32)


def _cos_dist(a, b):
    return 1.0 - (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


SEQ_A = [60, 64, 67, 72, 67, 64, 60, 55]  # C major arpeggio, 4 s
SEQ_B = [61, 66, 70, 73, 70, 66, 61, 54]  # another key


# ---------------------------------------------------------------------------------------------------------------
# basic-pitch
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def basic_pitch():
    return get_encoder("basic-pitch", n_threads=1)


@needs_basic_pitch
def test_basic_pitch_loads_real_weights_offline(basic_pitch):
    enc = basic_pitch
    assert enc.sample_rate == 22050 and enc.dim == 88 and enc.frame_rate == pytest.approx(86.13, abs=0.01)
    assert enc.layer_names == [
        "contour_features",
        "note_features",
        "onset_features",
        "contour",
        "note",
        "onset",
    ]
    p = enc.provenance()
    assert p["model_id"].startswith("basic-pitch==") and len(p["revision"]) == 12
    assert get_encoder(p["encoder"], **p["load_kwargs"]).provenance() == p


@needs_basic_pitch
def test_basic_pitch_note_posteriorgram_peaks_at_the_played_keys(basic_pitch):
    """Over a 4 s arpeggio (two stitched 2 s model windows), each note's frames peak at its key."""
    enc = basic_pitch
    sr = enc.sample_rate
    x = piano_tones(SEQ_A, sr)
    f = enc.frames(x[None])
    assert f.shape == (6, 1, math.ceil(len(x) / 256), 88)
    assert np.isfinite(f).all()
    note, contour = f[enc.layer_names.index("note"), 0], f[enc.layer_names.index("contour"), 0]
    assert 0.0 <= note.min() and note.max() <= 1.0
    hop_s = 256 / sr
    for i, midi in enumerate(SEQ_A):
        a, b = int((i * 0.5 + 0.1) / hop_s), int((i * 0.5 + 0.35) / hop_s)  # inside the note, off its edges
        assert int(note[a:b].mean(0).argmax()) + 21 == midi, (i, midi)
        assert int(contour[a:b].mean(0).argmax()) + 21 == midi, (i, midi)
    # the time-pooled posteriorgram (what embed() stores) has the five played keys as its top peaks
    pooled = enc.embed(x[None])[enc.layer_names.index("note"), 0]
    assert set((np.argsort(pooled)[-5:] + 21).tolist()) == set(SEQ_A)


@needs_basic_pitch
def test_basic_pitch_separates_pitch_content_more_than_gain(basic_pitch):
    enc = basic_pitch
    sr = enc.sample_rate
    a = piano_tones(SEQ_A, sr)
    e = enc.embed(np.stack([a, piano_tones(SEQ_B, sr), 0.7 * a]))
    d_pitch, d_gain = _cos_dist(e[:, 0], e[:, 1]), _cos_dist(e[:, 0], e[:, 2])
    assert (d_pitch > 3 * d_gain).all(), dict(zip(enc.layer_names, zip(d_pitch, d_gain)))


@needs_basic_pitch
def test_basic_pitch_is_batch_independent_and_validates_input(basic_pitch):
    enc = basic_pitch
    x = np.stack([piano_tones(SEQ_A[:3], enc.sample_rate), piano_tones(SEQ_B[:3], enc.sample_rate)])
    np.testing.assert_allclose(enc.frames(x[1:]), enc.frames(x)[:, 1:], atol=1e-5)
    with pytest.raises(ConfigError):
        enc.frames(x[0])
    bad = x.copy()
    bad[0, 10] = np.inf
    with pytest.raises(AudioError):
        enc.frames(bad)


# ---------------------------------------------------------------------------------------------------------------
# Transkun (about 1x realtime on one CPU thread: keep to 2 s windows)
# ---------------------------------------------------------------------------------------------------------------


@needs_transkun
def test_transkun_real_weights_separate_pitch_content_more_than_gain():
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        enc = get_encoder("transkun", batch_size=3)
        assert enc.sample_rate == 44100 and enc.dim == 256 and enc.n_layers == 7
        assert len(enc.provenance()["revision"]) == 12
        sr = enc.sample_rate
        a = piano_tones(SEQ_A[:3], sr)  # 1.5 s
        x = np.stack([a, piano_tones(SEQ_B[:3], sr), 0.7 * a])
        f = enc.frames(x)
    finally:
        torch.set_num_threads(n)
    assert f.shape == (7, 3, math.ceil(len(a) / 1024), 256)
    assert np.isfinite(f).all()
    e = f.mean(axis=2)
    d_pitch, d_gain = _cos_dist(e[:, 0], e[:, 1]), _cos_dist(e[:, 0], e[:, 2])
    assert (d_pitch > 3 * d_gain).all(), dict(zip(enc.layer_names, zip(d_pitch, d_gain)))
    assert (d_pitch > 1e-4).all()
