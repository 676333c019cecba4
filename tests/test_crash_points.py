"""Fault injection at the write boundaries (docs/write-protocol.md): a subprocess indexes with
``EMBEDSTORE_CRASH_AT=<point>`` and dies there (``os._exit(77)``); the next run must complete, `verify` must find
nothing wrong, and the store must hold exactly the folder's contents (nothing lost, duplicated or stale)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from embedstore.pipeline import index_paths
from embedstore.store import Store
from embedstore.store.verify import audit_folder, verify_store
from embedstore.utils import CRASH_ENV, CRASH_EXIT_CODE

KW = dict(window_s=4.0, hop_s=2.0, frames=False, batch_files=2)
RUN = textwrap.dedent("""
    import sys
    from embedstore.pipeline import index_paths
    index_paths(sys.argv[1], sys.argv[2], "chroma", window_s=4.0, hop_s=2.0, frames=False, batch_files=2,
                prune=True)
""")


@pytest.fixture(scope="module")
def template(synth_collection, tmp_path_factory):
    """4 clips and a store holding them; 2 more clips for adds."""
    root = tmp_path_factory.mktemp("crash")
    clips = sorted((synth_collection.parent / "audio").glob("*.flac"))
    base = root / "base"
    base.mkdir()
    for f in clips[:4]:
        shutil.copy(f, base / f.name)
    index_paths(base, Store(root / "base.lance"), "chroma", **KW)
    return root, clips[4:6]


def _changed(f: Path) -> None:
    import soundfile as sf

    x, sr = sf.read(f, dtype="float32")
    sf.write(f, np.roll(x, sr // 3) * 0.9, sr)


def _scenario(name: str, template, tmp_path: Path) -> tuple[Path, Path]:
    """(folder, store) for a scenario, from the module's template."""
    root, extra = template
    folder, store = tmp_path / "audio", tmp_path / "s.lance"
    shutil.copytree(root / "base", folder)
    if name != "fresh":
        shutil.copytree(root / "base.lance", store)
        st = Store(store)  # the copy's recordings point at this test's folder
        rec = st.recordings()
        st.update_metadata(
            [
                {"recording_id": r, "path": str(folder / n)}
                for r, n in zip(rec["recording_id"], rec["file_name"])
            ]
        )
    files = sorted(folder.glob("*.flac"))
    if name == "add":
        for f in extra:
            shutil.copy(f, folder / f.name)
        (folder / "bad.wav").write_text("not audio")
    elif name == "change":
        _changed(files[0])
        _changed(files[2])
    elif name == "delete":
        files[1].unlink()
    elif name == "duplicate":
        shutil.copy(files[0], folder / "copy of first.flac")
        shutil.copy(extra[0], folder / extra[0].name)
    return folder, store


CASES = [
    ("fresh", "after_create_table@4"),
    ("fresh", "between_spaces"),
    ("fresh", "after_recordings"),
    ("fresh", "after_markers"),
    ("add", "before_markers"),
    ("add", "before_rejects"),
    ("add", "before_optimize"),
    ("change", "after_recordings"),
    ("change", "before_delete_vectors"),
    ("change", "after_markers@2"),
    ("delete", "before_delete_markers"),
    ("delete", "before_delete_vectors"),
    ("duplicate", "after_vectors"),
]


@pytest.mark.parametrize(("scenario", "point"), CASES, ids=[f"{s}-{p}" for s, p in CASES])
def test_a_crash_at_a_write_boundary_is_repaired_by_the_next_run(scenario, point, template, tmp_path):
    folder, store = _scenario(scenario, template, tmp_path)
    env = {**os.environ, CRASH_ENV: point, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    p = subprocess.run(
        [sys.executable, "-c", RUN, str(folder), str(store)], env=env, capture_output=True, timeout=600
    )
    assert p.returncode == CRASH_EXIT_CODE, f"crash point {point} not reached: {p.stderr.decode()[-2000:]}"
    st = Store(store)
    rep = index_paths(folder, st, "chroma", prune=True, **KW)  # the next run
    assert rep.ok
    v = verify_store(st)
    assert v.ok, [p.detail for p in v.problems]
    files = [f for f in folder.iterdir() if f.suffix == ".flac"]
    audit = audit_folder(st, files)
    assert audit == {"lost": [], "duplicated": [], "stale": []}
    n_contents = len({f.read_bytes() for f in files})
    assert len(st.recordings()) == n_contents
    # every space and pooling of the setup holds the same recordings
    ids = {s.space_id: set(st.load(s, with_metadata=False).recording_ids) for s in st.spaces()}
    assert all(v == set(st.recordings()["recording_id"]) for v in ids.values()), ids
    # a third run has nothing to do and writes nothing
    before = st.info()["table_versions"]
    again = index_paths(folder, st, "chroma", prune=True, **KW)
    assert again.added == [] and Store(store).info()["table_versions"] == before


SEARCH = textwrap.dedent("""
    import sys
    from embedstore.search import search
    search(sys.argv[1], recording_id=sys.argv[2], k=3, backend="faiss-hnsw")
""")


@pytest.mark.parametrize(
    "point",
    ["cache_after_invalidate", "cache_between_files", "cache_before_manifest", "cache_after_manifest"],
)
def test_a_crash_while_writing_the_faiss_cache_is_never_trusted(point, template, tmp_path):
    """The derived FAISS index is written file by file, manifest last: a crash anywhere leaves a cache that the
    next search rebuilds (or, after the manifest, verifies), and its answers equal the exact ones."""
    from embedstore.search import search
    from indexers import read_manifest

    root, _ = template
    store = tmp_path / "s.lance"
    shutil.copytree(root / "base.lance", store)
    rid = Store(store).recordings()["recording_id"].iloc[0]
    env = {**os.environ, CRASH_ENV: point, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    p = subprocess.run(
        [sys.executable, "-c", SEARCH, str(store), rid], env=env, capture_output=True, timeout=600
    )
    assert p.returncode == CRASH_EXIT_CODE, f"crash point {point} not reached: {p.stderr.decode()[-2000:]}"
    caches = [d for d in (store / "_indexes").rglob("*") if d.is_dir() and not d.name.startswith(".")]
    assert caches, "the crashed search left no cache folder to test"
    vouched = [c for c in caches if read_manifest(c) is not None]
    assert bool(vouched) == (point == "cache_after_manifest")  # no manifest vouches for a half-written cache
    got = search(store, recording_id=rid, k=3, backend="faiss-hnsw")
    ref = search(store, recording_id=rid, k=3, backend="exact")
    assert [h.recording_id for h in got.hits] == [h.recording_id for h in ref.hits]
    assert any(read_manifest(c) is not None for c in caches)  # rebuilt (or verified) and vouched for again
