"""Frame-level probes: targets, models, post-processing, metrics, training and persistence."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

FR = 50.0


# ------------------------------------------------------------------------------------------------ models
def test_msn_mmoe_has_0_3_to_0_8_m_parameters_with_bssl_input():
    from embedstore.frames.features import FrameFeaturizer
    from embedstore.frames.models import build_model, count_parameters

    dim = FrameFeaturizer(encoder="bssl").dim
    assert dim == 23
    m = build_model("msn-mmoe", dim)
    n = count_parameters(m)
    assert 300_000 <= n <= 800_000, n
    # the linear probe is tiny by comparison
    assert count_parameters(build_model("linear", dim)) < 5_000
    # the gates: one per task over 8 experts; the shared latent is 8-d
    assert set(m.gates) == {"dynamics", "change", "beat", "downbeat"}
    assert all(g.out_channels == 8 for g in m.gates.values())
    m.eval()
    with torch.no_grad():
        out = m(torch.randn(2, 101, dim))  # length not a multiple of the coarse path's stride
        z = m.shared_latent(torch.randn(1, 101, dim))
    assert out["dynamics"].shape == (2, 101, 6)
    assert all(out[t].shape == (2, 101) for t in ("change", "beat", "downbeat"))
    assert z.shape == (1, 8, 101)


def test_tcn_sees_about_10_s_either_side_and_saves_without_pickle(tmp_path):
    from embedstore.errors import ConfigError
    from embedstore.frames.features import FrameFeaturizer
    from embedstore.frames.models import build_model, count_parameters
    from embedstore.frames.persist import load_frame_model, save_frame_model

    m = build_model("tcn", 25, dropout=0.0)
    assert 5_000 <= count_parameters(m) <= 20_000
    m.eval()
    x = torch.zeros(1, 3000, 25)
    y = torch.zeros(1, 3000, 25)
    y[0, 1500] = 5.0  # one frame differs
    with torch.no_grad():
        d = (m(x)["beat"] - m(y)["beat"]).abs()[0]
    reach = torch.nonzero(d > 1e-7).flatten()
    rf = 2 * (2**8 - 1)  # kernel 5: +-2 taps x dilation per block, dilations 1..128
    assert reach.min() == 1500 - rf and reach.max() == 1500 + rf  # +-10.2 s at 50 frames/s, no further
    with pytest.raises(ConfigError, match="odd"):
        build_model("tcn", 25, kernel=4)
    fz = FrameFeaturizer(encoder="bssl")
    m23 = build_model("tcn", 23, channels=8, n_blocks=3)
    save_frame_model(tmp_path / "tcn", m23, fz)
    loaded = load_frame_model(tmp_path / "tcn")
    assert loaded.config["model"]["hparams"]["n_blocks"] == 3
    z = torch.randn(1, 200, 23)
    m23.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(z)["downbeat"], m23(z)["downbeat"])


def test_unknown_model_kind_lists_valid_values():
    from embedstore.errors import ConfigError
    from embedstore.frames.models import build_model

    with pytest.raises(ConfigError, match="msn-mmoe"):
        build_model("transformer", 23)


# ------------------------------------------------------------------------------------------------ targets
def test_velocity_to_level_mapping():
    from embedstore.frames.targets import DYNAMICS_LEVELS, velocity_to_level

    v = [1, 35, 36, 47, 48, 59, 60, 71, 72, 83, 84, 127]
    lv = velocity_to_level(v)
    assert [DYNAMICS_LEVELS[i] for i in lv] == [
        "pp",
        "pp",
        "p",
        "p",
        "mp",
        "mp",
        "mf",
        "mf",
        "f",
        "f",
        "ff",
        "ff",
    ]


def test_hysteresis_ignores_wobble_around_an_edge():
    from embedstore.frames.targets import levels_with_hysteresis

    wobble = [58, 61, 59, 62, 58, 61]  # around the mp/mf edge at 60
    assert len(set(levels_with_hysteresis(wobble).tolist())) == 1
    jump = [50, 50, 75, 75]
    assert levels_with_hysteresis(jump).tolist() == [2, 2, 4, 4]


@pytest.fixture()
def tiny_performance(tmp_path):
    """A 14 s MIDI performance (quiet first half, loud second half) and ASAP-style annotations, t0 = 2 s."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI()
    ins = pretty_midi.Instrument(program=0)
    beat_times = np.arange(0.0, 14.0, 0.5)
    for t in beat_times:
        vel = 40 if t < 8.0 else 90
        for pitch in (60, 64, 67):
            ins.notes.append(pretty_midi.Note(velocity=vel, pitch=pitch, start=float(t), end=float(t) + 0.3))
    pm.instruments.append(ins)
    midi = tmp_path / "perf.mid"
    pm.write(str(midi))
    ann = tmp_path / "perf_annotations.txt"
    lines = []
    for i, t in enumerate(beat_times):
        label = ("db,4/4,0" if i == 0 else "db") if i % 4 == 0 else "b"
        lines.append(f"{t:.6f}\t{t:.6f}\t{label}")
    ann.write_text("\n".join(lines) + "\n")
    return {"midi": midi.name, "annotations": ann.name, "t0": 2.0}, tmp_path


