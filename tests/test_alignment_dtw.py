"""DTW, multi-resolution alignment and subsequence search on synthetic sequences with a known warp."""

from __future__ import annotations

import numpy as np
import pytest

from embedstore.alignment.dtw import band_around_path, banded_dtw, cost_matrix
from embedstore.alignment.sequence import FrameFeatures, normalise_chroma
from embedstore.alignment.subsequence import find_matches
from embedstore.alignment.sync import align_features
from embedstore.errors import ConfigError


def notes(n: int, seed: int = 0, rate: float = 50.0) -> FrameFeatures:
    """A 'score' at ``rate`` frames/s: piecewise-constant quantised chroma (notes of 0.1-0.6 s), onsets at note
    starts decaying over 10 frames, onset-strength spikes and a slowly varying loudness."""
    rng = np.random.default_rng(seed)
    chroma = np.zeros((n, 12), np.float32)
    onsets = np.zeros((n, 12), np.float32)
    strength = np.zeros(n, np.float32)
    t = 0
    while t < n:
        d = int(rng.integers(int(0.1 * rate), int(0.6 * rate)))
        pcs = rng.choice(12, size=3, replace=False)
        chroma[t : t + d, pcs] = rng.integers(1, 5, 3)
        for k in range(min(10, n - t)):
            onsets[t + k, pcs] = np.sqrt(1.0 / (k + 1))
        strength[t] = 1.0
        t += d
    loud = (10 + 5 * np.sin(np.arange(n) / rate)).astype(np.float32)
    return FrameFeatures(chroma, onsets, strength, loud, rate)


def warped(f: FrameFeatures, w: np.ndarray) -> FrameFeatures:
    """The sequence played with a warp: output frame j shows input frame w[j] (w non-decreasing)."""
    idx = np.clip(np.round(w).astype(int), 0, len(f) - 1)
    first = np.concatenate([[True], idx[1:] != idx[:-1]])  # an onset sounds once, at its first frame
    strength = np.where(first, f.strength[idx], 0.0).astype(np.float32)
    return FrameFeatures(f.chroma[idx], f.onsets[idx], strength, f.loudness[idx], f.frame_rate)


def known_warp(m: int, n: int, depth: float = 0.15) -> np.ndarray:
    """A smooth monotone map of m output frames onto [0, n-1] with tempo changes of about +-depth."""
    u = np.linspace(0, 1, m)
    w = u + depth / (2 * np.pi * 3) * np.sin(2 * np.pi * 3 * u)
    return (w - w[0]) / (w[-1] - w[0]) * (n - 1)


def test_banded_dtw_with_full_band_matches_librosa():
    import librosa

    rng = np.random.default_rng(0)
    X = normalise_chroma(np.abs(rng.normal(size=(40, 12))))
    Y = normalise_chroma(np.abs(rng.normal(size=(33, 12))))
    path, total = banded_dtw(X, Y)
    C = cost_matrix(X, Y)
    D, wp = librosa.sequence.dtw(C=C, step_sizes_sigma=np.array([[1, 1], [1, 0], [0, 1]]))
    assert np.array_equal(path, wp[::-1])
    assert total == pytest.approx(D[-1, -1])


def test_banded_dtw_rejects_band_without_path():
    X = normalise_chroma(np.ones((10, 12)))
    lo, hi = np.zeros(10, np.int64), np.full(10, 3, np.int64)  # never reaches column 9
    with pytest.raises(ConfigError):
        banded_dtw(X, X[:10], band=(lo, hi))


def test_band_around_path_covers_the_projected_path():
    path = np.array([[0, 0], [1, 1], [2, 1], [3, 2]])
    lo, hi = band_around_path(path, (4, 3), (8, 6), radius=1)
    assert lo[0] == 0 and hi[-1] == 6
    for i in range(8):  # each fine row keeps the columns of its coarse cells
        ci = i // 2
        cols = path[path[:, 0] == ci, 1]
        assert lo[i] <= 2 * cols.min() and hi[i] >= 2 * cols.max() + 2


@pytest.mark.parametrize("ends", ["fixed", "free"])
def test_multires_alignment_recovers_known_warp(ends):
    a = notes(3000, seed=1)  # 60 s
    w = known_warp(3600, 3000)  # B is 20 % slower on average, with tempo waves
    b = warped(a, w)
    al = align_features(a, b, ends=ends)
    j = np.arange(0, 3600, 25)
    est = al.time_map.inverse()(j / 50.0) * 50.0  # B frame -> A frame
    err = np.abs(est - w[j])
    assert np.median(err) <= 1.0 and np.percentile(err, 95) <= 5.0
    assert al.confidence > 0.7
    assert [lv["rate"] for lv in al.levels] == [1.0, 2.0, 10.0, 50.0]


