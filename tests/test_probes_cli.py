"""`embedstore probe`, `benchmark` and `predict` on a store indexed from generated audio."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from embedstore.cli import app

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def difficulty_report(chroma_store, tmp_path_factory):
    out = tmp_path_factory.mktemp("probe_cli") / "report"
    res = _run(
        "probe",
        "--store",
        chroma_store.uri,
        "--task",
        "difficulty",
        "--target",
        "difficulty",
        "--group-by",
        "piece_id",
        "--layers",
        "all",
        "--pooling",
        "mean,max",
        "--out",
        out,
        "--n-boot",
        50,
        "--json",
    )
    assert res.exit_code == 0, res.output
    return out, json.loads(res.output)


def test_probe_writes_report_results_plot_and_model(difficulty_report):
    out, summary = difficulty_report
    for name in ("report.md", "results.csv", "results.json"):
        assert (out / name).is_file()
    assert list((out / "plots").glob("*.png"))
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert {r["pooling"] for r in rows} == {"mean", "max"}
    for r in rows:  # every metric has a CI around its value
        if r["value"] is not None:
            assert r["ci_low"] is not None and r["ci_high"] is not None
            assert r["ci_low"] - 1e-9 <= r["value"] <= r["ci_high"] + 1e-9
    majority = [r for r in rows if r["probe"] == "majority" and r["is_baseline"]]
    assert {r["metric"] for r in majority} >= {"accuracy", "within1_accuracy", "mae"}
    model = out / "difficulty" / "model"
    assert (model / "config.json").is_file() and (model / "model.safetensors").is_file()
    assert summary["models"]["difficulty"] == str(model)
    assert "majority" in (out / "report.md").read_text()


def test_predict_on_new_file_matches_stored_recording(difficulty_report, synth_collection):
    out, _ = difficulty_report
    audio = sorted((synth_collection.parent / "audio").glob("*.flac"))[0]
    by_file = _run("predict", "--probe", out / "difficulty" / "model", "--query", audio, "--json")
    assert by_file.exit_code == 0, by_file.output
    by_id = _run("predict", "--probe", out / "difficulty" / "model", "--id", audio.name, "--json")
    assert by_id.exit_code == 0, by_id.output
    a = json.loads(by_file.output)["predictions"][0]
    b = json.loads(by_id.output)["predictions"][0]
    assert set(a) >= {"classification", "ordinal"}
    assert a["classification"]["prediction"] == b["classification"]["prediction"]
    for c, p in a["classification"]["probabilities"].items():
        assert p == pytest.approx(b["classification"]["probabilities"][c], abs=1e-5)
    assert sum(a["classification"]["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    plain = _run("predict", "--probe", out / "difficulty" / "model", "--query", audio)
    assert plain.exit_code == 0 and "classification" in plain.output


def test_predict_with_a_store_of_another_encoder_is_a_clear_error(
    difficulty_report, synth_collection, tmp_path
):
    from embedstore.pipeline import index_paths
    from embedstore.store import Store

    out, _ = difficulty_report
    files = sorted((synth_collection.parent / "audio").glob("*.flac"))[:2]
    other = Store(tmp_path / "mfcc.lance")
    index_paths(files, other, "mfcc", window_s=4.0, hop_s=2.0)
    res = _run("predict", "--probe", out / "difficulty" / "model", "--store", other.uri, "--query", files[0])
    assert res.exit_code == 2
    assert "error" in res.output and "chroma" in res.output
    missing = _run("predict", "--probe", tmp_path / "nothing-here", "--query", files[0])
    assert missing.exit_code == 2 and "no probe" in missing.output


def test_ranking_from_ratings_and_from_a_pairs_file(chroma_store, tmp_path):
    res = _run(
        "probe",
        "--store",
        chroma_store.uri,
        "--task",
        "ranking",
        "--pairs-from",
        "rating_dynamics",
        "--within",
        "piece_id",
        "--group-by",
        "performer_code",
        "--out",
        tmp_path / "r1",
        "--n-boot",
        30,
        "--json",
        "--no-save",
    )
    # pairs are within a piece, performers are the groups: no pair has both sides in one test fold
    assert res.exit_code == 2 and "piece_id" in res.output
    res = _run(
        "probe",
        "--store",
        chroma_store.uri,
        "--task",
        "ranking",
        "--pairs-from",
        "rating_dynamics",
        "--within",
        "piece_id",
        "--group-by",
        "piece_id",
        "--out",
        tmp_path / "r2",
        "--n-boot",
        30,
        "--json",
    )
    assert res.exit_code == 0, res.output
    rows = json.loads((tmp_path / "r2" / "results.json").read_text())["rows"]
    assert any(r["probe"] == "chance" and r["metric"] == "pairwise_accuracy" for r in rows)
    anti = [r["value"] for r in rows if r["metric"] == "antisymmetry_error"]
    assert anti and all(v == 0.0 for v in anti)
    assert (tmp_path / "r2" / "ranking_scores.csv").is_file()
    # the same pairs written as a file keyed by file name, with a winner column
    rec = chroma_store.recordings()
    a, b = rec.iloc[0], rec.iloc[1]
    pd.DataFrame({"a": [a["file_name"]], "b": [b["file_name"]], "winner": ["b"]}).to_csv(
        tmp_path / "p.csv", index=False
    )
    from embedstore.labels import read_pairs

    p = read_pairs(tmp_path / "p.csv", rec)
    assert p.iloc[0]["a"] == a["recording_id"] and not p.iloc[0]["a_better"]


def test_benchmark_grid_from_toml(chroma_store, tmp_path):
    cfg = tmp_path / "bench.toml"
    cfg.write_text(f"""
store = "{chroma_store.uri}"
n_splits = 3
n_boot = 30
poolings = ["mean", "max"]
probes = ["ridge"]

[[tasks]]
name = "difficulty"
target = "difficulty"
group_by = "piece_id"

[[tasks]]
name = "ratings"
target = "rating_dynamics,tempo_bpm"
group_by = "performer_code"
""")
    res = _run("benchmark", "--config", cfg, "--out", tmp_path / "grid", "--json")
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    rows = pd.read_csv(tmp_path / "grid" / "results.csv")
    assert set(rows["task"]) == {"difficulty", "ratings"}
    assert set(rows["pooling"]) == {"mean", "max"}
    assert set(rows.loc[rows["task"] == "ratings", "target"]) == {"rating_dynamics", "tempo_bpm", "mean"}
    assert set(d["models"]) == {"difficulty", "ratings"}
    assert (tmp_path / "grid" / "ratings" / "model" / "model.safetensors").is_file()


def test_cli_errors_are_one_line_with_hints(chroma_store, tmp_path):
    res = _run(
        "probe",
        "--store",
        chroma_store.uri,
        "--task",
        "difficulty",
        "--target",
        "difficulty",
        "--probe",
        "nonsense",
        "--out",
        tmp_path,
    )
    assert res.exit_code == 2 and "valid values" in res.output
    res = _run("probe", "--store", chroma_store.uri, "--task", "ratings", "--out", tmp_path)
    assert res.exit_code == 2 and "--target" in res.output
    res = _run("probe", "--store", chroma_store.uri, "--task", "vibes", "--out", tmp_path)
    assert res.exit_code == 2 and "difficulty" in res.output
    res = _run("probe", "--store", tmp_path / "absent.lance", "--task", "ratings", "--out", tmp_path)
    assert res.exit_code == 2 and "no store" in res.output
