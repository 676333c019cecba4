"""More than 25 kinds of bad or odd input through the whole `embedstore index` command: each one ends as expected
(indexed, rejected with a specific reason, skipped with why, or a named duplicate), the run never aborts or hangs, and
every input is accounted for in `--json`. Plus sidecars: sparse, mixed-type, ambiguous and badly encoded."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from embedstore.cli import app
from embedstore.pipeline import index_paths
from embedstore.store import Store
from embedstore.store.verify import verify_store
from embedstore.synth.corpus import write_odd_corpus

ARGS = ["--window", "4", "--hop", "2", "--no-frames", "--max-duration", "27", "--json", "--no-progress"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("odd") / "in"
    cases = write_odd_corpus(d)
    store = d.parent / "s.lance"
    res = CliRunner().invoke(app, ["index", str(d), "--store", str(store), *ARGS])
    assert res.exit_code == 0, res.output[-3000:]
    return d, cases, store, json.loads(res.output)


def test_the_corpus_has_more_than_25_kinds(corpus):
    _, cases, _, _ = corpus
    assert len({c.kind for c in cases}) >= 25


def test_every_input_is_accounted_for_and_counts_add_up(corpus):
    d, cases, _, rep = corpus
    inputs = rep["inputs"]
    assert len(inputs) == rep["files_seen"] == len(cases)
    statuses = [i["status"] for i in inputs]
    assert statuses.count("indexed") == rep["added"]
    assert statuses.count("unchanged") == rep["skipped"]
    assert statuses.count("duplicate") == rep["duplicates"]
    assert statuses.count("rejected") == len(rep["rejected"])
    assert statuses.count("skipped") == rep["not_files"]


def _outcome(rep: dict, case) -> dict:
    for i in rep["inputs"]:
        name = Path(i["path"]).name
        if name == case.name or (
            case.raw_name is not None and name == os.fsencode(case.name).decode("utf-8", "backslashreplace")
        ):
            return i
    raise AssertionError(f"{case.kind}: {case.name!r} is not in the report")


@pytest.mark.parametrize("i", range(36))
def test_each_kind_ends_as_expected(corpus, i):
    _, cases, _, rep = corpus
    if i >= len(cases):
        pytest.skip("fewer cases")
    case = cases[i]
    got = _outcome(rep, case)
    assert got["status"] == case.expect, (case.kind, got)
    if case.expect == "rejected":
        assert got["reason"] in case.reasons, (case.kind, got)
        assert len(got["message"]) > 10
    if case.expect == "duplicate":
        assert Path(got["duplicate_of"]).name == "good.flac"
    if case.expect == "skipped":
        assert got["why"]


def test_the_store_holds_exactly_the_indexed_inputs(corpus):
    d, cases, store, rep = corpus
    st = Store(store)
    assert verify_store(st).ok
    assert len(st.recordings()) == rep["added"] == sum(c.expect == "indexed" for c in cases)
    # a re-run: the valid inputs are unchanged, the rest the same again, nothing written
    before = st.info()["table_versions"]
    again = json.loads(CliRunner().invoke(app, ["index", str(d), "--store", str(store), *ARGS]).output)
    assert again["added"] == 0 and again["skipped"] == rep["added"] and again["duplicates"] == 1
    assert Store(store).info()["table_versions"] == before


# ---------------------------------------------------------------------------------------------- sidecars
@pytest.fixture()
def clips(synth_collection, tmp_path):
    import shutil

    d = tmp_path / "audio"
    d.mkdir()
    for f in sorted((synth_collection.parent / "audio").glob("*.flac"))[:4]:
        shutil.copy(f, d / f.name)
    return d


def test_mixed_type_and_sparse_sidecar_columns_are_stored(clips, tmp_path):
    names = sorted(f.name for f in clips.glob("*.flac"))
    side = tmp_path / "m.csv"
    pd.DataFrame({"file_name": names, "opus": ["12", "", "op. 10", "3"], "henle": ["", "", "", "5"]}).to_csv(
        side, index=False
    )
    st = Store(tmp_path / "s.lance")
    rep = index_paths(clips, st, "chroma", metadata=side, window_s=4, hop_s=2, frames=False, batch_files=1)
    assert len(rep.added) == 4 and not rep.warnings
    rec = st.recordings().set_index("file_name")
    assert str(rec.loc[names[2], "opus"]) == "op. 10"
    assert float(rec.loc[names[3], "henle"]) == 5


def test_a_file_name_matching_several_sidecar_rows_is_a_warning(clips, tmp_path):
    names = sorted(f.name for f in clips.glob("*.flac"))
    side = tmp_path / "m.csv"
    rows = [{"path": f"a/{n}", "composer": "X"} for n in names] + [{"path": f"b/{names[0]}", "composer": "Y"}]
    pd.DataFrame(rows).to_csv(side, index=False)
    res = CliRunner().invoke(
        app,
        ["index", str(clips), "--store", str(tmp_path / "s.lance"), "--metadata", str(side), *ARGS],
    )
    assert res.exit_code == 0, res.output
    warnings = json.loads(res.output)["warnings"]
    assert any("several sidecar rows" in w and names[0] in w for w in warnings)


def test_a_sidecar_that_is_not_utf8_is_a_clear_error(clips, tmp_path):
    side = tmp_path / "m.csv"
    side.write_bytes("file_name,composer\nx.flac,Dvo\u0159\u00e1k\n".encode("cp1250"))
    res = CliRunner().invoke(
        app, ["index", str(clips), "--store", str(tmp_path / "s.lance"), "--metadata", str(side), *ARGS]
    )
    assert res.exit_code == 2
    assert "Traceback" not in res.output and "error:" in res.output
