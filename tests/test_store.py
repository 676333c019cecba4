"""Store round trips, provenance checks, rejects and crash-safety of the writer."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hst

from embedstore.errors import ProvenanceError, StoreError
from embedstore.store import EncodedRecording, Space, Store, row_key


def _space(dim=4, level="window", pooling="none", prov=None, key="toy-w1-h1"):
    return Space(
        setup_key=key,
        encoder="toy",
        layer=0,
        layer_name="L0",
        level=level,
        pooling=pooling,
        window_s=1.0,
        hop_s=1.0,
        dim=dim,
        provenance=prov or {"encoder": "toy", "dim": dim},
    )


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n_rec=hst.integers(1, 6), n_win=hst.integers(1, 5), dim=hst.integers(1, 16), seed=hst.integers(0, 10**6)
)
def test_vectors_round_trip(tmp_path_factory, n_rec, n_win, dim, seed):
    rng = np.random.default_rng(seed)
    st = Store(tmp_path_factory.mktemp("rt") / "s.lance")
    sp = _space(dim)
    rids = [f"rec{i:02d}" for i in range(n_rec) for _ in range(n_win)]
    widx = [w for _ in range(n_rec) for w in range(n_win)]
    vec = rng.normal(size=(len(rids), dim)).astype(np.float32)
    st.write_vectors(sp, rids, widx, np.array(widx, float), np.array(widx, float) + 1, vec)
    es = st.load(sp, with_metadata=False)
    assert list(es.recording_ids) == rids  # sorted by (recording, window), which is the write order here
    np.testing.assert_array_equal(es.vectors, vec)
    assert list(es.keys) == [row_key(r, w) for r, w in zip(rids, widx)]
    assert len(set(es.keys)) == len(es.keys)


def test_provenance_mismatch_is_refused(tmp_path):
    st = Store(tmp_path / "s.lance")
    st.register_spaces([_space(prov={"encoder": "toy", "params": {"n_fft": 1024}})])
    st.register_spaces([_space(prov={"encoder": "toy", "params": {"n_fft": 1024}})])  # idempotent
    with pytest.raises(ProvenanceError, match="params"):
        st.register_spaces([_space(prov={"encoder": "toy", "params": {"n_fft": 2048}})])


def test_provenance_travels_with_the_table(tmp_path):
    st = Store(tmp_path / "s.lance")
    sp = _space(prov={"encoder": "toy", "model_id": "m", "revision": "abc"})
    st.write_vectors(sp, ["a"], [0], [0.0], [1.0], np.ones((1, 4), np.float32))
    meta = st.table(sp.table_name).schema.metadata
    assert b"abc" in meta[b"embedstore.provenance"]
    assert Store(tmp_path / "s.lance").space(sp.space_id).provenance["revision"] == "abc"


def test_recordings_upsert_widens_columns_and_filters(tmp_path):
    st = Store(tmp_path / "s.lance")
    base = {
        "path": "/x",
        "file_name": "x",
        "content_hash": "h",
        "duration_s": 1.0,
        "sample_rate": 1,
        "channels": 1,
        "added_at": "t",
    }
    st.upsert_recordings([{**base, "recording_id": "a", "composer": "Chopin"}])
    st.upsert_recordings([{**base, "recording_id": "b", "composer": "Bach", "henle": 7}])
    st.upsert_recordings([{**base, "recording_id": "a", "composer": "Chopin", "henle": 9}])
    df = st.recordings()
    assert sorted(df["recording_id"]) == ["a", "b"]
    assert st.recording_ids("composer = 'Chopin'") == ["a"]
    assert st.recording_ids("henle > 8") == ["a"]
    with pytest.raises(StoreError, match="bad filter"):
        st.recordings("no_such_column = 1")


def test_rejects_keep_latest_verdict(tmp_path):
    st = Store(tmp_path / "s.lance")
    st.add_rejects([{"path": "/a.wav", "reason": "empty", "message": "0 bytes", "setup_key": "k"}])
    st.add_rejects([{"path": "/a.wav", "reason": "corrupt", "message": "bad", "setup_key": "k"}])
    df = st.rejects()
    assert list(df["reason"]) == ["corrupt"]
    st.clear_rejects(["/a.wav"], "k")
    assert st.rejects().empty


def _encoded(rid, n=3, dim=4, layers=2):
    rec = {
        "recording_id": rid,
        "path": f"/{rid}.wav",
        "file_name": f"{rid}.wav",
        "content_hash": rid * 4,
        "duration_s": float(n),
        "sample_rate": 1,
        "channels": 1,
        "added_at": "t",
    }
    v = np.arange(layers * n * dim, dtype=np.float32).reshape(layers, n, dim) + len(rid)
    return EncodedRecording(rec, v, np.arange(n, dtype=float), np.arange(n, dtype=float) + 1, np.ones(n))


class _Enc:
    name = "toy"
    dim = 4
    layer_names = ["L0", "L1"]

    def provenance(self):
        return {"encoder": "toy", "dim": 4}


def test_partial_rows_without_marker_are_cleaned(tmp_path):
    st = Store(tmp_path / "s.lance")
    spaces = st.register_setup(_Enc(), window_s=1, hop_s=1, poolings=("mean", "max"))
    st.write_encoded(spaces, [_encoded("aa"), _encoded("bb")])
    # a crash after the vectors of "cc" were written but before its marker
    for sp in spaces:
        e = _encoded("cc")
        if sp.level == "window":
            st.write_vectors(sp, ["cc"] * 3, [0, 1, 2], e.starts_s, e.ends_s, e.window_vectors[sp.layer])
    assert st.verify_setup("toy-w1-h1")  # the damage is visible
    assert st.clean_partial("toy-w1-h1") == 1
    assert st.verify_setup("toy-w1-h1") == []
    ids, X, meta, sps = st.load_layers("toy-w1-h1", level="recording", pooling="mean")
    assert X.shape == (2, 2, 4) and sorted(ids) == ["aa", "bb"]
    np.testing.assert_allclose(X[1, 0], _encoded("aa").window_vectors[1].mean(axis=0))
    ids, X, meta, sps = st.load_layers("toy-w1-h1", level="recording", pooling="max")
    np.testing.assert_allclose(X[0, 1], _encoded("bb").window_vectors[0].max(axis=0))


def test_pooling_weighs_windows_by_their_real_audio():
    from embedstore.errors import ConfigError
    from embedstore.store import pool_windows, window_weights

    v = np.array([[[0.0, 2.0], [4.0, 6.0], [8.0, 10.0]]], np.float32)  # (1 layer, 3 windows, 2)
    w = window_weights(np.array([0.0, 1.0, 2.0]), 2.0, 3.5)  # the last window holds 1.5 s of 2 s
    np.testing.assert_allclose(w, [1.0, 1.0, 0.75])
    np.testing.assert_allclose(pool_windows(v, w, "mean")[0], (v[0] * w[:, None]).sum(0) / w.sum(), rtol=1e-6)
    np.testing.assert_allclose(pool_windows(v, None, "mean")[0], [4.0, 6.0])
    np.testing.assert_allclose(pool_windows(v, w, "max")[0], [8.0, 10.0])
    with pytest.raises(ConfigError, match="'mean', 'max'"):
        pool_windows(v, w, "median")


def test_unknown_layer_name_is_a_clear_error(tmp_path):
    st = Store(tmp_path / "s.lance")
    st.register_setup(_Enc(), window_s=1, hop_s=1)
    assert st.find_space(layer="L1", level="window").layer == 1
    with pytest.raises(StoreError, match="no space") as e:
        st.find_space(layer="L9", level="window")
    assert "toy-w1-h1.L0.window" in (e.value.hint or "")


def test_store_has_public_methods_only():
    private = [m for m in dir(Store) if m.startswith("_") and not m.startswith("__")]
    assert private == []


def test_missing_store_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="no store"):
        Store(tmp_path / "nope.lance", create=False)


def test_stratified_group_kfold_never_drops_a_fold():
    from embedstore.evaluation.splits import check_disjoint, group_kfold

    groups = np.repeat(np.arange(500), 2)
    y = np.repeat(np.arange(500) % 9, 2)
    folds = group_kfold(groups, n_splits=5, stratify=y)
    assert len(folds) == 5
    for tr, te in folds:
        check_disjoint(groups, tr, te)
    assert sorted(np.concatenate([te for _, te in folds]).tolist()) == list(range(1000))
