"""embedstore.audio: decoding round trips, resampling, mixdown, every rejection reason, windowing."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from embedstore.audio import (
    Audio,
    frame_windows,
    is_audio_path,
    load_audio,
    probe_audio,
    resample,
    rms_db,
    to_mono,
)
from embedstore.errors import AudioError, ConfigError
from embedstore.utils import sha256_file


def tone(sr: int, dur: float, freq: float = 440.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(round(sr * dur))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_hz(x: np.ndarray, sr: int) -> float:
    """Frequency of the strongest spectral peak (Hann window, parabolic interpolation)."""
    x = np.asarray(x, dtype=np.float64)
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size), n=4 * x.size))
    i = int(np.argmax(spec[1:-1])) + 1
    a, b, c = np.log(spec[i - 1 : i + 2] + 1e-300)
    frac = 0.5 * (a - c) / (a - 2 * b + c)
    return (i + frac) * sr / (4 * x.size)


def reason_of(path, **kw) -> str:
    with pytest.raises(AudioError) as ei:
        load_audio(path, **kw)
    e = ei.value
    assert "\n" not in str(e), "messages are one line"
    assert e.path is not None and e.hint
    return e.reason


# --------------------------------------------------------------------------------------------- decoding


@pytest.mark.parametrize(
    "ext, subtype, lossy",
    [
        ("wav", "PCM_16", False),
        ("wav", "FLOAT", False),
        ("flac", "PCM_16", False),
        ("aiff", "PCM_16", False),
        ("ogg", "VORBIS", True),
        ("mp3", "MPEG_LAYER_III", True),
    ],
)
def test_round_trip_through_soundfile_formats(tmp_path, ext, subtype, lossy):
    sr = 22050
    x = tone(sr, 1.5)
    path = tmp_path / f"tone.{ext}"
    sf.write(str(path), x, sr, subtype=subtype)
    info = probe_audio(path)
    assert info["sample_rate"] == sr and info["channels"] == 1
    assert info["duration_s"] == pytest.approx(1.5, abs=0.06)

    a = load_audio(path)
    assert isinstance(a, Audio)
    assert a.samples.dtype == np.float32 and a.samples.ndim == 1
    assert a.sample_rate == sr and a.path == str(path)
    assert a.duration_s == pytest.approx(1.5, abs=0.06 if lossy else 1e-9)
    assert peak_hz(a.samples, sr) == pytest.approx(440.0, abs=1.0)
    assert rms_db(a.samples) == pytest.approx(rms_db(x), abs=0.5)
    if not lossy:
        np.testing.assert_allclose(a.samples, x, atol=1e-4)


def _write_m4a(path, x: np.ndarray, sr: int) -> None:
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("aac", rate=sr)
        s.layout = "stereo"
        stereo = np.ascontiguousarray(np.stack([x, x]))
        frame = av.AudioFrame.from_ndarray(stereo, format="fltp", layout="stereo")
        frame.sample_rate = sr
        for pkt in s.encode(frame):
            c.mux(pkt)
        for pkt in s.encode(None):
            c.mux(pkt)


def test_m4a_is_decoded_with_pyav(tmp_path):
    av = pytest.importorskip("av")
    if "aac" not in av.codecs_available:
        pytest.skip("this FFmpeg build has no AAC encoder")
    sr = 44100
    x = tone(sr, 2.0, amp=0.25)
    path = tmp_path / "tone.m4a"
    _write_m4a(path, x, sr)
    with pytest.raises(sf.LibsndfileError):  # libsndfile cannot read it: the fallback is under test
        sf.info(str(path))
    info = probe_audio(path)
    assert info["backend"] == "av" and info["channels"] == 2
    a = load_audio(path, sample_rate=22050)
    assert a.sample_rate == 22050
    assert a.duration_s == pytest.approx(2.0, abs=0.1)  # AAC adds encoder priming/padding
    mid = a.samples[int(0.3 * 22050) : int(1.7 * 22050)]
    assert peak_hz(mid, 22050) == pytest.approx(440.0, abs=1.0)
    assert rms_db(mid) == pytest.approx(rms_db(x), abs=1.0)  # mono mix of two equal channels


def test_stereo_is_mixed_down_to_the_channel_mean(tmp_path):
    sr = 16000
    left, right = tone(sr, 1.0, 300.0, 0.4), tone(sr, 1.0, 700.0, 0.2)
    path = tmp_path / "stereo.wav"
    sf.write(str(path), np.stack([left, right], axis=1), sr, subtype="FLOAT")
    a = load_audio(path)
    np.testing.assert_allclose(a.samples, (left + right) / 2, atol=1e-6)
    assert probe_audio(path)["channels"] == 2


def test_to_mono_shapes():
    x = np.arange(12, dtype=np.float64).reshape(6, 2)
    m = to_mono(x)
    assert m.shape == (6,) and m.dtype == np.float32
    np.testing.assert_allclose(m, x.mean(axis=1))
    assert to_mono(x[:, 0]).shape == (6,)
    with pytest.raises(ConfigError):
        to_mono(np.zeros((2, 2, 2)))


# --------------------------------------------------------------------------------------------- resampling


def test_resample_keeps_frequency_and_duration():
    x = tone(44100, 2.0, 440.0)
    y = resample(x, 44100, 24000)
    assert y.dtype == np.float32
    assert y.shape[0] == pytest.approx(48000, abs=1)
    assert peak_hz(y, 24000) == pytest.approx(440.0, abs=0.5)
    assert rms_db(y[1000:-1000]) == pytest.approx(rms_db(x), abs=0.1)
    assert resample(x, 44100, 44100) is not None and resample(x, 44100, 44100).shape == x.shape


def test_load_audio_resamples_on_request(tmp_path):
    path = tmp_path / "hi.flac"
    sf.write(str(path), tone(44100, 1.0, 1000.0), 44100)
    a = load_audio(path, sample_rate=24000)
    assert a.sample_rate == 24000 and a.samples.shape[0] == pytest.approx(24000, abs=1)
    assert peak_hz(a.samples, 24000) == pytest.approx(1000.0, abs=1.0)
    with pytest.raises(ConfigError):
        load_audio(path, sample_rate=0)


def test_resample_removes_content_above_the_new_nyquist():
    x = tone(44100, 1.0, 15000.0)  # above 12 kHz: must not alias into the 24 kHz signal
    y = resample(x, 44100, 24000)
    assert rms_db(y[500:-500]) < rms_db(x) - 60


# --------------------------------------------------------------------------------------------- rejections


def test_every_bad_file_is_refused_with_its_reason(tmp_path):
    from embedstore.synth import write_bad_files

    expected = write_bad_files(tmp_path)
    assert set(expected.values()) >= {"corrupt", "empty", "not_audio", "truncated", "silent"}
    got = {name: reason_of(tmp_path / name) for name in expected}
    assert got == expected


def test_truncated_wav_is_flagged_by_probe(tmp_path):
    from embedstore.synth import write_bad_files

    write_bad_files(tmp_path)
    info = probe_audio(tmp_path / "truncated.wav")
    assert info["truncated"] and info["available_bytes"] < info["declared_bytes"]
    assert not probe_audio(tmp_path / "silent.wav")["truncated"]
    # without validation the part that is there is returned
    a = load_audio(tmp_path / "truncated.wav", validate=False)
    assert 0.9 < a.duration_s < 1.1


def test_truncated_mp3_is_refused(tmp_path):
    path = tmp_path / "full.mp3"
    sf.write(str(path), tone(44100, 2.0), 44100)
    data = path.read_bytes()
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(data[: len(data) // 2])
    assert reason_of(cut) == "truncated"


def test_non_finite_samples_are_refused(tmp_path):
    x = tone(22050, 1.0)
    x[1000] = np.nan
    x[2000] = np.inf
    path = tmp_path / "nan.wav"
    sf.write(str(path), x, 22050, subtype="FLOAT")
    assert reason_of(path) == "non_finite"
    assert np.isnan(load_audio(path, validate=False).samples[1000])


def test_duration_limits(tmp_path):
    path = tmp_path / "two_seconds.wav"
    sf.write(str(path), tone(22050, 2.0), 22050)
    assert reason_of(path, max_duration_s=1.0) == "too_long"
    assert reason_of(path, min_duration_s=3.0) == "too_short"
    assert load_audio(path, max_duration_s=2.5).duration_s == pytest.approx(2.0)
    short = tmp_path / "blip.wav"
    sf.write(str(short), tone(22050, 0.05), 22050)
    assert reason_of(short) == "too_short"


def test_silence_threshold(tmp_path):
    quiet = tmp_path / "quiet.wav"
    sf.write(str(quiet), tone(22050, 1.0, amp=10 ** (-57 / 20)), 22050, subtype="FLOAT")  # about -60 dBFS
    assert load_audio(quiet).samples.size == 22050  # default threshold is -70 dBFS
    assert reason_of(quiet, silence_db=-50.0) == "silent"


def test_missing_and_directory(tmp_path):
    assert reason_of(tmp_path / "nope.flac") == "missing"
    assert reason_of(tmp_path) == "not_audio"
    with pytest.raises(AudioError) as ei:
        probe_audio(tmp_path / "nope.flac")
    assert ei.value.reason == "missing"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can read anything")
def test_unreadable(tmp_path):
    path = tmp_path / "locked.wav"
    sf.write(str(path), tone(22050, 1.0), 22050)
    path.chmod(0)
    try:
        assert reason_of(path) == "unreadable"
    finally:
        path.chmod(0o644)


def test_damaged_container_is_corrupt_not_not_audio(tmp_path):
    path = tmp_path / "half.flac"
    sf.write(str(path), tone(22050, 2.0), 22050)
    data = path.read_bytes()
    path.write_bytes(data[:20])  # magic survives, header does not
    assert reason_of(path) == "corrupt"


# --------------------------------------------------------------------------------------------- windowing


def test_windows_keep_a_last_partial_window_only_if_at_least_half_full():
    sr = 100
    x = np.arange(30 * sr, dtype=np.float32) + 1.0  # no zeros
    w, starts = frame_windows(x[: 25 * sr], sr, window_s=10.0, hop_s=5.0)
    assert w.shape == (5, 1000) and w.dtype == np.float32
    np.testing.assert_array_equal(starts, [0.0, 5.0, 10.0, 15.0, 20.0])
    assert np.all(w[-1, :500] > 0) and np.all(w[-1, 500:] == 0)  # 5 s of audio + 5 s of padding
    np.testing.assert_array_equal(w[1], x[500:1500])

    w, starts = frame_windows(x[: 24 * sr], sr, window_s=10.0, hop_s=10.0)  # tail of 4 s < half a window
    np.testing.assert_array_equal(starts, [0.0, 10.0])
    w, starts = frame_windows(x[: 26 * sr], sr, window_s=10.0, hop_s=10.0)  # tail of 6 s is kept
    np.testing.assert_array_equal(starts, [0.0, 10.0, 20.0])
    assert w.shape == (3, 1000) and w[2, 599] > 0 and w[2, 600] == 0
    # with overlap, at most one partial window follows the last full one
    w, starts = frame_windows(x[: 24 * sr], sr, window_s=10.0, hop_s=5.0)
    np.testing.assert_array_equal(starts, [0.0, 5.0, 10.0, 15.0])


def test_short_recording_gives_one_padded_window():
    sr = 100
    x = np.ones(3 * sr, dtype=np.float32)
    w, starts = frame_windows(x, sr, window_s=10.0, hop_s=5.0)
    assert w.shape == (1, 1000)
    np.testing.assert_array_equal(starts, [0.0])
    assert w[0, :300].sum() == 300 and not np.any(w[0, 300:])
    w, starts = frame_windows(np.zeros(0, np.float32), sr, window_s=1.0, hop_s=1.0)
    assert w.shape == (0, 100) and starts.shape == (0,)


def test_passage_windowing_never_reads_past_end_s():
    sr = 100
    x = np.ones(30 * sr, dtype=np.float32)
    w, starts = frame_windows(x, sr, window_s=10.0, hop_s=5.0, start_s=7.0, end_s=19.0)
    np.testing.assert_array_equal(starts, [7.0, 12.0])
    assert w[0].sum() == 1000
    assert w[1, :700].sum() == 700 and not np.any(w[1, 700:])  # zeros, not audio after end_s


def test_window_starts_are_exact_sample_positions():
    sr = 22050
    x = np.random.default_rng(0).standard_normal(5 * sr).astype(np.float32)
    w, starts = frame_windows(x, sr, window_s=0.96, hop_s=0.3)
    idx = np.round(starts * sr).astype(int)
    np.testing.assert_allclose(starts, idx / sr, rtol=0, atol=1e-12)
    np.testing.assert_allclose(starts, np.arange(len(starts)) * 0.3, atol=0.5 / sr)  # no drift
    for k in (0, len(starts) // 2):
        np.testing.assert_array_equal(w[k], x[idx[k] : idx[k] + w.shape[1]])


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 400),
    win=st.integers(1, 80),
    hop=st.integers(1, 80),
    start=st.integers(0, 100),
    span=st.one_of(st.none(), st.integers(1, 300)),
)
def test_windows_cover_the_passage(n, win, hop, start, span):
    sr = 10
    x = np.arange(1, n + 1, dtype=np.float32)  # sample i holds i + 1, so zeros are padding
    end_s = None if span is None else (start + span) / sr
    w, starts = frame_windows(x, sr, window_s=win / sr, hop_s=hop / sr, start_s=start / sr, end_s=end_s)
    a = min(start, n)
    b = n if span is None else min(n, start + span)
    assert w.shape == (len(starts), win)
    if b <= a:
        assert len(starts) == 0
        return
    assert len(starts) >= 1 and np.all(np.diff(starts) > 0)
    idx = np.round(starts * sr).astype(int)
    np.testing.assert_array_equal(idx - a, np.arange(len(idx)) * hop)
    for k, i in enumerate(idx):
        seg = x[i : min(b, i + win)]
        np.testing.assert_array_equal(w[k, : seg.size], seg)
        assert not np.any(w[k, seg.size :])
        assert seg.size == win or k == len(idx) - 1  # only the last window may be padded
    uncovered = b - min(b, idx[-1] + win)
    assert uncovered < win / 2 + hop  # what is left out is less than half a window past the last hop
    if b - a < win:
        assert len(idx) == 1


@pytest.mark.parametrize(
    "kw",
    [
        dict(window_s=0.0, hop_s=1.0),
        dict(window_s=1.0, hop_s=0.0),
        dict(window_s=1.0, hop_s=1.0, start_s=-1.0),
        dict(window_s=1.0, hop_s=1.0, start_s=2.0, end_s=1.0),
    ],
)
def test_bad_window_options_raise(kw):
    with pytest.raises(ConfigError):
        frame_windows(np.zeros(100, np.float32), 100, **kw)


# --------------------------------------------------------------------------------------------- helpers


def test_sha256_file_and_levels(tmp_path):
    p = tmp_path / "a.bin"
    p.write_bytes(b"x" * 3_000_000)
    assert sha256_file(p, chunk=4096) == hashlib.sha256(b"x" * 3_000_000).hexdigest()
    p2 = tmp_path / "b.bin"
    p2.write_bytes(b"x" * 2_999_999 + b"y")
    assert sha256_file(p2) != sha256_file(p)
    assert rms_db(tone(8000, 1.0, 100.0, amp=1.0)) == pytest.approx(-3.01, abs=0.02)
    assert rms_db(np.zeros(10)) == float("-inf")


def test_is_audio_path():
    assert is_audio_path("x/Take 1.WAV") and is_audio_path("a.flac") and is_audio_path("b.m4a")
    assert not is_audio_path("notes.txt") and not is_audio_path("._a.wav") and not is_audio_path("flac")
