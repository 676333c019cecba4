"""Extra training audio for the frame models: tempo / velocity variants, meter inference, activation blends."""

from __future__ import annotations

import numpy as np
import pytest

from embedstore.encoders.madmom_rnn import madmom_available

needs_madmom = pytest.mark.skipif(not madmom_available(), reason="madmom not installed (extra 'madmom')")

ONSETS = [1.0, 2.0, 3.0, 4.5]
VELOCITIES = [40, 100, 120, 1]


def _write_midi(path):
    import pretty_midi

    pm = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    for t, v in zip(ONSETS, VELOCITIES):
        piano.notes.append(pretty_midi.Note(velocity=v, pitch=60, start=t, end=t + 0.4))
    piano.control_changes.append(pretty_midi.ControlChange(64, 127, 1.5))
    pm.instruments.append(piano)
    pm.write(str(path))


def _read(path):
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(str(path))
    notes = sorted(pm.instruments[0].notes, key=lambda n: n.start)
    cc = pm.instruments[0].control_changes
    return (
        np.array([n.start for n in notes]),
        np.array([n.end for n in notes]),
        np.array([n.velocity for n in notes]),
        [(c.number, c.value, c.time) for c in cc],
    )


def test_tempo_variant_divides_every_time_and_keeps_velocities(tmp_path):
    from embedstore.frames.variants import parse_variant, scale_midi

    _write_midi(tmp_path / "a.mid")
    scale_midi(tmp_path / "a.mid", tmp_path / "out" / "fast.mid", parse_variant("t1.25"))
    on, off, vel, cc = _read(tmp_path / "out" / "fast.mid")
    np.testing.assert_allclose(on, np.array(ONSETS) / 1.25, atol=1e-3)
    np.testing.assert_allclose(off - on, 0.4 / 1.25, atol=1e-3)
    assert vel.tolist() == VELOCITIES
    assert cc[0][:2] == (64, 127) and cc[0][2] == pytest.approx(1.5 / 1.25, abs=1e-3)


def test_velocity_variant_scales_rounds_and_clips_velocities_only(tmp_path):
    from embedstore.frames.annotations import read_note_onsets
    from embedstore.frames.variants import parse_variant, scale_midi

    _write_midi(tmp_path / "a.mid")
    scale_midi(tmp_path / "a.mid", tmp_path / "loud.mid", parse_variant("v1.2"))
    scale_midi(tmp_path / "a.mid", tmp_path / "soft.mid", parse_variant("v0.8"))
    on, _, vel, _ = _read(tmp_path / "loud.mid")
    np.testing.assert_allclose(on, ONSETS, atol=1e-3)
    assert vel.tolist() == [48, 120, 127, 1]  # 144 clipped to 127; 1.2 rounds to 1
    _, soft = read_note_onsets(tmp_path / "soft.mid")
    assert soft.tolist() == [32, 80, 96, 1]  # 0.8 rounds to 1 (velocity 0 would be a note-off)


def test_annotation_variant_scales_beats_and_keeps_labels(tmp_path):
    from embedstore.frames.annotations import read_asap_annotations
    from embedstore.frames.variants import scale_annotations

    src = tmp_path / "a_annotations.txt"
    src.write_text("0.6\t0.6\tdb,3/4,-2\n1.2\t1.2\tb\n1.8\t1.8\tb\n2.4\t2.4\tdb\n3.0\t3.0\tbR\n")
    scale_annotations(src, tmp_path / "v" / "a_annotations.txt", 0.8)
    a = read_asap_annotations(tmp_path / "v" / "a_annotations.txt")
    np.testing.assert_allclose(a.beats, np.array([0.6, 1.2, 1.8, 2.4, 3.0]) / 0.8)
    np.testing.assert_allclose(a.downbeats, np.array([0.6, 2.4]) / 0.8)
    assert a.time_signatures == [(pytest.approx(0.75), "3/4")]


def test_bad_variant_names_are_refused():
    from embedstore.errors import ConfigError
    from embedstore.frames.variants import parse_variant

    assert parse_variant("orig").tempo == 1.0 and parse_variant("t0.85").tempo == 0.85
    assert parse_variant("v1.2").velocity == 1.2
    for bad in ("x1.2", "t0", "vfast"):
        with pytest.raises(ConfigError):
            parse_variant(bad)


