"""Retrieval over a store: same-piece neighbours, filters, passages, backends and the derived FAISS cache."""

from __future__ import annotations

import numpy as np
import pytest

from embedstore.errors import ConfigError, SearchError
from embedstore.search import search


def test_nearest_performances_are_the_same_piece(chroma_store):
    recs = chroma_store.recordings()
    hits_same = 0
    for _, r in recs.iterrows():
        res = search(chroma_store, recording_id=r["recording_id"], k=2, exclude_same_recording=True)
        assert r["recording_id"] not in [h.recording_id for h in res.hits]
        hits_same += sum(h.metadata["piece_id"] == r["piece_id"] for h in res.hits)
    # 2 other performances per piece: most top-2 neighbours should be them
    assert hits_same / (2 * len(recs)) >= 0.8


def test_self_query_ranks_itself_first_and_has_a_passage(chroma_store):
    r = chroma_store.recordings().iloc[0]
    res = search(chroma_store, query_path=r["path"], k=3)
    assert res.hits[0].recording_id == r["recording_id"]
    assert res.hits[0].score == pytest.approx(1.0, abs=1e-4)
    for h in res.hits:
        assert 0 <= h.start_s < h.end_s <= h.metadata["duration_s"] + 4.0


def test_where_filter_is_respected(chroma_store):
    recs = chroma_store.recordings()
    perf = sorted(recs["performer_code"].unique())[0]
    r = recs.iloc[0]
    res = search(chroma_store, recording_id=r["recording_id"], k=20, where=f"performer_code != '{perf}'")
    assert res.hits and all(h.metadata["performer_code"] != perf for h in res.hits)
    assert len(res.hits) == (recs["performer_code"] != perf).sum()


def test_passage_query_returns_windows_of_other_performances(chroma_store):
    r = chroma_store.recordings().iloc[0]
    res = search(
        chroma_store, recording_id=r["recording_id"], start_s=2, end_s=6, k=3, exclude_same_recording=True
    )
    assert len({h.recording_id for h in res.hits}) == len(res.hits) == 3
    res_w = search(chroma_store, recording_id=r["recording_id"], start_s=2, end_s=6, k=6, windows=True)
    assert len(res_w.hits) == 6
    scores = [h.score for h in res_w.hits]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("backend", ["exact", "faiss-hnsw", "lance"])
def test_backends_agree_with_exact(chroma_store, backend):
    r = chroma_store.recordings().iloc[1]
    ref = search(chroma_store, recording_id=r["recording_id"], k=5, backend="exact")
    got = search(chroma_store, recording_id=r["recording_id"], k=5, backend=backend)
    assert [h.recording_id for h in got.hits] == [h.recording_id for h in ref.hits]
    np.testing.assert_allclose([h.score for h in got.hits], [h.score for h in ref.hits], atol=1e-4)


