"""`embedstore probe` on ../shared/data/asap-dev difficulty (skipped when the shared data is absent)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from embedstore.cli import app

runner = CliRunner()


@pytest.mark.shared
@pytest.mark.slow
def test_asap_difficulty_probe_report(shared_data, tmp_path):
    from embedstore.pipeline import index_paths
    from embedstore.store import Store

    root = shared_data / "asap-dev"
    if not (root / "manifest.csv").is_file():
        pytest.skip("../shared data not found (set EMBEDSTORE_SHARED)")
    store = Store(tmp_path / "asap.lance")
    index_paths(
        root / "audio",
        store,
        "chroma",
        metadata=root / "manifest.csv",
        window_s=10.0,
        hop_s=5.0,
        poolings=("mean",),
    )
    out = tmp_path / "report"
    res = runner.invoke(
        app,
        [
            "probe",
            "--store",
            store.uri,
            "--task",
            "difficulty",
            "--target",
            "henle",
            "--group-by",
            "piece_id",
            "--out",
            str(out),
            "--n-boot",
            "200",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    assert (out / "report.md").is_file()
    assert list((out / "plots").glob("difficulty_*.png"))
    rows = json.loads((out / "results.json").read_text())["rows"]
    for r in rows:  # a CI for every metric
        assert r["ci_low"] is not None and r["ci_high"] is not None, r
        assert r["ci_low"] - 1e-9 <= r["value"] <= r["ci_high"] + 1e-9
    majority = [r for r in rows if r["probe"] == "majority"]
    assert {r["metric"] for r in majority} == {"accuracy", "macro_f1", "within1_accuracy", "mae"}
    assert {r["n"] for r in majority} == {92}  # 23 pieces with a Henle level x 4 performances
    assert (out / "difficulty" / "model" / "model.safetensors").is_file()
