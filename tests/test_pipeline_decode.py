"""Decoding in worker processes (`index_paths(..., decode="processes")`) gives the store that threads give."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from embedstore.errors import ConfigError
from embedstore.pipeline import index_paths
from embedstore.store import Store


def test_process_decoding_gives_the_thread_store(synth_collection, tmp_path):
    from embedstore.synth import write_bad_files

    folder = tmp_path / "audio"
    shutil.copytree(synth_collection.parent / "audio", folder)
    bad = write_bad_files(folder)
    stores = {}
    for decode in ("threads", "processes"):
        st = Store(tmp_path / f"{decode}.lance")
        rep = index_paths(
            folder, st, "bssl", metadata=synth_collection, window_s=4, hop_s=2, batch_files=4, decode=decode
        )
        assert len(rep.added) == 9 and len(rep.rejected) == len(bad)
        stores[decode] = st
    a, b = stores["threads"], stores["processes"]
    assert sorted(a.recordings()["recording_id"]) == sorted(b.recordings()["recording_id"])
    assert dict(zip(b.rejects()["file_name"], b.rejects()["reason"])) == bad
    for sp in a.spaces():
        ea, eb = a.load(sp), b.load(sp)
        oa, ob = np.argsort(ea.keys), np.argsort(eb.keys)
        assert np.array_equal(ea.keys[oa], eb.keys[ob])
        assert np.allclose(ea.vectors[oa], eb.vectors[ob])
    again = index_paths(folder, b, "bssl", window_s=4, hop_s=2, decode="processes")
    assert again.added == [] and len(again.skipped) == 9


def test_unknown_decode_mode_is_refused(synth_collection, tmp_path):
    with pytest.raises(ConfigError, match="decode"):
        index_paths(synth_collection.parent / "audio", tmp_path / "s.lance", "bssl", decode="gpu")  # type: ignore[arg-type]
