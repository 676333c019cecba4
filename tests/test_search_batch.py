"""Many queries in one call: the batched path gives what one query at a time gives (issue 9, section 3)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from embedstore.cli import app
from embedstore.errors import ConfigError, SearchError
from embedstore.search import search
from embedstore.search.batch import expand_queries, search_many


def _ids(res):
    return [h.recording_id for h in res.hits]


def test_all_recordings_match_single_searches(chroma_store):
    recs = chroma_store.recordings()
    batch = search_many(chroma_store, all_recordings=True, k=3)
    assert len(batch) == len(recs)
    for r in batch:
        one = search(chroma_store, recording_id=r.query["recording_id"], k=3, exclude_same_recording=True)
        assert _ids(r) == _ids(one)
        np.testing.assert_allclose([h.score for h in r.hits], [h.score for h in one.hits], atol=1e-5)
        assert [(h.start_s, h.end_s) for h in r.hits] == [(h.start_s, h.end_s) for h in one.hits]
        assert r.hits[0].metadata["piece_id"] == one.hits[0].metadata["piece_id"]
        assert r.query["recording_id"] not in _ids(r)
    assert "batch" in batch[0].backend and batch[0].timings["batch_size"] == len(recs)


def test_files_ids_and_where_in_one_batch(chroma_store):
    recs = chroma_store.recordings()
    piece = recs["piece_id"].iloc[0]
    queries = [
        ("path", recs["path"].iloc[0]),
        ("id", recs["file_name"].iloc[1]),
        ("id", recs["recording_id"].iloc[2]),
    ]
    where = f"piece_id = '{piece}'"
    batch = search_many(chroma_store, queries, k=2, where=where, backend="exact")
    for (kind, v), r in zip(queries, batch):
        kw = {"query_path": v} if kind == "path" else {"recording_id": v}
        one = search(chroma_store, k=2, where=where, backend="exact", **kw)
        assert _ids(r) == _ids(one)
        assert {h.metadata["piece_id"] for h in r.hits} == {piece}
    assert batch[0].query["recording_id"] == recs["recording_id"].iloc[0]  # the stored file was recognised


def test_interpretation_and_passages_use_the_same_call(chroma_store):
    ids = list(chroma_store.recordings()["recording_id"])
    rid = ids[0]
    res = search_many(chroma_store, all_recordings=True, k=2, mode="interpretation")
    assert len(res) == len(ids)
    for r in res:
        q = r.query["recording_id"]
        one = search(chroma_store, recording_id=q, k=2, mode="interpretation", exclude_same_recording=True)
        assert _ids(r) == _ids(one) and q not in _ids(r)
        np.testing.assert_allclose([h.score for h in r.hits], [h.score for h in one.hits], atol=1e-5)
        assert {h.metadata["piece_id"] for h in r.hits} == {one.hits[0].metadata["piece_id"]}
    res = search_many(chroma_store, [("id", rid)], k=3, start_s=2, end_s=6, windows=True, refine=False)
    assert len(res[0].hits) == 3


def test_expand_queries_folder_and_list_file(chroma_store, tmp_path):
    recs = chroma_store.recordings()
    folder = tmp_path / "q"
    folder.mkdir()
    src = recs["path"].iloc[0]
    (folder / "a.flac").write_bytes(open(src, "rb").read())
    (folder / "notes.txt").write_text("not audio")
    lst = tmp_path / "queries.txt"
    lst.write_text(f"# a comment\n{src}\n\n{recs['recording_id'].iloc[1]}\n")
    got = expand_queries(paths=[folder], queries_from=lst)
    assert got == [("path", str(folder / "a.flac")), ("path", src), ("id", recs["recording_id"].iloc[1])]
    with pytest.raises(SearchError):
        expand_queries(paths=[tmp_path / "missing.wav"])
    with pytest.raises(ConfigError):
        search_many(chroma_store, [])


def test_cli_json_lines_and_table(chroma_store, tmp_path):
    recs = chroma_store.recordings()
    runner = CliRunner()
    res = runner.invoke(app, ["search", "--store", chroma_store.uri, "--all", "-k", "2", "--json"])
    assert res.exit_code == 0, res.output
    lines = [json.loads(x) for x in res.output.strip().splitlines()]
    assert len(lines) == len(recs)
    assert all(len(d["hits"]) == 2 and d["query"]["recording_id"] not in [h["recording_id"] for h in d["hits"]]
               for d in lines)  # fmt: skip
    lst = tmp_path / "q.txt"
    lst.write_text("\n".join(recs["recording_id"].iloc[:2]))
    args = [
        "search",
        "--store",
        chroma_store.uri,
        "--queries-from",
        str(lst),
        "--id",
        recs["file_name"].iloc[3],
    ]
    res = runner.invoke(app, [*args, "-k", "1", "--json"])
    assert res.exit_code == 0, res.output
    assert [json.loads(x)["hits"][0]["recording_id"] for x in res.output.strip().splitlines()] == [
        recs["recording_id"].iloc[3], *recs["recording_id"].iloc[:2]
    ]  # fmt: skip
    table = runner.invoke(app, [*args, "-k", "1"])
    assert table.exit_code == 0 and "3 queries" in table.output
    bad = runner.invoke(app, ["search", "--store", chroma_store.uri, "--id", "nope", "--id", "x"])
    assert bad.exit_code == 2 and "error:" in bad.output


@pytest.mark.parametrize(
    ("start", "end"), [(4.0, None), (0.0, None), (2.0, 8.0), (0.0, 4.0), (2.0, 7.0), (1.0, 5.0)]
)
def test_stored_passage_on_the_window_grid_uses_stored_windows(chroma_store, start, end):
    from embedstore.query import embed_file
    from embedstore.search.queries import stored_grid_passage

    rec = chroma_store.recordings().iloc[0]
    win = chroma_store.find_space(level="window")
    got = stored_grid_passage(chroma_store, win, rec["recording_id"], start, end)
    es = chroma_store.load(win, recording_ids=[rec["recording_id"]], with_metadata=False)
    if end is None:  # to the end: exactly what embedding the passage gives
        qe = embed_file(rec["path"], store=chroma_store, setup_key=win.setup_key, start_s=start, end_s=end)
        np.testing.assert_allclose(got, qe.passage_vector(win.layer), rtol=1e-4, atol=1e-5)
    elif start % 2 == 0 and end % 2 == 0:  # window start to window end: the stored windows it is made of
        inside = (es.start_s >= start) & (es.end_s <= end)
        np.testing.assert_allclose(got, es.vectors[inside].mean(0), rtol=1e-5, atol=1e-6)
    else:  # ends inside a window / starts off the 2 s hop: embedded by the caller
        assert got is None
