"""Store-aware alignment tasks on the synthetic collection: pairs by stored id, annotation transfer to a store,
two-stage passage search, curves and the style space."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from embedstore.errors import ConfigError, StoreError


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("EMBEDSTORE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="module")
def manifest(synth_collection):
    with open(synth_collection, newline="") as f:
        return {r["clip_id"]: r for r in csv.DictReader(f)}


def beats(manifest, clip):
    return np.array(json.loads(manifest[clip]["beats"]))


def test_align_pair_by_stored_ids_carries_beats(chroma_store, manifest, tmp_path):
    import mir_eval

    from embedstore.performance.align import align_pair

    res = align_pair(
        "Albrecht__Piece_01__Arlen", "Albrecht__Piece_01__Brody", store=chroma_store, plot=tmp_path / "a.png"
    )
    est = res.alignment.time_map(beats(manifest, "Albrecht__Piece_01__Arlen"))
    assert mir_eval.beat.f_measure(beats(manifest, "Albrecht__Piece_01__Brody"), est) >= 0.9
    assert res.plot.stat().st_size > 10_000
    d = res.as_dict()
    assert d["confidence"] > 0.5 and len(d["time_map"]["a"]) > 10
    with pytest.raises(ConfigError, match="no such file"):
        align_pair("nope.flac", "Albrecht__Piece_01__Brody")


def test_transfer_to_store_writes_annotations_per_recording(chroma_store, manifest, tmp_path):
    import mir_eval

    from embedstore.alignment.transfer import read_annotations
    from embedstore.performance.align import transfer_to_store

    ref = "Albrecht__Piece_01__Arlen"
    ann = tmp_path / "beats.csv"
    ann.write_text("time,label\n" + "".join(f"{t},{i % 4 + 1}\n" for i, t in enumerate(beats(manifest, ref))))
    rep = transfer_to_store(
        chroma_store, ref, annotations=ann, out_dir=tmp_path / "out", where="piece_id = 'Albrecht/Piece_01'"
    )
    assert sorted(r["file_name"] for r in rep) == [
        "Albrecht__Piece_01__Brody.flac",
        "Albrecht__Piece_01__Castell.flac",
    ]
    for r in rep:
        got = read_annotations(r["annotations"])
        assert got.fmt == "csv" and got.header == ["time", "label"]
        truth = beats(manifest, r["file_name"][:-5])
        assert mir_eval.beat.f_measure(truth, got.times) >= 0.9
        assert (tmp_path / "out" / (r["file_name"][:-5] + ".timemap.json")).exists()
    with pytest.raises(StoreError, match="no recordings match"):
        transfer_to_store(
            chroma_store, ref, annotations=ann, out_dir=tmp_path / "o2", where="piece_id = 'none'"
        )


def test_passage_search_is_frame_accurate(chroma_store, manifest):
    from embedstore.performance.passages import passage_search

    q = "Albrecht__Piece_01__Arlen"
    res = passage_search(
        chroma_store, recording_id=q, start_s=3.0, end_s=7.0, k=9, where="piece_id = 'Albrecht/Piece_01'"
    )
    assert res.timings["total"] > 0 and res.space.endswith("window")
    bq = beats(manifest, q)
    found = {h.metadata["file_name"][:-5]: h for h in res.hits}
    assert set(found) == {q, "Albrecht__Piece_01__Brody", "Albrecht__Piece_01__Castell"}
    assert found[q].start_s == pytest.approx(3.0, abs=0.15) and found[q].end_s == pytest.approx(7.0, abs=0.15)
    for other in ("Albrecht__Piece_01__Brody", "Albrecht__Piece_01__Castell"):
        bo = beats(manifest, other)
        n = min(len(bq), len(bo))
        true = np.interp([3.0, 7.0], bq[:n], bo[:n])
        h = found[other]
        assert abs(h.start_s - true[0]) < 0.4 and abs(h.end_s - true[1]) < 0.4
        assert h.confidence > 0.5
    assert [h.confidence for h in res.hits] == sorted((h.confidence for h in res.hits), reverse=True)


def test_style_space_and_curve_similarity(chroma_store_copy):
    chroma_store = chroma_store_copy
    from embedstore.performance.curves import curve_similarity, curves_report
    from embedstore.performance.style import STYLE_VECTOR, style_table, write_style_space

    tab = style_table(chroma_store)
    assert len(tab) == 9 and set(tab["piece"]) == {
        "Albrecht/Piece_01",
        "Albrecht/Piece_02",
        "Brunelli/Piece_03",
    }
    z = tab.groupby("piece")[[f"z_{k}" for k in STYLE_VECTOR]].sum()
    assert np.allclose(z.to_numpy(), 0.0, atol=1e-6)
    # performers differ in tempo: Arlen (fastest in synth) is ahead of the consensus in every piece
    arlen = tab[tab["file_name"].str.contains("Arlen")]
    assert (arlen["tempo_rel"] > 0).all()
    for _ in range(2):  # writing twice replaces the space
        sp = write_style_space(chroma_store, tab)
    es = chroma_store.load(sp)
    assert es.vectors.shape == (9, len(STYLE_VECTOR)) and len(set(es.recording_ids)) == 9
    sim = curve_similarity(chroma_store, "Albrecht__Piece_01__Arlen")
    assert len(sim) == 2 and sim[0]["score"] >= sim[1]["score"]
    rep = curves_report(chroma_store, where="piece_id = 'Albrecht/Piece_02'")
    assert rep["unit"] == "reference" and len(rep["recordings"]) == 3
    assert np.array(rep["tempo_corr_matrix"], dtype=float).shape == (3, 3)


def test_refine_hits_merges_overlapping_candidates(synth_collection):
    from embedstore.performance.passages import passage_features, refine_hits
    from embedstore.search import Hit

    path = str(synth_collection.parent / "audio" / "Albrecht__Piece_02__Castell.flac")
    q = passage_features(path).slice(2.0, 6.0)
    hits = [
        Hit("r1", path, s, a, a + 4.0, i)
        for i, (s, a) in enumerate([(0.9, 0.0), (0.8, 0.0), (0.7, 2.0), (0.1, 8.5)])
    ]
    out = refine_hits(hits, q, per_recording=False, margin=0.25)
    assert len(out) == 2  # windows 0-4 and 2-6 merge; 8-12 stays apart
    assert out[0].start_s == pytest.approx(2.0, abs=0.15) and out[0].window_score == pytest.approx(0.9)
    assert len(refine_hits(hits, q)) == 1