def test_free_ends_align_only_the_shared_part():
    a = notes(3000, seed=2)
    w = known_warp(2400, 3000)
    b = warped(a, w)
    extra = notes(500, seed=99)  # 10 s of other music before B's copy of A
    b2 = FrameFeatures(
        np.concatenate([extra.chroma, b.chroma]),
        np.concatenate([extra.onsets, b.onsets]),
        np.concatenate([extra.strength, b.strength]),
        np.concatenate([extra.loudness, b.loudness]),
        50.0,
    )
    al = align_features(a, b2, ends="free")
    b0, b1 = al.time_map.valid_b
    assert b0 == pytest.approx(10.0, abs=0.5) and b1 == pytest.approx(b2.duration_s, abs=0.5)
    t = np.array([10.0, 20.0, 40.0, 55.0])  # A seconds
    truth = 10.0 + np.interp(t * 50, w, np.arange(2400)) / 50
    assert np.max(np.abs(al.time_map(t) - truth)) < 0.1


def test_unrelated_recordings_get_low_confidence():
    a, b = notes(1500, seed=3), notes(1500, seed=4)
    same = align_features(a, warped(a, known_warp(1700, 1500)))
    other = align_features(a, b, ends="fixed")
    assert other.confidence < 0.35 < same.confidence


def test_hour_long_alignment_uses_a_band():
    a = notes(3600 * 10, seed=5, rate=10.0)  # one hour at 10 frames/s (the stored rate)
    b = warped(a, known_warp(int(3600 * 10 * 1.1), len(a), depth=0.05))
    al = align_features(a, b, onset_weight=0.0)
    full = len(a) * len(b)
    assert sum(lv["cells"] for lv in al.levels) < 0.01 * full
    j = np.arange(0, len(b), 997)
    w = known_warp(len(b), len(a), depth=0.05)
    err = np.abs(al.time_map.inverse()(j / 10.0) * 10.0 - w[j])
    assert np.median(err) <= 1.0


def test_subsequence_finds_inserted_passage():
    base = notes(3000, seed=6, rate=10.0)  # a 5 min recording at 10 frames/s
    q = warped(base.slice(120.0, 130.0), known_warp(130, 100, depth=0.1))  # 10 s passage played 30 % slower
    X, Y = normalise_chroma(q.chroma), normalise_chroma(base.chroma)
    m = find_matches(X, Y, frame_rate=10.0, n_matches=3)
    assert m[0].start_s == pytest.approx(120.0, abs=0.15) and m[0].end_s == pytest.approx(130.0, abs=0.15)
    assert m[0].confidence > 0.8 > m[1].confidence
    assert all(abs(x.start_s - 120.0) > 5 for x in m[1:])  # further matches are elsewhere


def test_subsequence_rejects_tiny_query():
    with pytest.raises(ConfigError):
        find_matches(np.ones((1, 12)), np.ones((50, 12)), frame_rate=10.0)


def test_subsequence_margin_flags_repeated_passages():
    base = notes(3000, seed=7, rate=10.0)
    q = base.slice(100.0, 110.0)
    X = normalise_chroma(q.chroma)
    unique = find_matches(X, normalise_chroma(base.chroma), frame_rate=10.0)[0]
    rep = np.concatenate([base.chroma, base.chroma[1000:1100]])  # the passage comes back at the end
    twice = find_matches(X, normalise_chroma(rep), frame_rate=10.0)[0]
    assert unique.margin > 0.5
    assert twice.confidence > 0.9 and abs(twice.margin) < 0.05
    assert unique.as_dict()["margin"] == pytest.approx(unique.margin, abs=1e-4)


@pytest.mark.parametrize("ends", ["fixed", "free"])
def test_chunked_dtw_matches_the_whole_band(ends):
    a = notes(6000, seed=8, rate=10.0)
    w = known_warp(6600, 6000, depth=0.1)
    b = warped(a, w)
    whole = align_features(a, b, ends=ends, onset_weight=0.0)
    pieces = align_features(a, b, ends=ends, onset_weight=0.0, max_band_cells=20_000)
    j = np.arange(0, 6600, 37)
    t = j / 10.0
    diff = np.abs(whole.time_map.inverse()(t) - pieces.time_map.inverse()(t))
    assert np.percentile(diff, 99) <= 0.1  # the same path up to a frame
    err = np.abs(pieces.time_map.inverse()(t) * 10.0 - w[j])
    assert np.median(err) <= 1.0
