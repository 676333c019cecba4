"""Frame sequences stored at index time (sequence spaces) and frame-accurate passage search over them."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from embedstore.errors import SearchError
from embedstore.pipeline import index_paths
from embedstore.search import search
from embedstore.store import SEQUENCE_LEVEL, Store, sequence_space


@pytest.fixture(scope="module")
def manifest(synth_collection):
    with open(synth_collection, newline="") as f:
        return {r["clip_id"]: r for r in csv.DictReader(f)}


def beats(manifest, clip):
    return np.array(json.loads(manifest[clip]["beats"]))


def test_chroma_setup_stores_frame_sequences(chroma_store, manifest):
    key = chroma_store.setups()
    assert list(key) == ["chroma-w4-h2"]
    seq = chroma_store.sequence_space("chroma-w4-h2")
    assert seq is not None and seq.space_id == "chroma-w4-h2.L0.frames" and seq.level == SEQUENCE_LEVEL
    assert seq.provenance["frame_rate"] == 10.0 and len(seq.provenance["columns"]) == 14
    assert all(s.level != SEQUENCE_LEVEL for s in chroma_store.spaces())  # not a vector space
    frames = chroma_store.load_sequences(seq)
    recs = chroma_store.recordings().set_index("recording_id")
    assert set(frames) == set(recs.index)
    for rid, a in frames.items():
        assert a.dtype == np.float16 and a.shape[1] == 14
        assert abs(len(a) / 10.0 - recs.loc[rid, "duration_s"]) < 0.2
    assert chroma_store.verify_setup("chroma-w4-h2") == []


def test_frames_are_opt_in_for_other_encoders_and_cleaned_like_vectors(synth_collection, tmp_path):
    audio = synth_collection.parent / "audio"
    files = sorted(audio.glob("*.flac"))[:2]
    st = Store(tmp_path / "s.lance")
    index_paths(files, st, "bssl", window_s=4, hop_s=2)
    assert st.sequence_space("bssl-w4-h2") is None
    index_paths(files, st, "chroma", window_s=4, hop_s=2, frames=False)
    assert st.sequence_space("chroma-w4-h2") is None
    rep = index_paths(files, st, "mfcc", window_s=4, hop_s=2, frames=True)
    seq = st.sequence_space(rep.setup_key)
    assert len(st.load_sequences(seq)) == 2
    # rows of a recording without a completion marker (a crash) are removed on the next run, like vectors
    st.add_rows(seq.table_name, _orphan(seq))
    assert "deadbeefdeadbeef" in st.load_sequences(seq)
    assert st.clean_partial(rep.setup_key) == 1
    assert "deadbeefdeadbeef" not in st.load_sequences(seq)
    rid = st.recording(files[0].name)["recording_id"]
    st.delete_recordings([rid])
    assert set(st.load_sequences(seq)) == {st.recording(files[1].name)["recording_id"]}


def _orphan(seq):
    from embedstore.store.sequences import sequence_table

    return sequence_table(seq, ["deadbeefdeadbeef"], [np.zeros((5, 14), np.float16)])


def test_sequence_space_refuses_frames_of_the_wrong_shape():
    from embedstore.errors import StoreError
    from embedstore.store.sequences import sequence_table

    sp = sequence_space("x-w4-h2", "x", dim=14, frame_rate=10.0, provenance={})
    with pytest.raises(StoreError, match="do not fit"):
        sequence_table(sp, ["r"], [np.zeros((5, 13))])


def test_passage_search_is_frame_accurate_with_stored_frames(chroma_store, manifest):
    q = "Albrecht__Piece_01__Arlen"
    res = search(
        chroma_store, recording_id=q, start_s=3.0, end_s=7.0, k=9, where="piece_id = 'Albrecht/Piece_01'"
    )
    assert res.query["refined"] and "align" in res.timings
    found = {h.metadata["file_name"][:-5]: h for h in res.hits}
    assert found[q].start_s == pytest.approx(3.0, abs=0.15) and found[q].end_s == pytest.approx(7.0, abs=0.15)
    bq = beats(manifest, q)
    for other in ("Albrecht__Piece_01__Brody", "Albrecht__Piece_01__Castell"):
        bo = beats(manifest, other)
        n = min(len(bq), len(bo))
        true = np.interp([3.0, 7.0], bq[:n], bo[:n])
        h = found[other]
        assert abs(h.start_s - true[0]) < 0.4 and abs(h.end_s - true[1]) < 0.4
        assert (
            h.alignment["confidence"] > 0.5
            and h.alignment["window_end_s"] - h.alignment["window_start_s"] == 4
        )
    plain = search(chroma_store, recording_id=q, start_s=3.0, end_s=7.0, k=3, refine=False)
    assert all(h.alignment is None and (h.end_s - h.start_s) == pytest.approx(4.0) for h in plain.hits)


def test_refined_window_hits_are_distinct_passages(chroma_store):
    res = search(
        chroma_store, recording_id="Brunelli__Piece_03__Brody", start_s=2.0, end_s=6.0, k=6, windows=True
    )
    assert len(res.hits) == 6
    spans = {}
    for h in res.hits:
        for a, b in spans.get(h.recording_id, []):
            assert min(b, h.end_s) - max(a, h.start_s) < 0.5 * (h.end_s - h.start_s)
        spans.setdefault(h.recording_id, []).append((h.start_s, h.end_s))
    assert [h.score for h in res.hits] == sorted((h.score for h in res.hits), reverse=True)


def test_refine_without_frames_is_a_clear_error(synth_collection, tmp_path):
    st = Store(tmp_path / "nf.lance")
    files = sorted((synth_collection.parent / "audio").glob("*.flac"))[:2]
    index_paths(files, st, "chroma", window_s=4, hop_s=2, frames=False)
    with pytest.raises(SearchError, match="stores no frame sequences") as e:
        search(st, query_path=files[0], start_s=1.0, end_s=4.0, refine=True)
    assert "--frames" in e.value.hint
    assert search(st, query_path=files[0], start_s=1.0, end_s=4.0).hits[0].alignment is None


def test_interpretation_search_by_curves(chroma_store):
    res = search(
        chroma_store, recording_id="Albrecht__Piece_02__Brody", mode="interpretation", features="curves"
    )
    assert res.query["features"] == "curves" and len(res.hits) == 2
    assert {h.metadata["piece_id"] for h in res.hits} == {"Albrecht/Piece_02"}
    assert all(set(h.alignment) == {"tempo_corr", "loudness_corr"} for h in res.hits)
    assert res.hits[0].score >= res.hits[1].score
    from embedstore.errors import ConfigError

    with pytest.raises(ConfigError, match="compares interpretations"):
        search(chroma_store, recording_id="Albrecht__Piece_02__Brody", features="curves")
    with pytest.raises(ConfigError, match="one piece") as e:
        search(
            chroma_store,
            recording_id="Albrecht__Piece_02__Brody",
            mode="interpretation",
            features="curves",
            any_piece=True,
        )
    assert "evaluate-retrieval --features curves" in e.value.hint


def test_cli_curves_features_in_search_and_evaluate_retrieval(chroma_store_copy):
    chroma_store = chroma_store_copy
    from typer.testing import CliRunner

    from embedstore.cli import app

    r = CliRunner().invoke(
        app,
        [
            "search",
            "--store",
            chroma_store.uri,
            "--id",
            "Brunelli__Piece_03__Arlen",
            "--mode",
            "interpretation",
            "--features",
            "curves",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.output)) == 2
    r = CliRunner().invoke(
        app,
        [
            "evaluate-retrieval",
            "--store",
            chroma_store.uri,
            "--relevant-by",
            "performer_code",
            "--across",
            "piece_id",
            "--features",
            "curves",
            "-f",
            "json",
        ],
    )
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert res["space"] == "style.L0.recording-mean" and res["mean"]["n_queries"] == 9
    assert res["chance"]["map"] > 0


def test_passage_to_the_end_of_an_unstored_file_is_refined(chroma_store, tmp_path):
    import soundfile as sf

    src = chroma_store.recording("Brunelli__Piece_03__Castell")["path"]
    y, sr = sf.read(src, dtype="float32")
    q = tmp_path / "take.wav"
    sf.write(q, 0.5 * y[: int(9 * sr)], sr)  # not in the store
    res = search(chroma_store, query_path=q, start_s=1.0, k=3)
    assert res.query["refined"] and res.hits[0].metadata["file_name"] == "Brunelli__Piece_03__Castell.flac"
    assert res.hits[0].start_s == pytest.approx(1.0, abs=0.2) and res.hits[0].end_s == pytest.approx(
        9.0, abs=0.3
    )
