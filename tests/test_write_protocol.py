"""The write protocol (docs/write-protocol.md): broken tables, sparse sidecars, no-op re-runs, folder/store agreement,
the write lock, and `embedstore verify` / `embedstore repair`."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from embedstore.cli import app
from embedstore.errors import StoreError
from embedstore.pipeline import index_paths
from embedstore.store import Store
from embedstore.store.lock import LOCK_FILE, write_lock
from embedstore.store.verify import verify_store

KW = dict(window_s=4.0, hop_s=2.0, frames=False)


@pytest.fixture()
def folder(synth_collection, tmp_path):
    d = tmp_path / "audio"
    d.mkdir()
    for f in sorted((synth_collection.parent / "audio").glob("*.flac"))[:5]:
        shutil.copy(f, d / f.name)
    return d


def test_table_folder_without_committed_version_does_not_brick_the_store(folder, tmp_path):
    st = Store(tmp_path / "s.lance")
    index_paths(folder, st, "chroma", **KW)
    # a kill during create_table: the folder exists, no version was committed
    shutil.rmtree(Path(st.uri) / "rejects.lance", ignore_errors=True)
    (Path(st.uri) / "rejects.lance" / "data").mkdir(parents=True)
    (Path(st.uri) / "rejects.lance" / "data" / "x.lance").write_bytes(b"partial")
    st2 = Store(st.uri)
    assert st2.info()["recordings"] == 5  # readers still work
    assert [p.kind for p in verify_store(st2).problems] == ["broken_table"]
    (folder / "bad.wav").write_text("not audio")
    rep = index_paths(folder, st2, "chroma", **KW)
    assert [r.reason for r in rep.rejected] == ["not_audio"]
    assert len(st2.rejects()) == 1
    assert verify_store(st2).ok


def test_sidecar_column_empty_in_the_first_batch(folder, tmp_path):
    files = sorted(f.name for f in folder.glob("*.flac"))
    side = tmp_path / "meta.csv"
    pd.DataFrame({"file_name": files, "henle": ["", "", "", "7", "9"]}).to_csv(side, index=False)
    st = Store(tmp_path / "s.lance")
    rep = index_paths(folder, st, "chroma", metadata=side, batch_files=2, **KW)
    assert len(rep.added) == 5
    rec = st.recordings().set_index("file_name")
    assert pd.isna(rec.loc[files[0], "henle"])
    assert float(rec.loc[files[4], "henle"]) == 9
    assert verify_store(st).ok


def test_a_no_op_reindex_writes_no_table_version(folder, tmp_path, synth_collection):
    (folder / "bad.wav").write_text("not audio")
    st = Store(tmp_path / "s.lance")
    index_paths(folder, st, "chroma", metadata=synth_collection, **KW)
    before = st.info()["table_versions"]
    rep = index_paths(folder, st, "chroma", metadata=synth_collection, **KW)
    assert len(rep.skipped) == 5 and len(rep.rejected) == 1
    assert Store(st.uri).info()["table_versions"] == before


def test_rename_keeps_the_recording_and_a_removed_file_is_reported_then_pruned(folder, tmp_path):
    st = Store(tmp_path / "s.lance")
    index_paths(folder, st, "chroma", **KW)
    a, b = sorted(folder.glob("*.flac"))[:2]
    rid = st.recording(a.name)["recording_id"]
    a.rename(folder / "renamed.flac")
    b.unlink()
    rep = index_paths(folder, st, "chroma", **KW)
    assert rep.added == [] and rep.moved == [(str(a), str(folder / "renamed.flac"))]
    assert st.recording("renamed.flac")["recording_id"] == rid
    assert rep.missing == [str(b)] and len(st.recordings()) == 5  # reported, kept
    rep = index_paths(folder, st, "chroma", prune=True, **KW)
    assert rep.pruned == 1 and len(st.recordings()) == 4
    assert str(b) not in set(st.recordings()["path"])
    assert verify_store(st).ok and not verify_store(st).missing_files


def test_a_swap_moves_both_recordings_and_an_overwrite_removes_the_old_one(folder, tmp_path):
    st = Store(tmp_path / "s.lance")
    index_paths(folder, st, "chroma", **KW)
    a, b, c = sorted(folder.glob("*.flac"))[:3]
    ids = {f.name: st.recording(f.name)["recording_id"] for f in (a, b, c)}
    tmp = folder / "tmp.bin"
    a.rename(tmp)
    b.rename(a)
    tmp.rename(b)  # a and b swapped
    shutil.copy(a, c)  # c overwritten with a copy of (new) a
    rep = index_paths(folder, st, "chroma", **KW)
    assert rep.added == []
    assert st.recording(a.name)["recording_id"] == ids[b.name]
    assert st.recording(b.name)["recording_id"] == ids[a.name]
    assert rep.overwritten == [str(c)]
    assert ids[c.name] not in set(st.recordings()["recording_id"])
    assert verify_store(st).ok


def test_second_writer_is_refused_and_a_dead_writers_lock_is_taken_over(folder, tmp_path):
    st = Store(tmp_path / "s.lance")
    with write_lock(st.uri):
        with pytest.raises(StoreError, match="being written by another process"):
            index_paths(folder, st, "chroma", **KW)
    (Path(st.uri) / LOCK_FILE).write_text("999999999")  # a pid that does not run
    rep = index_paths(folder, st, "chroma", **KW)
    assert len(rep.added) == 5 and not (Path(st.uri) / LOCK_FILE).exists()


def test_every_input_is_accounted_for(folder, tmp_path):
    shutil.copy(next(folder.glob("*.flac")), folder / "copy.flac")
    (folder / "dir.wav").mkdir()
    (folder / "bad.wav").write_text("x")
    rep = index_paths(folder, Store(tmp_path / "s.lance"), "chroma", **KW)
    inputs = rep.inputs()
    assert len(inputs) == rep.files_seen == 8
    by = {Path(i["path"]).name: i for i in inputs}
    assert by["copy.flac"]["status"] == "duplicate" or by["copy.flac"]["status"] == "indexed"
    dup = next(i for i in inputs if i["status"] == "duplicate")
    assert Path(dup["duplicate_of"]).exists() and dup["duplicate_of"] != dup["path"]
    assert by["dir.wav"]["status"] == "skipped" and "directory" in by["dir.wav"]["why"]
    assert by["bad.wav"] == {**by["bad.wav"], "status": "rejected", "reason": "not_audio"}


# ---------------------------------------------------------------------------------------------- CLI
def test_verify_and_repair_commands(folder, tmp_path):
    st = Store(tmp_path / "s.lance")
    index_paths(folder, st, "chroma", **KW)
    runner = CliRunner()
    ok = runner.invoke(app, ["verify", "--store", st.uri])
    assert ok.exit_code == 0, ok.output
    assert "every invariant holds" in ok.output
    # damage: a marker goes, another recording's pooled vector goes
    rids = sorted(st.recordings()["recording_id"])
    st.delete_rows("indexed", f"recording_id = '{rids[0]}'")
    sp = st.find_space(encoder="chroma", level="recording", pooling="max")
    st.delete_rows(sp.table_name, f"recording_id = '{rids[1]}'")
    bad = runner.invoke(app, ["verify", "--store", st.uri, "--json"])
    assert bad.exit_code == 1
    kinds = {p["kind"] for p in __import__("json").loads(bad.output)["problems"]}
    assert {"unmarked_recording", "stray_vectors", "incomplete_recording"} <= kinds
    fixed = runner.invoke(app, ["repair", "--store", st.uri])
    assert fixed.exit_code == 0, fixed.output
    assert "repaired:" in fixed.output
    assert runner.invoke(app, ["verify", "--store", st.uri]).exit_code == 0
    # the next run re-indexes exactly what repair removed; layers and poolings agree again
    rep = index_paths(folder, st, "chroma", **KW)
    assert len(rep.added) == 2 and verify_store(st).ok
    counts = {
        s.space_id: len(st.load(s, with_metadata=False).keys) for s in st.spaces() if s.level != "window"
    }
    assert set(counts.values()) == {5}


def test_every_command_named_in_a_hint_exists():
    names = {c.name or c.callback.__name__ for c in app.registered_commands}
    root = Path(__file__).resolve().parents[1]
    named = set()
    for py in list((root / "embedstore").rglob("*.py")) + list((root / "indexers").rglob("*.py")):
        named |= set(re.findall(r"`embedstore ([a-z][a-z-]*)", py.read_text()))
    assert named, "no hints found"
    assert named <= names, f"hints name commands that do not exist: {sorted(named - names)}"


def test_read_errors_are_told_apart(tmp_path):
    from embedstore.pipeline.stages import read_one

    f = tmp_path / "x.wav"
    f.write_bytes(b"RIFF")
    os.chmod(f, 0)
    r = read_one(f, sample_rate=22050, window_s=4, hop_s=2)
    if os.geteuid() != 0:  # root reads anything
        assert r.reason == "unreadable"
    fifo = tmp_path / "p.wav"
    os.mkfifo(fifo)
    assert read_one(fifo, sample_rate=22050, window_s=4, hop_s=2).reason == "not_a_file"


def test_a_derived_space_without_markers_survives_verify_and_reindex(folder, tmp_path):
    from embedstore.store import Space

    st = Store(tmp_path / "s.lance")
    index_paths(folder, st, "chroma", **KW)
    ids = list(st.recordings()["recording_id"])
    sp = Space(
        setup_key="style",
        encoder="style",
        layer=0,
        layer_name="style",
        level="recording",
        pooling="mean",
        window_s=0.0,
        hop_s=0.0,
        dim=3,
        provenance={"encoder": "style"},
    )
    st.write_vectors(sp, ids, [-1] * len(ids), [0.0] * len(ids), [1.0] * len(ids), np.ones((len(ids), 3)))
    assert verify_store(st).ok
    index_paths(folder, st, "chroma", **KW)
    assert len(st.load(sp, with_metadata=False).keys) == len(ids)


def test_index_command_reports_duplicates_renames_and_missing_files_and_prunes(folder, tmp_path):
    runner = CliRunner()
    store = str(tmp_path / "s.lance")
    args = ["--store", store, "--window", "4", "--hop", "2", "--no-frames", "--no-progress"]
    assert runner.invoke(app, ["index", str(folder), *args]).exit_code == 0
    a, b, c = sorted(folder.glob("*.flac"))[:3]
    shutil.copy(a, folder / "zz copy.flac")
    b.rename(folder / "zz renamed.flac")
    c.unlink()
    out = runner.invoke(app, ["index", str(folder), *args]).output
    assert f"duplicate {folder / 'zz copy.flac'}: same content as {a}" in out
    assert f"moved {b} -> {folder / 'zz renamed.flac'}" in out
    assert "1 recordings whose file is gone: kept (remove them with --prune)" in out and str(c) in out
    out = runner.invoke(app, ["index", str(folder), *args, "--prune"]).output
    assert "1 recordings whose file is gone: removed" in out
    assert runner.invoke(app, ["verify", "--store", store]).exit_code == 0
