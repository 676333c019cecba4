"""Alignment features (blocked = whole, silence, onsets, compact form) and interpretation curves/style statistics."""

from __future__ import annotations

import numpy as np
import pytest

from embedstore.alignment import features as F
from embedstore.alignment.curves import (
    chord_asynchrony,
    curve_correlation,
    interpretation_curves,
    relative_to_consensus,
    sone_to_phon,
    style_statistics,
    uniform_grid,
)
from embedstore.alignment.sequence import FrameFeatures
from embedstore.alignment.timemap import TimeMap
from embedstore.encoders.bssl import phon_to_sone
from embedstore.errors import ConfigError


def tone_bursts(sr=22050, onsets=(0.5, 1.3, 2.0, 3.1), pitch_hz=(261.63, 329.63, 392.0, 440.0), dur=4.0):
    t = np.arange(int(dur * sr)) / sr
    x = np.zeros_like(t)
    for o, f in zip(onsets, pitch_hz):
        env = np.where(t >= o, np.exp(-(t - o) * 3.0), 0.0)
        x += 0.2 * env * np.sin(2 * np.pi * f * t)
    return x.astype(np.float32)


def test_blocked_features_equal_whole_signal(monkeypatch):
    x = tone_bursts(dur=9.0, onsets=(0.5, 3.0, 6.2, 8.0))
    whole = F.compute_features(x, 22050)
    monkeypatch.setattr(F, "BLOCK_S", 2.3)  # several blocks with odd boundaries
    blocked = F.compute_features(x, 22050)
    assert len(whole) == len(x) // 441
    assert np.array_equal(whole.chroma, blocked.chroma)
    assert np.allclose(whole.onsets, blocked.onsets, atol=1e-5)
    assert np.allclose(whole.loudness, blocked.loudness, rtol=1e-4)


def test_features_find_pitch_classes_onsets_and_silence():
    x = tone_bursts()
    f = F.compute_features(x, 22050)
    frame = int(0.7 * 50)  # C4 sounding
    assert np.argmax(f.chroma[frame]) == 0
    assert np.argmax(f.chroma[int(2.2 * 50)]) == 7  # G
    peaks = np.flatnonzero(f.strength > 0.5)
    for o in (0.5, 1.3, 2.0, 3.1):
        assert np.min(np.abs(peaks / 50.0 - o)) <= 0.04
    assert f.chroma[:10].sum() == 0 and f.loudness[:10].max() < 0.05  # silence before the first note
    assert F.compute_features(np.zeros(22050, np.float32), 22050).chroma.sum() == 0


def test_compact_sequence_is_small_and_round_trips():
    f = F.compute_features(tone_bursts(dur=6.0), 22050)
    c = f.compact()
    assert c.dtype == np.float16 and c.shape == (30 * 2, 14)
    assert c.nbytes / 6.0 * 3600 < 1.1e6  # about 1 MB per hour of audio
    g = FrameFeatures.from_compact(c, F.STORED_RATE)
    assert g.frame_rate == 10.0 and np.allclose(np.linalg.norm(g.chroma, axis=1), 1.0, atol=1e-2)
    with pytest.raises(ConfigError):
        f.compact(rate=7.0)


def test_features_reject_bad_input():
    with pytest.raises(ConfigError):
        F.compute_features(np.array([0.0, np.nan] * 1000), 22050)
    with pytest.raises(ConfigError):
        F.compute_features(np.zeros(1000), 0)


def test_tempo_and_loudness_curves_on_a_known_map():
    # B plays beats 0-8 at A's tempo, beats 8-16 twice as slow
    tm = TimeMap(np.array([0.0, 4.0, 8.0]), np.array([0.0, 4.0, 12.0]))
    beats = np.arange(0.0, 8.01, 0.5)  # A at 120 BPM
    rate = 50.0
    t = np.arange(int(12 * rate)) / rate
    loud = np.where(t < 4, 1.0, 4.0)  # 40 phon, then 60 phon
    c = interpretation_curves(tm, beats, loud, rate, unit="beat")
    assert c.tempo[:8] == pytest.approx(120.0) and c.tempo[8:] == pytest.approx(60.0)
    assert c.loudness[:7] == pytest.approx(40.0) and c.loudness[9:] == pytest.approx(60.0)
    st = style_statistics(c)
    assert st["tempo_range"] == pytest.approx(1.0)  # one octave of tempo
    assert st["dynamic_range"] == pytest.approx(20.0, abs=0.5)
    assert st["tempo_loudness"] < -0.9  # slower when louder
    rel = interpretation_curves(tm, uniform_grid(0, 8, 1.0), loud, rate, unit="reference")
    assert rel.tempo[:4] == pytest.approx(1.0) and rel.tempo[4:] == pytest.approx(0.5)


def test_curves_outside_the_map_are_nan_and_correlation_skips_them():
    tm = TimeMap(np.array([2.0, 6.0]), np.array([0.0, 4.0]))
    c = interpretation_curves(tm, uniform_grid(0, 8, 1.0), np.ones(500), 50.0, unit="reference")
    assert np.isnan(c.tempo[:2]).all() and np.isnan(c.tempo[-2:]).all()
    assert curve_correlation([1, 2, 3, np.nan, 5], [2, 4, 6, 8, 10]) == pytest.approx(1.0)
    assert np.isnan(curve_correlation([1, 2], [2, 1]))


def test_consensus_removes_what_the_piece_dictates():
    g = uniform_grid(0, 10, 1.0)
    shape = np.array([1.0, 1.1, 1.2, 1.1, 1.0, 0.9, 0.8, 0.9, 1.0, 1.0])
    from embedstore.alignment.curves import Curves

    curves = [
        Curves(g, g, shape * s, np.full(10, 50.0 + d), "reference")
        for s, d in ((1.0, 0.0), (1.25, 3.0), (0.8, -3.0))
    ]
    rel = relative_to_consensus(curves)
    for r in rel:
        st = style_statistics(r)
        assert st["rubato"] == pytest.approx(0.0, abs=1e-9)  # same shape as everyone: no own rubato
    assert np.log2(style_statistics(rel[1])["tempo"]) > 0 > np.log2(style_statistics(rel[2])["tempo"])


def test_phon_sone_inverse_and_chord_asynchrony():
    p = np.array([10.0, 30.0, 40.0, 70.0])
    assert sone_to_phon(phon_to_sone(p)) == pytest.approx(p, rel=1e-6)
    onsets = [0.0, 0.02, 0.03, 1.0, 1.01, 2.0]  # chords of 30 ms and 10 ms, a single note
    assert chord_asynchrony(onsets) == pytest.approx(0.02)
    assert np.isnan(chord_asynchrony([0.0, 1.0]))