def test_louder_variant_gets_louder_dynamics_labels(tmp_path):
    import pretty_midi

    from embedstore.frames.targets import targets_from_row
    from embedstore.frames.variants import parse_variant, scale_midi

    pm = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    for i in range(40):
        piano.notes.append(pretty_midi.Note(velocity=50, pitch=60, start=0.25 * i, end=0.25 * i + 0.2))
    pm.instruments.append(piano)
    pm.write(str(tmp_path / "p.mid"))
    scale_midi(tmp_path / "p.mid", tmp_path / "f.mid", parse_variant("v1.6"))
    row = {"beats": "[0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0]", "downbeats": "[0.0, 2.0]", "t0": 0.0}
    lv = {}
    for name in ("p", "f"):
        tg = targets_from_row({**row, "midi": f"{name}.mid"}, duration=10.0, base_dirs=[tmp_path])
        lv[name] = tg.dynamics.levels[tg.dynamics.levels >= 0]
    assert len(lv["p"]) and lv["f"].mean() > lv["p"].mean()


def test_start_is_a_downbeat_that_leaves_the_length():
    from embedstore.frames.variants import choose_start

    db = np.arange(0.0, 100.0, 2.0)
    starts = set()
    for s in range(20):
        t0, dur = choose_start(db, 101.0, 30.0, np.random.default_rng(s))
        assert t0 in db and t0 + dur <= 101.0 and dur == 30.0
        starts.add(t0)
    assert len(starts) > 5  # different bars
    assert choose_start(db, 101.0, 500.0, np.random.default_rng(0)) == (0.0, 101.0)


def test_meter_is_the_most_common_bar_length():
    from embedstore.frames.evaluate import evaluate_clips, meter_of

    beats = np.arange(0.0, 20.0, 0.5)
    assert meter_of(beats, beats[::3]) == 3
    assert meter_of(beats, beats[1::4] + 0.01) == 4  # downbeats snap to the nearest beat
    assert meter_of(beats, beats[:1]) is None
    ref = {"beats": beats, "downbeats": beats[::3]}
    clips = [
        {"ref": ref, "est": {"beats": beats, "downbeats": beats[2::3]}},  # right meter, wrong phase
        {"ref": ref, "est": {"beats": beats, "downbeats": beats[::4]}},
        {"ref": ref, "est": {"beats": beats, "downbeats": beats[:1]}},  # no complete bar: wrong
        {"ref": {"beats": beats, "downbeats": beats[:1]}, "est": {"beats": beats, "downbeats": beats[::4]}},
    ]
    m = evaluate_clips(clips, n_boot=0)
    assert m["meter"]["value"] == pytest.approx(1 / 3) and m["meter"]["n"] == 3


def _acts(beats, downbeats, n, fr=50.0):
    t = np.arange(n) / fr
    b = np.full(n, 0.02)
    d = np.full(n, 0.01)
    for x in beats:
        b = np.maximum(b, 0.9 * np.exp(-0.5 * ((t - x) * fr) ** 2))
    for x in downbeats:
        d = np.maximum(d, 0.8 * np.exp(-0.5 * ((t - x) * fr) ** 2))
    return {"beat": b, "downbeat": d}


def test_blend_mixes_beat_and_downbeat_only():
    from embedstore.errors import ConfigError
    from embedstore.frames.ensemble import blend

    ours = {"beat": np.ones(5), "downbeat": np.zeros(5), "dynamics": np.full((5, 6), 1 / 6)}
    other = {"beat": np.zeros(4), "downbeat": np.ones(4)}
    m = blend(ours, other, 0.25)
    np.testing.assert_allclose(m["beat"], 0.25)
    np.testing.assert_allclose(m["downbeat"], [0.75, 0.75, 0.75, 0.75, 0.0])  # shorter other: padded with 0
    assert m["dynamics"] is ours["dynamics"]
    with pytest.raises(ConfigError):
        blend(ours, other, 1.5)