def test_targets_from_midi_and_annotations(tiny_performance):
    from embedstore.frames.annotations import read_asap_annotations
    from embedstore.frames.targets import targets_from_row

    row, base = tiny_performance
    ann = read_asap_annotations(base / row["annotations"])
    assert len(ann.beats) == 28 and len(ann.downbeats) == 7 and ann.time_signatures == [(0.0, "4/4")]
    tg = targets_from_row(row, duration=10.0, base_dirs=[base])
    # beats relative to t0 = 2 s, inside [0, 10)
    np.testing.assert_allclose(tg.beats, np.arange(0.0, 10.0, 0.5), atol=1e-6)
    np.testing.assert_allclose(tg.downbeats, [0.0, 2.0, 4.0, 6.0, 8.0], atol=1e-6)
    a = tg.arrays(500, FR)
    lv = a["dynamics"]
    # velocity 40 -> p before the change (performance time 8 s = clip time 6 s), 90 -> ff after it
    assert set(lv[: int(5.0 * FR)].tolist()) == {1}
    assert set(lv[int(7.0 * FR) :].tolist()) == {5}
    # exactly one change point, on a beat within one beat of the true change
    assert len(tg.change_points) == 1
    assert abs(tg.change_points[0] - 6.0) <= 0.5 + 1e-9
    assert tg.change_points[0] * 2 == pytest.approx(round(tg.change_points[0] * 2))
    # widened beat targets: 1 on the beat frame, 0.5 next to it, 0 in between beats
    assert a["beat"][0] == 1.0 and a["beat"][25] == 1.0 and a["beat"][26] == 0.5 and a["beat"][12] == 0.0
    assert a["downbeat"][100] == 1.0 and a["downbeat"][25] == 0.0
    assert a["change"].max() == 1.0


def test_targets_without_velocity_information_are_unknown():
    from embedstore.frames.targets import targets_from_row

    tg = targets_from_row({"beats": "[0.0, 1.0]", "downbeats": "[0.0]"}, duration=3.0)
    a = tg.arrays(150, FR)
    assert (a["dynamics"] == -1).all() and (a["change"] == -1).all()
    assert a["beat"][50] == 1.0
    # a clip-level velocity gives one level and no change-point targets
    tg = targets_from_row({"beats": "[0.0, 1.0]", "mean_velocity": 90}, duration=3.0)
    a = tg.arrays(150, FR)
    assert (a["dynamics"] == 5).all() and (a["change"] == -1).all()


