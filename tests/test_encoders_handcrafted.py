"""Handcrafted encoders (chroma, logmel, mfcc, bssl): shapes, registry, musical and loudness behaviour."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from embedstore.encoders import available_encoders, get_encoder, register_encoder
from embedstore.encoders.bssl import (
    bark_bands,
    bark_specific_loudness,
    phon_to_sone,
    total_loudness,
)
from embedstore.errors import ConfigError, EncoderError

SR = 22050
HANDCRAFTED = ["chroma", "logmel", "mfcc", "bssl"]
EXPECTED = {  # name: (frame_dim, dim)
    "chroma": (12, 24),
    "logmel": (128, 256),
    "mfcc": (40, 80),
    "bssl": (23, 53),
}


def tone(freqs, dur=2.0, amp=0.1, n_harmonics=6, sr=SR):
    """Sum of piano-ish tones (decaying harmonics, 1/h amplitude) at the given fundamentals."""
    t = np.arange(int(dur * sr)) / sr
    x = np.zeros_like(t)
    for f0 in np.atleast_1d(freqs):
        for h in range(1, n_harmonics + 1):
            if h * f0 < sr / 2:
                x += np.sin(2 * np.pi * h * f0 * t) / h
    x *= np.exp(-t / 3.0)
    return (amp * x / np.max(np.abs(x))).astype(np.float32)


def sine(freq, dur=2.0, amp=0.1, sr=SR):
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(dur * sr)) / sr)).astype(np.float32)


def midi_hz(m):
    return 440.0 * 2 ** ((np.asarray(m) - 69) / 12)


# --- shapes, registry -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", HANDCRAFTED)
def test_shapes_dims_and_frame_rate(name):
    enc = get_encoder(name)
    frame_dim, dim = EXPECTED[name]
    entry = available_encoders()[name]
    assert entry.kind == "handcrafted" and entry.dim == dim == enc.dim and entry.n_layers == 1
    assert enc.frame_dim == frame_dim and enc.layer_names == ["L0"] and enc.frame_rate == 50.0
    assert enc.sample_rate == SR
    rng = np.random.default_rng(0)
    for dur, n_frames in [(enc.min_window_s, 25), (2.0, 100), (3.01, 150)]:
        w = (0.05 * rng.standard_normal((3, int(round(dur * SR))))).astype(np.float32)
        f = enc.frames(w)
        e = enc.embed(w)
        assert f.shape == (1, 3, n_frames, frame_dim) and f.dtype == np.float32
        assert e.shape == (1, 3, dim) and e.dtype == np.float32
    # Each window is encoded on its own: batching does not change the result.
    np.testing.assert_allclose(enc.embed(w[1:2])[0, 0], e[0, 1], rtol=1e-4, atol=1e-5)
    p = enc.provenance()
    assert p["dim"] == dim and p["params"]["hop_length"] == 441 and "n_fft" in p["params"]


@pytest.mark.parametrize("name", HANDCRAFTED)
def test_silence_is_finite(name):
    enc = get_encoder(name)
    w = np.zeros((2, SR), dtype=np.float32)
    assert np.all(np.isfinite(enc.frames(w))) and np.all(np.isfinite(enc.embed(w)))


@pytest.mark.parametrize("name", HANDCRAFTED)
def test_bad_windows_rejected(name):
    enc = get_encoder(name)
    with pytest.raises(EncoderError):
        enc.embed(np.zeros(SR, dtype=np.float32))  # 1-D
    with pytest.raises(EncoderError):
        enc.embed(np.zeros((1, int(0.2 * SR)), dtype=np.float32))  # shorter than min_window_s
    bad = np.zeros((1, SR), dtype=np.float32)
    bad[0, 10] = np.nan
    with pytest.raises(EncoderError):
        enc.embed(bad)


def test_registry_rejects_duplicate_name():
    @register_encoder("test-throwaway-duplicate", kind="handcrafted", sample_rate=SR, dim=1, n_layers=1)
    def factory():  # pragma: no cover - never built
        raise AssertionError

    with pytest.raises(ConfigError):
        register_encoder("test-throwaway-duplicate", kind="handcrafted", sample_rate=SR)(factory)
    with pytest.raises(ConfigError):  # built-in names are protected too
        register_encoder("chroma", kind="handcrafted", sample_rate=SR)(factory)


def test_invalid_options_are_config_errors():
    with pytest.raises(ConfigError):
        get_encoder("logmel", n_mels=0)
    with pytest.raises(ConfigError):
        get_encoder("chroma", n_fft=3000)
    with pytest.raises(ConfigError):
        total_loudness(np.ones((3, 23)), method="loudest")


# --- chroma -----------------------------------------------------------------------------------------------


def test_chroma_triad_peaks_and_semitone_roll():
    enc = get_encoder("chroma")
    c_major = tone(midi_hz([60, 64, 67]))  # C4 E4 G4
    c_sharp = tone(midi_hz([61, 65, 68]))  # one semitone up
    fa = enc.frames(np.stack([c_major, c_sharp]))[0].mean(axis=1)  # (2, 12)
    assert set(np.argsort(fa[0])[-3:]) == {0, 4, 7}
    assert set(np.argsort(fa[1])[-3:]) == {1, 5, 8}
    # Transposing by a semitone rolls the chroma by one bin, in frames and in the CENS embedding.
    assert np.corrcoef(np.roll(fa[0], 1), fa[1])[0, 1] > 0.95
    assert np.corrcoef(fa[0], fa[1])[0, 1] < 0.5
    e = enc.embed(np.stack([c_major, c_sharp]))[0]
    np.testing.assert_allclose(np.roll(e[0, :12], 1), e[1, :12], atol=0.05)


def test_chroma_frames_unit_norm_and_loudness_invariant():
    enc = get_encoder("chroma")
    x = tone(midi_hz([57, 60, 64]))
    f = enc.frames(np.stack([x, 0.1 * x]))[0]
    np.testing.assert_allclose(np.linalg.norm(f[0], axis=-1), 1.0, atol=1e-4)
    e = enc.embed(np.stack([x, 0.1 * x]))[0]
    np.testing.assert_allclose(e[0], e[1], atol=0.02)


# --- logmel / mfcc ----------------------------------------------------------------------------------------


def test_logmel_level_and_peak_band():
    enc = get_encoder("logmel")
    lm = enc.frames(np.stack([sine(1000.0, amp=1.0), sine(1000.0, amp=0.1), np.zeros(2 * SR, np.float32)]))[0]
    mid = lm[:, 10:-10].mean(axis=1)  # (3, n_mels), away from the padded edges
    import librosa

    centres = librosa.mel_frequencies(n_mels=130, fmin=27.5, fmax=SR / 2)[1:-1]
    assert abs(centres[np.argmax(mid[0])] - 1000.0) < 60.0
    # -20 dB input -> -20 dB log-mel in the peak band; a full-scale sine reads about 0 dB; silence is the floor.
    k = np.argmax(mid[0])
    assert mid[0, k] - mid[1, k] == pytest.approx(20.0, abs=0.1)
    assert -3.0 < mid[0, k] < 0.5
    assert np.allclose(mid[2], -100.0, atol=1e-3)


def test_mfcc_c0_follows_level_and_deltas_track_change():
    enc = get_encoder("mfcc")
    x = (0.1 * np.random.default_rng(1).standard_normal(2 * SR)).astype(np.float32)  # every band above floor
    f = enc.frames(np.stack([x, 0.1 * x]))[0]
    c0_gap = f[0, 10:-10, 0].mean() - f[1, 10:-10, 0].mean()
    assert c0_gap == pytest.approx(20.0 * np.sqrt(enc.n_mels), rel=0.05)  # 20 dB on every band, ortho DCT
    steady = sine(440.0, dur=2.0)
    d = enc.frames(steady[None])[0, 0, 10:-10, 20:]
    assert np.abs(d).max() < 0.5  # a steady tone has (near) zero deltas


# --- bssl -------------------------------------------------------------------------------------------------


def test_bark_bands_cover_up_to_nyquist():
    b = bark_bands(SR)
    assert len(b) == 23 and b[0, 0] == 0.0 and b[-1, 1] == SR / 2
    assert np.all(b[1:, 0] == b[:-1, 1])


def test_bssl_tone_lands_in_its_bark_band():
    spec = bark_specific_loudness(sine(1000.0, dur=1.0, amp=0.1))
    assert spec.shape == (50, 23)
    band = int(np.argmax(spec[5:-5].mean(axis=0)))
    lo, hi = bark_bands(SR)[band]
    assert band == 8 and lo < 1000.0 <= hi
    # A 4 kHz tone lands higher up.
    assert bark_bands(SR)[int(np.argmax(bark_specific_loudness(sine(4000.0))[5:-5].mean(0)))][1] == 4400


def test_bssl_full_scale_reference():
    # Full-scale 1 kHz sine: 96 dB SPL, minus Terhardt's ~3.4 dB at 1 kHz -> ~92.6 phon -> 2**5.26 sone.
    spec = bark_specific_loudness(sine(1000.0, dur=1.0, amp=1.0))
    peak = spec[5:-5, 8].mean()
    assert 40 + 10 * np.log2(peak) == pytest.approx(92.6, abs=0.5)


def test_bssl_plus_10_db_doubles_loudness():
    x = tone(midi_hz([55, 60, 64, 72]), dur=2.0, amp=0.01)  # about -40 dBFS peak: mid-range levels
    quiet, loud = bark_specific_loudness(np.stack([x, x * np.float32(10**0.5)]))
    tq, tl = total_loudness(quiet)[10:50], total_loudness(loud)[10:50]
    assert np.all(tl > tq)
    ratio = float(np.median(tl / tq))
    assert 1.8 < ratio < 2.4
    # Above 40 phon the sone scale doubles exactly per 10 phon.
    np.testing.assert_allclose(phon_to_sone([40, 50, 60, 70]), [1, 2, 4, 8])
    assert phon_to_sone(0.0) == 0.0 and phon_to_sone(20.0) == pytest.approx(0.5**2.642)


def test_bssl_silence_is_zero():
    spec = bark_specific_loudness(np.zeros(SR, dtype=np.float32))
    assert spec.shape == (50, 23) and np.all(spec == 0) and np.all(total_loudness(spec) == 0)
    e = get_encoder("bssl").embed(np.zeros((1, SR), np.float32))
    assert np.all(e == 0)


def test_bssl_encoder_matches_pure_function_and_orders_loudness():
    enc = get_encoder("bssl")
    x = tone(midi_hz([60, 67]), dur=3.0, amp=0.05)
    w = np.stack([x, 0.3 * x])
    f = enc.frames(w)
    np.testing.assert_allclose(f[0, 0], bark_specific_loudness(x), rtol=1e-6)
    e = enc.embed(w)[0]
    n = enc.n_bands
    # Total-loudness statistics (mean, std, p5..p95) are larger for the louder window; percentiles ascend.
    assert e[0, 2 * n] > e[1, 2 * n] and np.all(np.diff(e[0, 2 * n + 2 :]) >= 0)
    assert total_loudness(f[0]).shape == (2, 150)


# --- shared data: same-piece retrieval with chroma --------------------------------------------------------


@pytest.mark.shared
def test_chroma_same_piece_retrieval_map_on_asap_dev(shared_data):
    import soundfile as sf

    root = shared_data / "asap-dev"
    if not (root / "manifest.csv").is_file():
        pytest.skip("../shared data not found (set EMBEDSTORE_SHARED)")
    with open(root / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    enc = get_encoder("chroma")
    win, hop = 10 * SR, 5 * SR
    vecs, labels = [], []
    for r in rows:
        x, sr = sf.read(root / r["audio"], dtype="float32")
        assert sr == SR
        w = np.stack([x[s : s + win] for s in range(0, len(x) - win + 1, hop)])
        vecs.append(enc.embed(w)[0].mean(axis=0))  # recording = mean over windows
        labels.append(r["piece_id"])
    v = np.asarray(vecs)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    labels = np.asarray(labels)
    sim = v @ v.T
    np.fill_diagonal(sim, -np.inf)
    aps = []
    for q in range(len(v)):
        rel = labels[np.argsort(-sim[q], kind="stable")[:-1]] == labels[q]
        aps.append(np.mean(np.cumsum(rel)[rel] / (np.flatnonzero(rel) + 1)))
    assert np.mean(aps) > 0.7  # measured 0.996; chance is ~0.05 (3 relevant of 119)
