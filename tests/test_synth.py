"""embedstore.synth: determinism, manifest contents, and that pieces and performers behave as specified."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import soundfile as sf

from embedstore.audio import load_audio, rms_db
from embedstore.synth import (
    MANIFEST_COLUMNS,
    make_collection,
    make_performer,
    make_piece,
    render,
)
from embedstore.utils import sha256_file

SR = 22050


def chroma(y: np.ndarray, sr: int) -> np.ndarray:
    """Unit-norm pitch-class energy of a whole clip (power spectrum 60-2000 Hz folded onto 12 classes)."""
    n, hop = 4096, 2048
    frames = np.lib.stride_tricks.sliding_window_view(y, n)[::hop] * np.hanning(n)
    power = (np.abs(np.fft.rfft(frames, axis=1)) ** 2).sum(axis=0)
    f = np.fft.rfftfreq(n, 1 / sr)
    band = (f > 60) & (f < 2000)
    pc = np.round(12 * np.log2(f[band] / 440.0) + 69).astype(int) % 12
    c = np.bincount(pc, weights=power[band], minlength=12)
    return c / np.linalg.norm(c)


def read_manifest(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    manifest = make_collection(out, n_pieces=4, n_performers=3, seed=0)
    return manifest, read_manifest(manifest)


# --------------------------------------------------------------------------------------------- determinism


def test_pieces_performers_and_renders_are_deterministic():
    p1, p2 = make_piece("A/x", seed=3), make_piece("A/x", seed=3)
    assert p1.notes == p2.notes and p1.key == p2.key
    assert make_piece("A/x", seed=4).notes != p1.notes
    assert make_piece("A/y", seed=3).notes != p1.notes
    assert make_performer("P", seed=1) == make_performer("P", seed=1)
    assert make_performer("P", seed=1) != make_performer("Q", seed=1)

    perf = make_performer("P", seed=1)
    y1, a1 = render(p1, perf, seed=5)
    y2, a2 = render(p2, perf, seed=5)
    np.testing.assert_array_equal(y1, y2)
    assert a1 == a2
    y3, _ = render(p1, perf, seed=6)  # another performance of the same piece by the same performer
    assert y3.shape != y1.shape or not np.array_equal(y1, y3)


def test_collection_is_deterministic_for_a_seed(tmp_path):
    kw = dict(n_pieces=2, n_performers=2, n_bars=4)
    one = make_collection(tmp_path / "one", seed=3, **kw)
    two = make_collection(tmp_path / "two", seed=3, **kw)
    assert one.read_bytes() == two.read_bytes()
    for row in read_manifest(one):
        assert sha256_file(one.parent / row["audio"]) == sha256_file(two.parent / row["audio"])
    other = make_collection(tmp_path / "other", seed=4, **kw)
    assert read_manifest(other)[0]["beats"] != read_manifest(one)[0]["beats"]


# --------------------------------------------------------------------------------------------- manifest


def test_manifest_columns_and_values(collection):
    manifest, rows = collection
    assert len(rows) == 12
    assert list(rows[0].keys()) == list(MANIFEST_COLUMNS)
    assert len({r["clip_id"] for r in rows}) == 12
    assert len({r["piece_id"] for r in rows}) == 4 and len({r["performer_code"] for r in rows}) == 3
    by_piece: dict[str, set] = {}
    for r in rows:
        a = load_audio(manifest.parent / r["audio"])  # passes validation
        assert a.sample_rate == SR
        assert a.duration_s == pytest.approx(float(r["dur"]), abs=1e-3)
        assert 8.0 < a.duration_s < 30.0
        beats, downbeats = json.loads(r["beats"]), json.loads(r["downbeats"])
        assert np.all(np.diff(beats) > 0) and beats[0] == 0.0 and beats[-1] < a.duration_s
        assert set(downbeats) <= set(beats) and len(downbeats) == 8  # n_bars
        tempo = float(r["tempo_bpm"])
        assert tempo == pytest.approx(60.0 / np.median(np.diff(beats)), rel=0.15)
        assert 1 <= int(r["difficulty"]) <= 9
        assert 0.0 <= float(r["rating_dynamics"]) <= 1.0
        assert 1.0 <= float(r["mean_velocity"]) <= 127.0
        notes = json.loads((manifest.parent / r["notes"]).read_text())["notes"]
        assert np.mean([n["velocity"] for n in notes]) == pytest.approx(float(r["mean_velocity"]), abs=0.6)
        by_piece.setdefault(r["piece_id"], set()).add((r["composer"], r["difficulty"]))
    assert all(len(v) == 1 for v in by_piece.values()), "composer and difficulty are fixed per piece"


def test_difficulty_follows_note_density():
    pieces = [make_piece(f"X/p{i}", seed=0) for i in range(30)]
    density = np.array([len(p.notes) / p.n_beats for p in pieces])
    difficulty = np.array([p.difficulty for p in pieces])
    assert len(set(difficulty)) >= 5
    assert np.corrcoef(density, difficulty)[0, 1] > 0.9


# --------------------------------------------------------------------------------------------- musical behaviour


def test_same_piece_is_recognisable_by_pitch_content(collection):
    manifest, rows = collection
    c = np.array([chroma(sf.read(str(manifest.parent / r["audio"]))[0], SR) for r in rows])
    piece = np.array([r["piece_id"] for r in rows])
    sim = c @ c.T
    same = piece[:, None] == piece[None, :]
    off = ~np.eye(len(rows), dtype=bool)
    assert sim[same & off].mean() > sim[~same].mean() + 0.2
    nearest = np.argmax(np.where(off, sim, -np.inf), axis=1)
    assert np.all(piece[nearest] == piece)


def test_pitch_content_matches_the_score():
    piece = make_piece("X/key", seed=11)
    y, _ = render(piece, make_performer("P", seed=0), seed=0)
    c = chroma(y, SR)
    hist = piece.pitch_class_histogram()
    assert np.argmax(c) in np.argsort(hist)[-3:]  # the loudest pitch class is among the score's main ones
    assert np.corrcoef(c, hist)[0, 1] > 0.6


def test_louder_performer_gives_louder_audio():
    piece = make_piece("X/dyn", seed=2)
    common = dict(seed=0, tempo_bpm=100.0, dynamics_db_range=8.0, articulation=0.5, rubato=0.3)
    soft, soft_ann = render(piece, make_performer("soft", base_velocity=45.0, **common))
    loud, loud_ann = render(piece, make_performer("loud", base_velocity=95.0, **common))
    assert loud_ann["mean_velocity"] > soft_ann["mean_velocity"] + 30
    # amplitude ~ velocity^2, i.e. 40 log10(velocity ratio) dB
    expected = 40 * np.log10(loud_ann["mean_velocity"] / soft_ann["mean_velocity"])
    assert rms_db(loud) - rms_db(soft) == pytest.approx(expected, abs=2.0)
    assert np.max(np.abs(loud)) < 1.0


def test_performer_style_is_consistent_across_pieces(collection):
    manifest, rows = collection
    perf = np.array([r["performer_code"] for r in rows])
    for col in ("tempo_bpm", "mean_velocity"):
        v = np.array([float(r[col]) for r in rows])
        means = np.array([v[perf == p].mean() for p in np.unique(perf)])
        within = np.mean([v[perf == p].std() for p in np.unique(perf)])
        assert means.std() > 1.5 * within, col
    level = np.array([float(r["mean_velocity"]) for r in rows])
    loud = [rms_db(sf.read(str(manifest.parent / r["audio"]))[0]) for r in rows]
    assert np.corrcoef(level, loud)[0, 1] > 0.8


def test_wider_dynamic_range_gives_wider_loudness_swings():
    piece = make_piece("X/swing", seed=5)
    common = dict(seed=0, tempo_bpm=100.0, base_velocity=70.0, articulation=0.8, rubato=0.0)
    flat_y, flat = render(piece, make_performer("flat", dynamics_db_range=3.0, **common))
    wide_y, wide = render(piece, make_performer("wide", dynamics_db_range=22.0, **common))
    assert wide["dynamics_range_db"] > flat["dynamics_range_db"] + 8

    def frame_db(y):
        n = SR // 2
        f = y[: len(y) // n * n].reshape(-1, n)
        return 10 * np.log10(np.mean(f.astype(np.float64) ** 2, axis=1) + 1e-12)[:-2]  # drop the final decay

    assert np.std(frame_db(wide_y)) > np.std(frame_db(flat_y)) + 1.5


def test_articulation_and_tempo_shape_the_performance():
    piece = make_piece("X/art", seed=7)
    common = dict(seed=0, base_velocity=70.0, dynamics_db_range=6.0, rubato=0.0, timing_jitter_s=0.0)
    _, stacc = render(piece, make_performer("s", tempo_bpm=100.0, articulation=0.0, **common))
    _, leg = render(piece, make_performer("l", tempo_bpm=100.0, articulation=1.0, **common))
    held = [np.mean([n["offset"] - n["onset"] for n in a["notes"]]) for a in (stacc, leg)]
    assert held[1] > 2.5 * held[0]
    _, fast = render(piece, make_performer("f", tempo_bpm=140.0, articulation=1.0, **common))
    assert fast["beats"][-1] == pytest.approx(leg["beats"][-1] * 100 / 140, rel=0.02)
    assert fast["tempo_bpm"] == pytest.approx(140.0 * piece.tempo_factor, rel=0.02)
    # metronomic playing: onsets sit on the beat grid
    grid = np.interp([n[0] for n in piece.notes], np.arange(len(leg["beats"])), leg["beats"])
    onsets = np.array([n["onset"] for n in leg["notes"]])
    assert np.max(np.abs(np.sort(onsets) - np.sort(grid[: len(onsets)]))) < 0.01