# ------------------------------------------------------------------------------------------------ postprocess
def _bumps(times, n, *, height=0.9, width=1.5, noise=0.05, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    a = noise * rng.random(n)
    for c, h in zip(times, np.broadcast_to(height, len(times))):
        a = np.maximum(a, h * np.exp(-0.5 * ((t - c * FR) / width) ** 2))
    return a


def test_pick_peaks_recovers_events_above_threshold():
    from embedstore.frames.postprocess import pick_peaks

    true = np.array([0.0, 1.0, 2.5, 4.0, 9.98])
    a = _bumps(true, 500)
    a = np.maximum(a, _bumps([6.0], 500, height=0.3, noise=0))  # a weak bump below the threshold
    np.testing.assert_allclose(pick_peaks(a, frame_rate=FR, threshold=0.5), true, atol=1e-9)
    # two bumps 80 ms apart collapse to the higher one with min_distance_s=0.1
    b = np.maximum(_bumps([3.0], 500, height=0.9, noise=0), _bumps([3.08], 500, height=0.7, noise=0))
    assert pick_peaks(b, frame_rate=FR, threshold=0.5, min_distance_s=0.1).tolist() == [3.0]
    assert len(pick_peaks(np.zeros(100), frame_rate=FR)) == 0


def test_dbn_tracker_fills_missing_beats_where_peak_picking_cannot():
    from embedstore.frames.evaluate import beat_f_measure
    from embedstore.frames.postprocess import pick_peaks, track_beats

    beats = np.arange(0.4, 29.5, 0.5)  # 120 bpm
    a = _bumps(beats, 1500, width=1.0)
    a[[int(round(b * FR)) for b in beats[3::5]]] = 0.15  # every 5th beat nearly missing
    a = np.maximum(a, 0.0)
    for b in beats[3::5]:
        i = int(round(b * FR))
        a[i - 3 : i + 4] = 0.1
    peaks = pick_peaks(a, frame_rate=FR, threshold=0.5)
    tracked = track_beats(a, frame_rate=FR)
    assert beat_f_measure(beats, peaks) < 0.92
    assert beat_f_measure(beats, tracked) > 0.97


def test_downbeats_from_beats_finds_three_four():
    from embedstore.frames.postprocess import downbeats_from_beats

    beats = np.arange(0.5, 20.0, 0.5)
    d = _bumps(beats[1::3], 1000, height=0.8)
    down = downbeats_from_beats(beats, d, frame_rate=FR)
    np.testing.assert_allclose(down, beats[1::3])


def test_dynamics_smoothed_per_beat_is_constant_within_beats():
    from embedstore.frames.postprocess import dynamics_per_beat, level_changes

    n = 500
    probs = np.full((n, 6), 0.02)
    probs[:250, 1] = 0.9
    probs[250:, 4] = 0.9
    probs[120:123] = 0.0
    probs[120:123, 5] = 1.0  # a 3-frame blip inside a beat is voted away
    beats = np.arange(0.0, 10.0, 0.5)
    lv = dynamics_per_beat(probs, beats, frame_rate=FR, median_beats=1)
    assert set(lv[:250].tolist()) == {1} and set(lv[250:].tolist()) == {4}
    assert level_changes(lv, frame_rate=FR).tolist() == [5.0]


# ------------------------------------------------------------------------------------------------ metrics
def test_metrics():
    from embedstore.frames.evaluate import beat_f_measure, change_point_f1, dynamics_macro_f1, evaluate_clips

    ref = np.arange(1.0, 10.0, 0.5)
    assert beat_f_measure(ref, ref) == 1.0
    assert beat_f_measure(ref, ref + 0.06) == 1.0  # inside +-70 ms
    assert beat_f_measure(ref, ref + 0.1) == 0.0
    assert beat_f_measure([], []) == 1.0 and beat_f_measure(ref, []) == 0.0
    assert change_point_f1([5.0, 12.0], [5.8, 20.0], tolerance=1.0) == pytest.approx(0.5)
    assert change_point_f1([5.0], [6.5], tolerance=1.0) == 0.0
    r = np.array([0, 0, 1, 1, -1, -1])
    assert dynamics_macro_f1(r, np.array([0, 0, 1, 1, 5, 5])) == 1.0  # unknown frames ignored
    assert dynamics_macro_f1(r, np.array([0, 0, 0, 0, 0, 0])) == pytest.approx((2 / 3 + 0) / 2)
    clip = {
        "ref": {"beats": ref, "downbeats": ref[::4], "change_points": [3.0], "levels": r},
        "est": {"beats": ref, "downbeats": ref[1::4], "change_points": [3.2], "levels": r},
    }
    m = evaluate_clips([clip, clip, clip], groups=["a", "b", "c"], n_boot=50)
    assert m["beat"]["value"] == 1.0 and m["downbeat"]["value"] == 0.0
    assert m["dynamics"]["value"] == 1.0 and m["change"]["value"] == 1.0
    assert m["beat"]["ci_low"] == 1.0


# ------------------------------------------------------------------------------------------------ features
def test_features_are_on_the_common_grid_and_chunking_is_seamless():
    from embedstore.frames.features import FrameFeaturizer

    sr = 22050
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal(int(sr * 41.3))).astype(np.float32)
    fz = FrameFeaturizer(encoder="bssl", chunk_s=16.0)
    f = fz(x, sr)
    assert f.shape == (len(x) // 441, 23) and f.dtype == np.float32
    whole = FrameFeaturizer(encoder="bssl", chunk_s=60.0)(x, sr)
    np.testing.assert_allclose(f, whole, atol=1e-4)
    # a resampled input gives the same number of frames
    assert FrameFeaturizer(encoder="logmel")(x[: sr * 5], sr).shape == (250, 128)


def test_frames_at_another_rate_are_resampled_to_the_common_grid():
    from embedstore.frames.features import resample_frames

    t75 = np.arange(300) / 75.0  # e.g. the 75 Hz hidden states of a transformers encoder
    x = np.stack([t75, 2.0 * t75 + 1.0], axis=1)
    y = resample_frames(x, t75, 199, FR)
    t50 = np.arange(199) / FR
    np.testing.assert_allclose(y, np.stack([t50, 2.0 * t50 + 1.0], axis=1), atol=1e-5)


# ------------------------------------------------------------------------------------------------ training
@pytest.fixture(scope="module")
def synth_items(synth_collection):
    from embedstore.frames.features import FrameFeaturizer
    from embedstore.frames.items import load_items

    return load_items(synth_collection, FrameFeaturizer(encoder="bssl"), cache=False)


def test_synth_items_have_all_targets(synth_items):
    assert len(synth_items) == 9 and len({it.group for it in synth_items}) == 3
    for it in synth_items:
        a = it.target_arrays()
        assert it.features.shape == (it.n_frames, 23)
        assert (a["dynamics"] >= 0).all() and a["beat"].max() == 1.0 and a["downbeat"].max() == 1.0


@pytest.mark.parametrize("kind", ["msn-mmoe", "linear", "tcn"])
def test_a_few_training_steps_reduce_the_loss(synth_items, kind):
    from embedstore.frames.train import TrainConfig, evaluate_loss, loss_weights, train_frame_model

    items = synth_items[:4]
    cfg = TrainConfig(model=kind, lr=3e-3, epochs=20, batch_size=2, seed=0)
    cw, pw = loss_weights(items)
    before = train_frame_model(items, config=cfg, max_steps=1)  # one step: essentially the initial model
    after = train_frame_model(items, config=cfg, max_steps=30)
    kw = {"class_weights": cw, "pos_weights": pw, "task_weights": cfg.task_weights}
    l0, l1 = evaluate_loss(before.model, items, **kw), evaluate_loss(after.model, items, **kw)
    assert l1 < 0.9 * l0, (l0, l1)


def test_save_and_reload_gives_identical_outputs_without_pickle(synth_items, tmp_path):
    from embedstore.errors import ProvenanceError
    from embedstore.frames.features import FrameFeaturizer
    from embedstore.frames.inference import predict_activations
    from embedstore.frames.persist import load_frame_model, save_frame_model
    from embedstore.frames.train import TrainConfig, train_frame_model

    res = train_frame_model(synth_items[:3], config=TrainConfig(model="msn-mmoe", batch_size=3), max_steps=2)
    out = save_frame_model(
        tmp_path / "dyn",
        res.model,
        FrameFeaturizer(encoder="bssl"),
        thresholds={"beat": 0.5, "downbeat": 0.4, "change": 0.3},
    )
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors"]
    assert not (out / "model.safetensors").read_bytes().startswith(b"\x80")  # not a pickle stream
    loaded = load_frame_model(out)
    x = synth_items[5].features
    a, b = predict_activations(res.model, x), predict_activations(loaded.model, x)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert loaded.thresholds["change"] == 0.3 and loaded.config["model"]["kind"] == "msn-mmoe"
    cfg = json.loads((out / "config.json").read_text())
    assert (
        cfg["dynamics"]["levels"] == ["pp", "p", "mp", "mf", "f", "ff"]
        and "DERIVED" in cfg["dynamics"]["note"]
    )
    # a model used with features the encoder no longer produces is refused
    cfg["encoder_provenance"]["params"]["n_fft"] = 4096
    (out / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ProvenanceError, match="params"):
        load_frame_model(out)


def test_cross_validation_is_grouped_by_piece(synth_items):
    from embedstore.frames.crossval import cross_validate
    from embedstore.frames.train import TrainConfig

    cv = cross_validate(
        synth_items, config=TrainConfig(model="linear", epochs=2, batch_size=4), n_splits=3, n_boot=20
    )
    assert set(cv["metrics"]) == {
        "beat",
        "beat_any_level",
        "downbeat",
        "dynamics",
        "change",
        "change_from_levels",
        "meter",
    }
    assert len(cv["folds"]) == 3 and cv["n_groups"] == 3
    for c in cv["clips"]:
        same_piece = [d for d in cv["clips"] if d["key"].split("__")[:2] == c["key"].split("__")[:2]]
        assert {d["fold"] for d in same_piece} == {c["fold"]}
    for m in cv["metrics"].values():
        assert 0.0 <= m["value"] <= 1.0


def test_long_inputs_are_predicted_in_chunks_without_seams():
    from embedstore.frames.inference import predict_activations
    from embedstore.frames.models import build_model

    torch.manual_seed(0)
    m = build_model("msn-mmoe", 23)
    x = np.random.default_rng(0).standard_normal((6000, 23)).astype(np.float32)
    whole = predict_activations(m, x, chunk_s=1000.0)
    chunked = predict_activations(m, x, chunk_s=30.0, margin_s=15.0)
    for k in whole:
        assert chunked[k].shape == whole[k].shape
        np.testing.assert_allclose(chunked[k], whole[k], atol=1e-4)


def test_extra_training_audio_never_from_held_out_pieces(synth_items):
    from dataclasses import replace

    from embedstore.frames.crossval import cross_validate
    from embedstore.frames.train import TrainConfig

    extra = [replace(it, key=it.key + "__extra") for it in synth_items]  # one extra per clip, same piece
    outside = [replace(it, key=it.key + "__other", group="elsewhere/" + it.group) for it in synth_items[:2]]
    cv = cross_validate(
        synth_items,
        config=TrainConfig(model="linear", epochs=1, batch_size=4),
        n_splits=3,
        n_boot=0,
        extra_items=extra + outside,
    )
    for f in cv["folds"]:
        # the extras of the test piece and of the inner validation piece are left out; the two clips of pieces
        # outside the data (no fold tests them) train every fold
        assert f["n_train_extra"] == f["n_train"] + 2 and f["n_train"] > 0
        lo, hi = min(it.duration for it in synth_items), max(it.duration for it in synth_items)
        n = 2 * f["n_train"] + 2
        assert n * lo <= f["hours_train"] * 3600 + 2 <= n * hi + 4
    assert {c["key"] for c in cv["clips"]} == {it.key for it in synth_items}


def test_cross_validation_with_a_dynamics_model_changes_only_dynamics(synth_items):
    from embedstore.frames.crossval import cross_validate
    from embedstore.frames.train import TrainConfig

    cfg = TrainConfig(model="linear", epochs=1, batch_size=4)
    kw = {"n_splits": 3, "n_boot": 0}
    plain = cross_validate(synth_items, config=cfg, **kw)
    both = cross_validate(
        synth_items, config=cfg, dynamics_config=TrainConfig(model="tcn", epochs=1, batch_size=4), **kw
    )
    assert both["dynamics_config"]["model"] == "tcn" and both["n_parameters"] > plain["n_parameters"]
    for a, b in zip(plain["clips"], both["clips"]):
        # beats and downbeats come from the same (seeded) linear head; the levels from the other model
        np.testing.assert_array_equal(a["est"]["beats"], b["est"]["beats"])
        np.testing.assert_array_equal(a["est"]["downbeats"], b["est"]["downbeats"])
    assert any(
        not np.array_equal(a["est"]["levels"], b["est"]["levels"])
        for a, b in zip(plain["clips"], both["clips"])
    )