def test_faiss_cache_is_rebuilt_when_stale_or_corrupt(chroma_store, synth_collection, tmp_path):
    import shutil

    from embedstore.pipeline import index_paths
    from embedstore.search import index_dir
    from embedstore.store import Store

    st = Store(tmp_path / "copy.lance")
    audio = sorted((synth_collection.parent / "audio").glob("*.flac"))
    index_paths(audio[:5], st, "chroma", window_s=4, hop_s=2)
    q = st.recordings().iloc[0]["recording_id"]
    res = search(st, recording_id=q, k=3, backend="faiss-hnsw")
    assert "built" in res.backend
    assert "loaded" in search(st, recording_id=q, k=3, backend="faiss-hnsw").backend
    index_paths(audio[5:], st, "chroma", window_s=4, hop_s=2)  # the table changed: cache is stale
    res = search(st, recording_id=q, k=20, backend="faiss-hnsw")
    assert "rebuilt" in res.backend and len(res.hits) == len(audio)
    d = index_dir(st, st.find_space(level="recording"))
    for f in d.iterdir():
        if f.suffix not in (".json",):
            f.write_bytes(f.read_bytes()[: max(1, f.stat().st_size // 2)])
    res = search(st, recording_id=q, k=20, backend="faiss-hnsw")
    assert "rebuilt" in res.backend and len(res.hits) == len(audio)
    shutil.rmtree(d)


def test_bad_queries_are_clear_errors(chroma_store, tmp_path):
    with pytest.raises(ConfigError, match="exactly one query"):
        search(chroma_store, k=3)
    with pytest.raises(SearchError, match="not found"):
        search(chroma_store, query_path=tmp_path / "missing.flac")
    with pytest.raises(ConfigError, match="valid values"):
        search(chroma_store, recording_id=chroma_store.recordings().iloc[0]["recording_id"], backend="annoy")


def test_interpretation_mode_restricts_to_the_piece_unless_any_piece(chroma_store):
    recs = chroma_store.recordings()
    r = recs.iloc[0]
    res = search(
        chroma_store, recording_id=r["recording_id"], k=10, mode="interpretation", exclude_same_recording=True
    )
    assert len(res.hits) == 2 and {h.metadata["piece_id"] for h in res.hits} == {r["piece_id"]}
    wide = search(
        chroma_store,
        recording_id=r["recording_id"],
        k=10,
        mode="interpretation",
        any_piece=True,
        exclude_same_recording=True,
    )
    assert len(wide.hits) == len(recs) - 1
    assert len({h.metadata["piece_id"] for h in wide.hits}) == 3
    # a passage query works in interpretation mode too
    p = search(
        chroma_store,
        recording_id=r["recording_id"],
        start_s=2,
        end_s=6,
        k=5,
        mode="interpretation",
        exclude_same_recording=True,
    )
    assert p.hits and all(h.metadata["piece_id"] == r["piece_id"] for h in p.hits)


def test_interpretation_mode_says_which_piece_it_used_in_json(chroma_store, tmp_path):
    """A stored query uses its own piece; an outside file's piece is inferred, and --json says so."""
    import json

    from typer.testing import CliRunner

    from embedstore.cli import app

    r = chroma_store.recordings().iloc[0]
    res = search(chroma_store, recording_id=r["recording_id"], k=3, mode="interpretation")
    assert res.query["piece"] == {"piece": r["piece_id"], "inferred": False}
    import soundfile as sf

    x, sr = sf.read(r["path"], dtype="float32")
    outside = tmp_path / "outside_take.flac"  # the same music at another gain: new content, no metadata
    sf.write(outside, 0.8 * x, sr)
    args = ["search", "--store", str(chroma_store.uri), "--query", str(outside), "-k", "2"]
    out = CliRunner().invoke(app, [*args, "--mode", "interpretation", "--json"])
    assert out.exit_code == 0, out.output
    hits = json.loads(out.output)
    assert hits and all(h["query_piece"]["piece"] == r["piece_id"] for h in hits)
    assert hits[0]["query_piece"]["inferred"] is True
    plain = json.loads(CliRunner().invoke(app, [*args, "--json"]).output)
    assert "query_piece" not in plain[0]


def test_a_passage_of_a_recording_whose_audio_is_gone_comes_with_a_warning(synth_collection, tmp_path):
    import json
    import shutil

    from typer.testing import CliRunner

    from embedstore.cli import app
    from embedstore.pipeline import index_paths

    audio = tmp_path / "audio"
    audio.mkdir()
    for f in sorted((synth_collection.parent / "audio").glob("*.flac"))[:3]:
        shutil.copy(f, audio / f.name)
    store = tmp_path / "s.lance"
    index_paths(audio, store, "chroma", window_s=4.0, hop_s=2.0, frames=False, progress=False)
    gone = sorted(audio.glob("*.flac"))[0]
    gone.unlink()
    args = ["search", "--store", str(store), "--id", gone.stem, "-k", "2", "--json"]
    off_grid = CliRunner().invoke(app, [*args, "--start", "1.3", "--end", "3.1"])
    assert off_grid.exit_code == 0, off_grid.output
    assert json.loads(off_grid.stdout)  # stdout stays one JSON document
    assert "warning: the audio of recording" in off_grid.stderr and "gone" in off_grid.stderr
    on_grid = CliRunner().invoke(app, [*args, "--start", "2", "--end", "6"])  # stored windows are exact
    assert on_grid.exit_code == 0 and "warning" not in on_grid.stderr