@needs_madmom
def test_blend_weight_follows_the_tracker_that_is_right_on_validation():
    from embedstore.frames.ensemble import tune_blend

    beats = np.arange(0.5, 20.0, 0.6)
    right = _acts(beats, beats[::3], 1050)
    wrong = _acts(beats + 0.25, (beats + 0.25)[::4], 1050)  # off-beat, wrong meter
    refs = [{"beats": beats, "downbeats": beats[::3]}]
    dbn = {"min_bpm": 40.0, "max_bpm": 240.0, "transition_lambda": 30.0}
    a = tune_blend([right], [wrong], refs, frame_rate=50.0, dbn=dbn)
    b = tune_blend([wrong], [right], refs, frame_rate=50.0, dbn=dbn)
    assert a["weight"] >= 0.75 and b["weight"] <= 0.25  # leans to the tracker that is right
    assert a["score"] > 0.9 and b["score"] > 0.9 and a["scores"][0.0] < 0.5 and b["scores"][1.0] < 0.5


def test_feature_blend_reads_the_part_columns_and_undoes_log1p():
    from embedstore.errors import ConfigError
    from embedstore.frames.ensemble import activations_from_features, apply_blend, blend_config
    from embedstore.frames.features import FrameFeaturizer

    fz = FrameFeaturizer(encoder="bssl+chroma")
    assert fz.part_columns() == {"bssl": (0, 23), "chroma": (23, 35)}
    with pytest.raises(ConfigError, match="madmom"):
        blend_config(fz, 0.5)  # no madmom part to blend with
    p = np.array([[0.2, 0.9], [0.0, 0.0], [1.0, 0.5]])
    feats = np.concatenate([np.log1p(p), np.full((3, 23), 7.0)], axis=1)  # madmom+bssl layout, log1p applied
    a = activations_from_features(feats, columns=(0, 2), compression="log1p")
    np.testing.assert_allclose(a["beat"], p[:, 0], atol=1e-12)
    np.testing.assert_allclose(a["downbeat"], p[:, 1], atol=1e-12)
    ours = {"beat": np.zeros(3), "downbeat": np.ones(3), "dynamics": np.zeros((3, 6))}
    cfg = {"part": "madmom", "columns": [0, 2], "compression": "log1p", "weight": 0.25}
    m = apply_blend(ours, feats, cfg)
    np.testing.assert_allclose(m["beat"], 0.75 * p[:, 0])
    np.testing.assert_allclose(m["downbeat"], 0.25 + 0.75 * p[:, 1])
    assert apply_blend(ours, feats, None) is ours
    with pytest.raises(ConfigError, match="compression"):
        activations_from_features(feats, columns=(0, 2), compression="sqrt")


def test_beats_at_another_metrical_level_score_only_in_the_any_level_measure():
    from embedstore.frames.evaluate import beat_f_any_level, beat_f_measure, evaluate_clips, metrical_levels

    ref = np.arange(1.0, 21.0, 0.5)
    double = np.sort(np.concatenate([ref, ref[:-1] + 0.25]))
    half_offbeat = ref[1::2]
    third = ref[2::3]
    for est in (double, half_offbeat, third, ref):
        assert beat_f_any_level(ref, est) == pytest.approx(1.0)
    assert beat_f_measure(ref, double) == pytest.approx(2 * 40 / (40 + 79))
    assert beat_f_measure(ref, half_offbeat) == pytest.approx(2 * 20 / (40 + 20))
    shifted = (
        ref + 0.085
    )  # off by more than the window at every level (levels put beats at +0.17, +0.25, ...)
    assert beat_f_any_level(ref, shifted) < 0.2
    assert len(metrical_levels(ref)) == 1 + 2 + 2 + 3 and len(metrical_levels([1.0])) == 1
    m = evaluate_clips(
        [{"ref": {"beats": ref}, "est": {"beats": double}}, {"ref": {"beats": ref}, "est": {"beats": ref}}],
        n_boot=0,
    )
    assert m["beat_any_level"]["value"] == pytest.approx(1.0) and m["beat"]["value"] < 0.9


@needs_madmom
def test_feature_blend_without_beat_annotations_is_a_clear_error():
    from embedstore.errors import ConfigError
    from embedstore.frames.ensemble import fit_feature_blend
    from embedstore.frames.features import FrameFeaturizer
    from embedstore.frames.items import FrameItem
    from embedstore.frames.targets import FrameTargets

    t = FrameTargets(duration=2.0, beats=np.zeros(0), downbeats=np.zeros(0), has_beats=False)
    it = FrameItem("a", "p", np.zeros((100, 25), np.float32), t, 50.0)
    with pytest.raises(ConfigError, match="no validation clips with beat annotations"):
        fit_feature_blend(None, [it], FrameFeaturizer(encoder="madmom+bssl"), thresholds={})
