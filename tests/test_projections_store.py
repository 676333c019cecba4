"""Projected tables in the store, `embedstore project` and `embedstore evaluate-retrieval`."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from embedstore.cli import app
from embedstore.projections.retrieval import chance_levels, evaluate_retrieval

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


# ---------------------------------------------------------------------- retrieval metrics
def _angles(*deg):
    r = np.deg2rad(np.array(deg, dtype=float))
    return np.stack([np.cos(r), np.sin(r)], axis=1)


def test_retrieval_metrics_on_a_hand_made_example():
    X = _angles(0, 20, 8, 90)  # a, b, c, d
    labels = ["x", "x", "y", "y"]
    res = evaluate_retrieval(X, labels)
    # rankings: a -> c b d; b -> c a d; c -> a b d; d -> b c a
    per = res["per_query"]
    assert [q["ap"] for q in per] == pytest.approx([1 / 2, 1 / 2, 1 / 3, 1 / 2])
    assert [q["first_rank"] for q in per] == [2, 2, 3, 2]
    m = res["mean"]
    assert m["map"] == pytest.approx((0.5 + 0.5 + 1 / 3 + 0.5) / 4)
    assert m["mrr"] == pytest.approx(m["map"])
    assert m["mr1"] == pytest.approx(2.25)
    assert m["p@1"] == 0.0 and m["p@5"] == pytest.approx(0.2)
    c = res["chance"]  # N = 3 candidates, R = 1 relevant
    assert c["map"] == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)
    assert c["mr1"] == pytest.approx(2.0) and c["p@1"] == pytest.approx(1 / 3)
    # candidates restricted to the query's group: d has none, c has no relevant one
    within = evaluate_retrieval(X, labels, within=["g1", "g1", "g1", "g2"])
    assert within["mean"]["n_queries"] == 2 and within["mean"]["map"] == pytest.approx(0.5)
    # items of the query's own recording are never candidates
    same_rec = evaluate_retrieval(X, labels, recording_ids=["r1", "r1", "r2", "r3"])
    assert same_rec["per_query"][0]["n_candidates"] == 2
    # missing labels are dropped
    assert evaluate_retrieval(X, ["x", "x", None, "y"])["n_dropped"] == 1


def test_chance_levels_match_random_rankings():
    rng = np.random.default_rng(0)
    N, R = 7, 3
    aps, rrs, frs = [], [], []
    from embedstore.evaluation.retrieval import average_precision

    for _ in range(5000):
        rel = np.zeros(N, bool)
        rel[rng.choice(N, R, replace=False)] = True
        aps.append(average_precision(rel))
        first = int(np.argmax(rel)) + 1
        rrs.append(1 / first)
        frs.append(first)
    c = chance_levels(N, R)
    assert c["map"] == pytest.approx(np.mean(aps), abs=0.015)
    assert c["mrr"] == pytest.approx(np.mean(rrs), abs=0.015)
    assert c["mr1"] == pytest.approx(np.mean(frs), abs=0.07)
    assert c["p@5"] == pytest.approx(R / N)


# ---------------------------------------------------------------------- store and CLI
@pytest.fixture()
def store_copy(chroma_store, tmp_path):
    dst = tmp_path / "store.lance"
    shutil.copytree(chroma_store.uri, dst)
    return dst


def test_project_writes_projected_tables_with_provenance(store_copy, tmp_path):
    from embedstore.projections.persist import Projection, projection_for_space, weights_sha256
    from embedstore.search import search
    from embedstore.store import Store

    out = tmp_path / "proj"
    res = _run(
        "project",
        "--store",
        store_copy,
        "--label",
        "rating_dynamics",
        "--encoder",
        "chroma",
        "--dim",
        4,
        "--epochs",
        5,
        "--name",
        "dyn",
        "--out",
        out,
        "--no-report",
        "--json",
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    st = Store(store_copy, create=False)
    src = st.space(summary["source_space"])
    projected = [s for s in st.spaces() if s.setup_key == "chroma-w4-h2--dyn"]
    assert {s.space_id for s in projected} == set(summary["spaces"])
    assert {(s.level, s.pooling) for s in projected} == {
        ("window", "none"),
        ("recording", "mean"),
        ("recording", "max"),
    }
    proj = Projection.load(out)
    for sp in projected:
        prov = sp.provenance
        assert sp.dim == 4 and prov["kind"] == "projection"
        assert prov["source_space_id"] in {s.space_id for s in st.spaces(setup_key="chroma-w4-h2")}
        assert prov["projection"]["sha256"] == weights_sha256(out)
        assert (
            prov["projection"]["label"] == "rating_dynamics"
            and prov["projection"]["loss"] == "weighted-contrastive"
        )
        for k in ("encoder", "model_id", "window_s", "hop_s", "layer", "sample_rate"):
            assert prov[k] == src.provenance[k]
        meta = st.table(sp.table_name).schema.metadata
        assert json.loads(meta[b"embedstore.provenance"])["projection"]["sha256"] == weights_sha256(out)
        # the stored vectors are the projection of the source vectors, row for row
        source = st.space(prov["source_space_id"])
        a, b = st.load(source, with_metadata=False), st.load(sp, with_metadata=False)
        assert np.array_equal(a.keys, b.keys)
        assert np.allclose(b.vectors, proj.transform(a.vectors), atol=1e-6)
        assert np.array_equal(projection_for_space(sp).transform(a.vectors), proj.transform(a.vectors))
    assert projection_for_space(src) is None
    # every search backend serves the projected space
    rid = st.recording_ids()[0]
    for backend in ("exact", "faiss"):
        hits = search(
            st,
            recording_id=rid,
            encoder="chroma-w4-h2--dyn",
            k=3,
            backend=backend,
            exclude_same_recording=True,
        ).hits
        assert len(hits) == 3 and rid not in {h.recording_id for h in hits}
    # a query file that is not in the store is embedded with the source setup, then projected
    import soundfile as sf

    x, sr = sf.read(st.recording(rid)["path"], dtype="float32")
    qfile = tmp_path / "same_audio_other_bytes.wav"
    sf.write(qfile, x, sr, subtype="FLOAT")
    hits = search(st, query_path=qfile, encoder="chroma-w4-h2--dyn", k=2).hits
    assert hits[0].recording_id == rid and hits[0].score > 0.999
    # plain search on the source encoder is still unambiguous
    assert search(st, recording_id=rid, encoder="chroma", k=2).hits
    # writing again needs --overwrite; overwriting keeps one copy of every row
    again = _run(
        "project",
        "--store",
        store_copy,
        "--label",
        "rating_dynamics",
        "--encoder",
        "chroma",
        "--dim",
        4,
        "--epochs",
        5,
        "--name",
        "dyn",
        "--out",
        out,
        "--no-report",
    )
    assert again.exit_code == 2 and "already exists" in again.output
    n_rows = st.table(projected[0].table_name).count_rows()
    ok = _run("project", "--store", store_copy, "--from", out, "--name", "dyn", "--overwrite", "--json")
    assert ok.exit_code == 0, ok.output
    st2 = Store(store_copy, create=False)
    assert st2.table(projected[0].table_name).count_rows() == n_rows


def test_project_report_and_map(store_copy, tmp_path):
    out = tmp_path / "proj"
    res = _run(
        "project",
        "--store",
        store_copy,
        "--label",
        "rating_dynamics",
        "--bins",
        2,
        "--encoder",
        "chroma",
        "--dim",
        4,
        "--epochs",
        5,
        "--out",
        out,
        "--folds",
        3,
        "--map",
        "pca",
        "--json",
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    rep = json.loads((out / "report.json").read_text())
    assert rep["task"] == "regression" and rep["n_folds"] == 3 and rep["group_by"] == "piece_id"
    assert {"map_raw", "map_projected", "map_difference", "map_chance"} <= set(rep["retrieval"])
    assert {"raw", "projected", "difference"} <= set(rep["probe"])
    assert [f["n_test"] for f in rep["folds"]] == [3, 3, 3]  # one held-out piece per fold
    assert "probe r2" in (out / "report.md").read_text()
    assert (out / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert 0 < summary["report"]["retrieval"]["n_queries"] <= 9


def test_evaluate_retrieval_cli(store_copy, tmp_path):
    from embedstore.projections.retrieval import evaluate_store_retrieval
    from embedstore.store import Store

    res = _run("evaluate-retrieval", "--store", store_copy, "--relevant-by", "piece_id", "--format", "json")
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    lib = evaluate_store_retrieval(Store(store_copy, create=False), relevant_by="piece_id")
    assert d["mean"]["map"] == pytest.approx(lib["mean"]["map"])
    assert len(d["per_query"]) == 9 and {
        "recording_id",
        "file_name",
        "label",
        "ap",
        "rr",
        "first_rank",
        "p@1",
        "p@5",
        "p@10",
        "chance_map",
    } <= set(d["per_query"][0])
    md = _run(
        "evaluate-retrieval",
        "--store",
        store_copy,
        "--relevant-by",
        "performer_code",
        "--mode",
        "interpretation",
    )
    assert md.exit_code == 0, md.output
    assert "| chance |" in md.output and "MAP" in md.output and "interpretation" in md.output
    out = tmp_path / "r.md"
    w = _run(
        "evaluate-retrieval",
        "--store",
        store_copy,
        "--relevant-by",
        "performer_code",
        "--within",
        "piece_id",
        "--out",
        out,
    )
    assert w.exit_code == 0 and out.read_text().startswith("# Retrieval")
    bad = _run("evaluate-retrieval", "--store", store_copy, "--relevant-by", "pianist")
    assert bad.exit_code == 2 and "pianist" in bad.output and "performer_code" in bad.output
