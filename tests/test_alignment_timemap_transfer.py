"""Time maps and annotation transfer: known warps, file formats, and beats carried between synthetic performances."""

from __future__ import annotations

import json

import numpy as np
import pytest

from embedstore.alignment.timemap import TimeMap
from embedstore.alignment.transfer import (
    read_annotations,
    transfer_annotations,
    transfer_times,
    write_annotations,
)
from embedstore.errors import ConfigError


def warp_map() -> TimeMap:
    """B plays A's first 10 s in 12 s, then the next 10 s in 8 s."""
    return TimeMap(np.array([0.0, 10.0, 20.0]), np.array([1.0, 13.0, 21.0]))


def test_timemap_maps_inverts_and_extrapolates():
    tm = warp_map()
    assert tm(5.0) == pytest.approx(7.0)
    assert tm(15.0) == pytest.approx(17.0)
    assert tm.inverse()(tm(np.array([0.5, 9.0, 19.5]))) == pytest.approx([0.5, 9.0, 19.5])
    assert tm(25.0, outside="extrapolate") == pytest.approx(21.0 + 5.0)  # mean slope 1
    assert np.isnan(tm(-1.0, outside="nan"))
    assert tm(-1.0, outside="clip") == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="valid values"):
        tm(1.0, outside="wrap")


def test_timemap_from_path_collapses_runs_to_a_strict_map():
    path = np.array([[0, 0], [1, 1], [1, 2], [1, 3], [2, 4], [3, 4], [4, 4], [5, 5]])
    tm = TimeMap.from_path(path, 10.0)
    assert np.all(np.diff(tm.a) > 0) and np.all(np.diff(tm.b) > 0)
    assert tm(0.1) == pytest.approx(0.2)  # the vertical run at A frame 1 becomes its midpoint
    with pytest.raises(ConfigError):
        TimeMap(np.array([0.0, 1.0, 1.0]), np.array([0.0, 1.0, 2.0]))


def test_timemap_round_trips_json_and_csv(tmp_path):
    tm = warp_map()
    for name in ("m.json", "m.csv"):
        p = tmp_path / name
        (tm.to_json if name.endswith("json") else tm.to_csv)(p)
        back = (TimeMap.from_json if name.endswith("json") else TimeMap.from_csv)(p)
        assert back.a == pytest.approx(tm.a) and back.b == pytest.approx(tm.b)
    (tmp_path / "bad.csv").write_text("x,y\n1,2\n")
    with pytest.raises(ConfigError, match="time_a"):
        TimeMap.from_csv(tmp_path / "bad.csv")


def test_timemap_composition():
    ab = warp_map()
    bc = TimeMap(np.array([0.0, 30.0]), np.array([0.0, 15.0]))  # C twice as fast as B
    ac = ab.compose(bc)
    assert ac(5.0) == pytest.approx(3.5)


def test_transfer_of_synthetic_beats_through_known_warp():
    beats = np.arange(0.0, 20.0, 0.5)
    out, kept = transfer_times(beats, warp_map())
    truth = np.where(beats <= 10, 1.0 + 1.2 * beats, 13.0 + 0.8 * (beats - 10))
    assert kept.all() and out == pytest.approx(truth)
    out2, kept2 = transfer_times([-1.0, 5.0, 30.0], warp_map())
    assert kept2.tolist() == [False, True, False] and out2 == pytest.approx([7.0])


@pytest.mark.parametrize(
    ("name", "text", "fmt"),
    [
        ("beats.csv", "time,label,bar\n0.5,db,1\n1.0,b,1\n10.0,db,2\n", "csv"),
        ("beats.txt", "0.5\t0.5\tdb,4/4\n1.0\t1.0\tb\n10.0\t10.0\tdb\n", "audacity"),
        ("beats.beats", "0.5 1\n1.0 2\n10.0 1\n", "text"),
        ("beats.json", json.dumps({"beats": [0.5, 1.0, 10.0], "downbeats": [0.5, 10.0]}), "json"),
    ],
)
def test_annotation_formats_keep_labels_through_transfer(tmp_path, name, text, fmt):
    src = tmp_path / name
    src.write_text(text)
    ann = read_annotations(src)
    assert ann.fmt == fmt
    moved, dropped = transfer_annotations(ann, warp_map())
    assert dropped == 0
    out = write_annotations(moved, tmp_path / "out" / name)
    back = read_annotations(out)
    assert back.fmt == fmt and len(back) == len(ann)
    assert back.times[:3] == pytest.approx(warp_map()(ann.times)[:3], abs=1e-4)
    if fmt in ("csv", "audacity"):
        assert back.labelled("db") == pytest.approx(warp_map()([0.5, 10.0]), abs=1e-4)


def test_unreadable_annotations_are_clear_errors(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("when,what\n1,a\n")
    with pytest.raises(ConfigError, match="no time column"):
        read_annotations(p)
    p.write_text("1.0\nabc\n")
    with pytest.raises(ConfigError, match="not a number"):
        read_annotations(p)
    with pytest.raises(ConfigError, match="no annotation file"):
        read_annotations(tmp_path / "missing.csv")


@pytest.fixture(scope="module")
def two_performances():
    from embedstore.synth import make_performer, make_piece, render

    piece = make_piece("Transfer", n_bars=12, seed=1)
    a = render(piece, make_performer("Arlen", seed=0))
    b = render(piece, make_performer("Brody", seed=0))
    return a, b


def test_beats_carried_between_synthetic_performances(two_performances):
    import mir_eval

    from embedstore.alignment.features import compute_features
    from embedstore.alignment.sync import align_features

    (xa, ann_a), (xb, ann_b) = two_performances
    al = align_features(compute_features(xa, 22050), compute_features(xb, 22050))
    est, kept = transfer_times(ann_a["beats"], al.time_map)
    assert kept.mean() > 0.95
    assert mir_eval.beat.f_measure(np.array(ann_b["beats"]), est) >= 0.9


def test_beats_transfer_when_the_other_take_starts_later(two_performances):
    import mir_eval

    from embedstore.alignment.features import compute_features
    from embedstore.alignment.sync import align_features

    (xa, ann_a), (xb, ann_b) = two_performances
    cut = 4.0  # B's recording starts 4 s into the music
    al = align_features(compute_features(xa, 22050), compute_features(xb[int(cut * 22050) :], 22050))
    est, kept = transfer_times(ann_a["beats"], al.time_map)
    truth = np.array(ann_b["beats"]) - cut
    truth = truth[truth >= 0.5]
    assert not kept[0]  # A's first beats have no counterpart
    assert mir_eval.beat.f_measure(truth, est[est >= 0.5]) >= 0.9
