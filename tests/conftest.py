"""Shared fixtures: generated audio (always available) and the ../shared data (skipped when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault(
    "EMBEDSTORE_STRICT", "1"
)  # a bug while reading a file raises instead of becoming a reject


@pytest.fixture(scope="session")
def synth_collection(tmp_path_factory) -> Path:
    """Manifest of a small generated collection: 3 pieces x 3 performers (audio/ beside it)."""
    from embedstore.synth import make_collection

    out = tmp_path_factory.mktemp("synth")
    return make_collection(out, n_pieces=3, n_performers=3, n_bars=6, seed=0)


@pytest.fixture(scope="session")
def chroma_store(synth_collection, tmp_path_factory):
    """A store with the synthetic collection indexed with `chroma` (10 s / 5 s windows, mean+max pooling)."""
    from embedstore.pipeline import index_paths
    from embedstore.store import Store

    st = Store(tmp_path_factory.mktemp("stores") / "chroma.lance")
    index_paths(
        synth_collection.parent / "audio", st, "chroma", metadata=synth_collection, window_s=4.0, hop_s=2.0
    )
    return st


@pytest.fixture
def chroma_store_copy(chroma_store, tmp_path):
    """A private copy of ``chroma_store`` for tests that add spaces to it (the session store stays unchanged)."""
    import shutil

    from embedstore.store import Store

    dst = tmp_path / "chroma-copy.lance"
    shutil.copytree(chroma_store.uri, dst)
    return Store(dst)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    from embedstore.config import shared_data_dir

    d = shared_data_dir()
    if d is None:
        pytest.skip("../shared data not found (set EMBEDSTORE_SHARED)")
    return d
