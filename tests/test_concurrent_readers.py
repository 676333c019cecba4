"""Readers during a write: `search --id` and `info` while another process re-indexes changed files never error and
never miss a recording being replaced; a second writer is refused; a missing --query file is an error."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from embedstore.cli import app
from embedstore.errors import SearchError
from embedstore.pipeline import index_paths
from embedstore.search import search
from embedstore.store import Store
from embedstore.store.verify import verify_store

KW = dict(window_s=4.0, hop_s=2.0, frames=False)
WRITER = textwrap.dedent("""
    import sys
    from embedstore.pipeline import index_paths
    index_paths(sys.argv[1], sys.argv[2], "chroma", window_s=4.0, hop_s=2.0, frames=False, batch_files=1)
""")


@pytest.fixture()
def indexed(synth_collection, tmp_path):
    d = tmp_path / "audio"
    d.mkdir()
    for f in sorted((synth_collection.parent / "audio").glob("*.flac"))[:6]:
        shutil.copy(f, d / f.name)
    st = Store(tmp_path / "s.lance")
    index_paths(d, st, "chroma", batch_files=2, **KW)
    return d, st


def _change(f: Path, shift: int) -> None:
    import soundfile as sf

    x, sr = sf.read(f, dtype="float32")
    sf.write(f, np.roll(x, shift) * 0.9, sr)


def test_readers_during_a_reindex_of_changed_files_never_fail(indexed):
    folder, st = indexed
    files = sorted(folder.glob("*.flac"))
    for i, f in enumerate(files):
        _change(f, 2000 * (i + 1))  # every file changes: every recording is replaced
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(folder), st.uri],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    errors: list[str] = []
    calls = 0
    reader = Store(st.uri)
    try:
        deadline = time.time() + 300
        while writer.poll() is None and time.time() < deadline:
            for f in files:
                calls += 1
                try:
                    reader.recording(f.stem)  # exactly one recording per path, at every instant
                    # what `search --id <stem>` does: one call resolves the stem and searches (an id read in an
                    # earlier call may name content that has since been replaced: that is a correct "no recording")
                    res = search(reader, recording_id=f.stem, k=3)
                    assert len(res.hits) >= 1
                    reader.info()
                except Exception as e:  # noqa: BLE001 - counted and reported below
                    errors.append(f"{f.name}: {type(e).__name__}: {e}")
    finally:
        writer.wait(timeout=300)
    assert writer.returncode == 0, writer.stderr.read().decode()[-2000:] if writer.stderr else ""
    assert calls >= len(files)
    assert errors == [], f"{len(errors)} of {calls} reader calls failed: {errors[:3]}"
    assert verify_store(Store(st.uri)).ok
    assert len(Store(st.uri).recordings()) == len(files)


def test_a_missing_query_file_is_an_error_not_a_fallback(indexed, tmp_path):
    _, st = indexed
    with pytest.raises(SearchError, match="not found"):
        search(st, query_path=tmp_path / "gone.flac", k=3)
    res = CliRunner().invoke(app, ["search", "--store", st.uri, "--query", str(tmp_path / "gone.flac")])
    assert res.exit_code == 2 and "not found" in res.output


def test_a_second_index_on_the_same_store_is_refused_with_a_clear_message(indexed):
    from embedstore.store.lock import write_lock

    folder, st = indexed
    with write_lock(st.uri):  # as if another index were running
        res = CliRunner().invoke(app, ["index", str(folder), "--store", st.uri, "--no-progress"])
        assert res.exit_code == 2
        assert "being written by another process" in res.output and "Traceback" not in res.output
        rep = CliRunner().invoke(app, ["repair", "--store", st.uri])
        assert rep.exit_code == 2 and "being written" in rep.output
    assert CliRunner().invoke(app, ["verify", "--store", st.uri]).exit_code == 0
