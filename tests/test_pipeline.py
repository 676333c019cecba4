"""Indexing a folder: incremental re-runs, bad files, changed files and a kill -9 in the middle of a write."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from embedstore.pipeline import index_paths
from embedstore.store import Store


@pytest.fixture()
def folder(synth_collection, tmp_path):
    d = tmp_path / "audio"
    shutil.copytree(synth_collection.parent / "audio", d)
    return d


def test_index_then_reindex_adds_nothing(folder, synth_collection, tmp_path):
    st = Store(tmp_path / "s.lance")
    r1 = index_paths(folder, st, "chroma", metadata=synth_collection, window_s=4, hop_s=2)
    n_files = len(list(folder.glob("*.flac")))
    assert len(r1.added) == n_files and not r1.rejected
    assert {"read", "encode", "write", "total"} <= set(r1.timings)
    r2 = index_paths(folder, st, "chroma", metadata=synth_collection, window_s=4, hop_s=2)
    assert r2.added == [] and len(r2.skipped) == n_files
    assert st.verify_setup(r1.setup_key) == []
    # metadata joined by file name / clip id, usable in filters
    pieces = set(st.recordings()["piece_id"])
    assert len(pieces) == 3
    some = sorted(pieces)[0]
    assert len(st.recording_ids(f"piece_id = '{some}'")) == 3


def test_bad_files_are_rejected_and_the_rest_indexed(folder, tmp_path):
    from embedstore.synth import write_bad_files

    expected = write_bad_files(folder)
    st = Store(tmp_path / "s.lance")
    rep = index_paths(folder, st, "chroma", window_s=4, hop_s=2)
    n_good = len(list(folder.glob("*.flac"))) - sum(1 for f in expected if f.endswith(".flac"))
    assert len(rep.added) == n_good
    rej = st.rejects()
    got = dict(zip(rej["file_name"], rej["reason"]))
    assert got == expected
    assert all(len(m) > 5 for m in rej["message"])


def test_changed_file_is_reindexed_and_old_rows_removed(folder, tmp_path):
    import soundfile as sf

    st = Store(tmp_path / "s.lance")
    index_paths(folder, st, "chroma", window_s=4, hop_s=2)
    f = sorted(folder.glob("*.flac"))[0]
    old_id = st.recording(f.name)["recording_id"]
    x, sr = sf.read(f, dtype="float32")
    sf.write(f, np.roll(x, sr // 2) * 0.8, sr)
    rep = index_paths(folder, st, "chroma", window_s=4, hop_s=2)
    assert rep.added == [str(f.resolve())] and rep.replaced == [str(f.resolve())]
    new_id = st.recording(f.name)["recording_id"]
    assert new_id != old_id
    assert old_id not in set(st.recordings()["recording_id"])
    for sp in st.spaces():
        assert old_id not in set(st.load(sp, with_metadata=False).recording_ids)
    assert st.verify_setup(rep.setup_key) == []


CRASH = textwrap.dedent("""
    import os, sys
    from embedstore.store import Store
    from embedstore.pipeline import index_paths
    calls = {"n": 0}
    orig = Store.upsert_recordings
    def crashing(self, rows, **kw):
        calls["n"] += 1
        if calls["n"] == 2:      # vectors of batch 2 are on disk, its recordings and markers are not
            os.kill(os.getpid(), 9)
        return orig(self, rows, **kw)
    Store.upsert_recordings = crashing
    index_paths(sys.argv[1], Store(sys.argv[2]), "chroma", window_s=4, hop_s=2, batch_files=2, optimize=False)
""")


def test_kill_9_mid_write_resumes_without_duplicates_or_losses(folder, tmp_path):
    store_dir = tmp_path / "s.lance"
    p = subprocess.run(
        [sys.executable, "-c", CRASH, str(folder), str(store_dir)], capture_output=True, timeout=300
    )
    assert p.returncode == -9, p.stderr.decode()[-2000:]
    st = Store(store_dir)
    key = "chroma-w4-h2"
    assert len(st.indexed(key)) == 2  # only batch 1 completed
    assert st.verify_setup(key)  # orphan rows of batch 2 are there
    rep = index_paths(folder, st, "chroma", window_s=4, hop_s=2, batch_files=2)
    n_files = len(list(folder.glob("*.flac")))
    assert rep.cleaned_partial == 2
    assert len(rep.added) == n_files - 2 and len(rep.skipped) == 2
    assert st.verify_setup(key) == []
    assert len(st.recordings()) == n_files
    win = st.find_space(encoder="chroma", level="window")
    es = st.load(win, with_metadata=False)
    assert len(np.unique(es.keys)) == len(es.keys)
    assert set(es.recording_ids) == set(st.recordings()["recording_id"])


def test_nothing_indexable_is_reported(tmp_path):
    d = tmp_path / "bad"
    d.mkdir()
    (d / "a.wav").write_text("not audio")
    rep = index_paths(d, Store(tmp_path / "s.lance"), "chroma")
    assert not rep.ok and rep.rejected[0].reason == "not_audio"
