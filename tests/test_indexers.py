"""Search backends (indexers/): every backend returns the brute-force top-k, filters exactly,
pads short results, survives a stale or corrupt cache, and choose_index decides at its boundaries."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from embedstore.errors import ConfigError, SearchError
from indexers import (
    ExactIndex,
    FaissHNSWIndex,
    FaissIVFPQIndex,
    IndexSpec,
    LanceIndex,
    check_cache,
    load_index,
    load_or_build,
    plan_filtered,
    search_filtered,
    spec_for,
)

PROPS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


# ----------------------------------------------------------------------------- helpers


def unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def clustered(rng, n, d, n_clusters, spread=0.15):
    centres = unit(rng, n_clusters, d)
    labels = rng.integers(0, n_clusters, n)
    x = centres[labels] + spread * rng.standard_normal((n, d)).astype(np.float32) / np.sqrt(d)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def random_keys(rng, n):
    """Unique non-negative int64 keys spread over the whole int64 range (not 0..n-1)."""
    keys = np.unique(rng.integers(0, 2**62, size=n + 16, dtype=np.int64))[:n]
    return rng.permutation(keys)


def reference(x, keys, q, k, allowed=None):
    """Plain numpy reference: cosine of every (query, allowed vector) pair, sorted."""
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    mask = np.ones(len(keys), bool) if allowed is None else np.isin(keys, allowed)
    sims = qn @ x[mask].T
    return sims, keys[mask]


def assert_topk(scores, got, x, keys, q, k, allowed=None, tol=1e-4):
    """``(scores, got)`` is a correct top-k: right shape, padding, score set and consistent keys.

    Ties are allowed: the sorted scores must match the reference within ``tol``, every key must be
    allowed, unique, scored correctly, and every reference hit clearly above the k-th score present.
    """
    assert scores.shape == got.shape == (q.shape[0], k)
    assert scores.dtype == np.float32 and got.dtype == np.int64
    sims, cand = reference(x, keys, q, k, allowed)
    true_score = dict(zip(keys.tolist(), range(len(keys))))
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    for r in range(q.shape[0]):
        n_valid = min(k, cand.size)
        assert (got[r, :n_valid] >= 0).all(), f"row {r}: missing hits {got[r]}"
        assert (got[r, n_valid:] == -1).all() and np.isneginf(scores[r, n_valid:]).all()
        hits = got[r, :n_valid]
        assert len(set(hits.tolist())) == n_valid
        if allowed is not None:
            assert np.isin(hits, allowed).all()
        ref = np.sort(sims[r])[::-1][:n_valid]
        np.testing.assert_allclose(scores[r, :n_valid], ref, atol=tol)
        assert (np.diff(scores[r, :n_valid]) <= tol).all(), "scores not sorted best first"
        actual = np.array([qn[r] @ x[true_score[h]] for h in hits.tolist()])
        np.testing.assert_allclose(scores[r, :n_valid], actual, atol=tol)
        if n_valid:
            must = set(cand[sims[r] > ref[-1] + tol].tolist())
            assert must <= set(hits.tolist())


@st.composite
def problems(draw, max_n=300):
    n = draw(st.integers(1, max_n))
    d = draw(st.integers(2, 32))
    k = draw(st.integers(1, 20))
    seed = draw(st.integers(0, 2**32 - 1))
    mode = draw(st.sampled_from(["none", "subset", "subset", "empty", "unknown"]))
    rng = np.random.default_rng(seed)
    x = unit(rng, n, d)
    keys = random_keys(rng, n)
    q = rng.standard_normal((draw(st.integers(1, 4)), d)).astype(np.float32)
    allowed = None
    if mode == "subset":
        allowed = keys[rng.random(n) < rng.uniform(0.0, 1.0)]
    elif mode == "empty":
        allowed = np.zeros(0, dtype=np.int64)
    elif mode == "unknown":  # some keys that are not in the index: ignored
        allowed = np.concatenate([keys[: max(1, n // 3)], [2**62 + 5, 2**62 + 7]])
    return x, keys, q, k, allowed


# ----------------------------------------------------------------------------- property tests


@PROPS
@given(problems())
def test_exact_index_equals_brute_force(problem):
    x, keys, q, k, allowed = problem
    idx = ExactIndex()
    idx.build(x, keys)
    scores, got = idx.search(q, k, allowed=allowed)
    assert_topk(scores, got, x, keys, q, k, allowed)


@PROPS
@given(problems())
def test_faiss_hnsw_with_high_ef_equals_brute_force(problem):
    x, keys, q, k, allowed = problem
    idx = FaissHNSWIndex(m=8, ef_construction=64, ef_search=512)  # ef >= n: visits the whole graph
    idx.build(x, keys)
    scores, got = idx.search(q, k, allowed=allowed)
    assert_topk(scores, got, x, keys, q, k, allowed)


@PROPS
@given(problems())
def test_faiss_ivfpq_on_tiny_sets_falls_back_to_flat_and_is_exact(problem):
    x, keys, q, k, allowed = problem
    idx = FaissIVFPQIndex(nlist=16, nprobe=4)
    idx.build(x, keys)
    assert idx.effective["structure"] == "flat"  # PQ cannot be trained on <= 300 vectors
    scores, got = idx.search(q, k, allowed=allowed)
    assert_topk(scores, got, x, keys, q, k, allowed)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(problem=problems())
def test_lance_flat_search_equals_brute_force(tmp_path, problem):
    import lancedb

    x, keys, q, k, allowed = problem
    db = lancedb.connect(tmp_path)
    idx = LanceIndex.from_arrays(db, f"t{uuid.uuid4().hex}", x, keys)
    assert not idx.has_index  # < 5k rows: searched flat
    scores, got = idx.search(q, k, allowed=allowed)
    assert_topk(scores, got, x, keys, q, k, allowed)


@PROPS
@given(problems())
def test_search_filtered_equals_brute_force_on_every_path(problem):
    x, keys, q, k, allowed = problem
    idx = FaissHNSWIndex(m=8, ef_construction=64, ef_search=512)
    idx.build(x, keys)
    # exact_below_count=0 lets broad filters take the ANN path even on tiny sets
    scores, got = search_filtered(idx, q, k, allowed, exact_below_count=0)
    assert_topk(scores, got, x, keys, q, k, allowed)


# ----------------------------------------------------------------------------- trained ANN indexes


def test_trained_ivfpq_with_full_refinement_is_exact():
    rng = np.random.default_rng(1)
    x, keys = unit(rng, 2000, 16), random_keys(rng, 2000)
    q = rng.standard_normal((6, 16)).astype(np.float32)
    # every cell probed and every PQ candidate re-ranked exactly => exact answers
    idx = FaissIVFPQIndex(nlist=8, m=4, nprobe=8, k_factor=500, min_train=1024)
    idx.build(x, keys)
    assert idx.effective == {"structure": "ivfpq", "nlist": 8, "m": 4}
    assert_topk(*idx.search(q, 5), x, keys, q, 5)
    allowed = keys[::9]
    assert_topk(*idx.search(q, 5, allowed=allowed), x, keys, q, 5, allowed)


def test_ivfpq_without_refine_needs_an_exact_fallback_for_selective_filters():
    rng = np.random.default_rng(2)
    x, keys = unit(rng, 3000, 16), random_keys(rng, 3000)
    q = rng.standard_normal((4, 16)).astype(np.float32)
    idx = FaissIVFPQIndex(nlist=8, m=4, nprobe=2, refine=False)
    idx.build(x, keys)
    allowed = keys[:40]
    with pytest.raises(SearchError):
        search_filtered(idx, q, 10, allowed)
    lookup = dict(zip(keys.tolist(), x))
    scores, got = search_filtered(
        idx, q, 10, allowed, exact_fallback=lambda ks: np.stack([lookup[int(k)] for k in ks])
    )
    assert_topk(scores, got, x, keys, q, 10, allowed)
    exact = ExactIndex()
    exact.build(x, keys)
    assert_topk(*search_filtered(idx, q, 10, allowed, exact_fallback=exact), x, keys, q, 10, allowed)


@pytest.mark.parametrize("index_type", ["IVF_HNSW_SQ", "IVF_PQ"])
def test_lance_ann_index_is_used_and_filtered_search_stays_exact(tmp_path, index_type):
    import lancedb

    rng = np.random.default_rng(3)
    x, keys = clustered(rng, 1500, 16, 30), random_keys(rng, 1500)
    q = clustered(rng, 8, 16, 30)
    idx = LanceIndex.from_arrays(
        lancedb.connect(tmp_path),
        "t",
        x,
        keys,
        index_type=index_type,
        min_rows_for_index=1000,
        refine_factor=20,
    )
    assert idx.has_index
    assert any(list(ix.columns) == ["row_key"] for ix in idx.table.list_indices())  # BTREE for IN filters
    scores, got = idx.search(q, 10)
    recall = np.mean([np.isin(g, r).mean() for g, r in zip(got, exact_top_keys(x, keys, q, 10))])
    assert recall >= 0.5  # an ANN index (not a random list)
    allowed = keys[rng.random(keys.size) < 0.05]
    assert_topk(*search_filtered(idx, q, 10, allowed), x, keys, q, 10, allowed)
    assert_topk(*idx.exact_search(q, 10, allowed=allowed), x, keys, q, 10, allowed)
    even = keys[keys % 2 == 0]
    assert_topk(*idx.exact_search(q, 10, allowed=None, where="row_key % 2 = 0"), x, keys, q, 10, even)
    vecs, found = idx.get_vectors(keys[:5])
    order = {int(k): i for i, k in enumerate(keys)}
    np.testing.assert_allclose(vecs, x[[order[int(k)] for k in found]], atol=1e-6)
    assert sorted(found.tolist()) == sorted(keys[:5].tolist())


def exact_top_keys(x, keys, q, k):
    idx = ExactIndex()
    idx.build(x, keys)
    return idx.search(q, k)[1]


def test_selective_filter_on_clustered_data_keeps_exact_recall():
    """Filtered HNSW loses recall on a 5 % filter; search_filtered returns the exact answer."""
    rng = np.random.default_rng(4)
    x, keys = clustered(rng, 10_000, 32, 100), random_keys(rng, 10_000)
    q = clustered(rng, 40, 32, 100)
    hnsw = FaissHNSWIndex(m=16, ef_construction=40, ef_search=16)
    hnsw.build(x, keys)
    allowed = keys[rng.random(keys.size) < 0.05]
    truth = ExactIndex()
    truth.build(x, keys)
    ref = truth.search(q, 10, allowed=allowed)[1]
    raw = hnsw.search(q, 10, allowed=allowed)[1]
    raw_recall = np.mean([np.isin(r, g).mean() for r, g in zip(ref, raw)])
    assert raw_recall < 0.95  # the failure search_filtered exists for
    assert plan_filtered(allowed.size, len(hnsw), 10) == "exact"
    scores, got = search_filtered(hnsw, q, 10, allowed)
    assert_topk(scores, got, x, keys, q, 10, allowed)
    np.testing.assert_array_equal(got, ref)


def test_broad_filter_takes_the_ann_path_and_short_rows_are_completed():
    rng = np.random.default_rng(5)
    x, keys = clustered(rng, 5000, 16, 50), random_keys(rng, 5000)
    q = clustered(rng, 20, 16, 50)
    hnsw = FaissHNSWIndex(m=4, ef_construction=8, ef_search=1)  # a poor graph on purpose
    hnsw.build(x, keys)
    allowed = keys[rng.random(keys.size) < 0.5]
    assert plan_filtered(allowed.size, len(hnsw), 50) == "ann"
    raw = hnsw.search(q, 50, allowed=allowed)[1]
    assert (raw == -1).any()  # filtered graph search comes back short for some queries
    scores, got = search_filtered(hnsw, q, 50, allowed, oversample=1.0)
    assert (got >= 0).all() and np.isin(got, allowed).all() and np.isfinite(scores).all()
    short = (raw == -1).any(axis=1)
    assert_topk(scores[short], got[short], x, keys, q[short], 50, allowed)  # completed exactly


# ----------------------------------------------------------------------------- padding, validation


@pytest.mark.parametrize("kind", ["exact", "faiss-hnsw", "faiss-ivfpq", "lance"])
def test_short_results_are_padded_with_minus_one(tmp_path, kind):
    import lancedb

    rng = np.random.default_rng(6)
    x, keys = unit(rng, 5, 8), np.array([10, 11, 12, 13, 14], dtype=np.int64)
    if kind == "lance":
        idx = LanceIndex.from_arrays(lancedb.connect(tmp_path), "t", x, keys)
    else:
        idx = {"exact": ExactIndex, "faiss-hnsw": FaissHNSWIndex, "faiss-ivfpq": FaissIVFPQIndex}[kind]()
        idx.build(x, keys)
    scores, got = idx.search(x[:2], 8)
    assert (got[:, :5] >= 10).all() and (got[:, 5:] == -1).all()
    assert np.isneginf(scores[:, 5:]).all()
    assert got[0, 0] == 10 and got[1, 0] == 11  # each vector is its own nearest neighbour
    scores, got = idx.search(x[:1], 3, allowed=np.array([12, 14, 999]))
    assert sorted(got[0, :2].tolist()) == [12, 14] and got[0, 2] == -1
    scores, got = idx.search(x[:1], 3, allowed=np.array([], dtype=np.int64))
    assert (got == -1).all()


def test_invalid_inputs_are_rejected_with_clear_errors():
    rng = np.random.default_rng(7)
    x = unit(rng, 10, 4)
    idx = ExactIndex()
    with pytest.raises(ConfigError, match="unique"):
        idx.build(x, np.zeros(10, dtype=np.int64))
    with pytest.raises(ConfigError, match="non-negative"):
        idx.build(x, -np.arange(10, dtype=np.int64))
    with pytest.raises(SearchError, match="empty"):
        idx.search(x, 1)
    idx.build(x, np.arange(10))
    with pytest.raises(SearchError, match="dimension"):
        idx.search(unit(rng, 1, 5), 1)
    with pytest.raises(SearchError, match="zero norm"):
        idx.search(np.zeros((1, 4), np.float32), 1)
    with pytest.raises(ConfigError, match="k must be"):
        idx.search(x, 0)
    with pytest.raises(ConfigError, match="valid values"):
        spec_for("annoy", 10, 4)
    # a single (dim,) query is accepted
    assert idx.search(x[3], 1)[1].tolist() == [[3]]


# ----------------------------------------------------------------------------- persistence, cache


@pytest.mark.parametrize("kind", ["exact", "faiss-hnsw", "faiss-ivfpq"])
def test_save_load_round_trip(tmp_path, kind):
    rng = np.random.default_rng(8)
    x, keys = unit(rng, 1500, 16), random_keys(rng, 1500)
    q = unit(rng, 5, 16)
    idx = spec_for(kind, len(x), 16)
    built = {"exact": ExactIndex, "faiss-hnsw": FaissHNSWIndex, "faiss-ivfpq": FaissIVFPQIndex}[kind](
        **idx.params
    )
    built.build(x, keys)
    built.save(tmp_path / "ix")
    loaded = load_index(tmp_path / "ix")
    assert type(loaded) is type(built) and len(loaded) == 1500
    for a, b in zip(built.search(q, 7, allowed=keys[::3]), loaded.search(q, 7, allowed=keys[::3])):
        np.testing.assert_array_equal(a, b)


class _Counting:
    """A real loader that counts how often the table had to be read."""

    def __init__(self, x, keys):
        self.x, self.keys, self.calls = x, keys, 0

    def __call__(self):
        self.calls += 1
        return self.x, self.keys


@pytest.fixture()
def cache_case(tmp_path):
    rng = np.random.default_rng(9)
    x, keys = unit(rng, 400, 16), random_keys(rng, 400)
    spec = IndexSpec("faiss-hnsw", {"m": 8, "ef_construction": 64, "ef_search": 512})
    source = {"table_version": 3, "row_count": 400, "fingerprint": "abc"}
    return tmp_path / "cache", spec, source, x, keys, unit(rng, 5, 16)


def test_cache_is_built_then_loaded_without_reading_the_table(cache_case):
    d, spec, source, x, keys, q = cache_case
    loader = _Counting(x, keys)
    idx, status = load_or_build(d, spec, source=source, loader=loader)
    assert status == "built" and loader.calls == 1
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["source"] == source and manifest["kind"] == "faiss-hnsw"
    assert set(manifest) >= {"kind", "params", "source", "index_sha256", "created", "faiss_version"}
    idx2, status = load_or_build(d, spec, source=source, loader=loader)
    assert status == "loaded" and loader.calls == 1
    assert_topk(*idx2.search(q, 5), x, keys, q, 5)
    assert not list(d.glob("*.pkl")) and not list(d.glob(".*"))  # no pickle, no leftover temp files


@pytest.mark.parametrize(
    "change, why",
    [
        ({"table_version": 4}, "stale: table_version 3 -> 4"),
        ({"fingerprint": "abd"}, "stale: fingerprint"),
    ],
)
def test_stale_source_is_rebuilt(cache_case, change, why):
    d, spec, source, x, keys, q = cache_case
    load_or_build(d, spec, source=source, loader=_Counting(x, keys))
    new_source = {**source, **change}
    assert check_cache(d, spec, source=new_source).startswith(why)
    idx, status = load_or_build(d, spec, source=new_source, loader=_Counting(x, keys))
    assert status.startswith(f"rebuilt: {why}")
    assert load_or_build(d, spec, source=new_source, loader=_Counting(x, keys))[1] == "loaded"


def test_row_count_change_rebuilds_with_the_new_rows(cache_case):
    d, spec, source, x, keys, q = cache_case
    load_or_build(d, spec, source=source, loader=_Counting(x, keys))
    idx, status = load_or_build(
        d, spec, source={**source, "row_count": 300}, loader=_Counting(x[:300], keys[:300])
    )
    assert status.startswith("rebuilt: stale: row_count 400 -> 300") and len(idx) == 300
    assert_topk(*idx.search(q, 5), x[:300], keys[:300], q, 5)


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete", "keys"])
def test_corrupt_index_file_is_rebuilt_and_results_stay_correct(cache_case, damage):
    d, spec, source, x, keys, q = cache_case
    load_or_build(d, spec, source=source, loader=_Counting(x, keys))
    target = d / ("keys.npy" if damage == "keys" else "index.faiss")
    data = bytearray(target.read_bytes())
    if damage == "truncate":
        target.write_bytes(bytes(data[: len(data) // 2]))
    elif damage == "delete":
        target.unlink()
    else:
        data[len(data) - 20] ^= 0xFF
        target.write_bytes(bytes(data))
    idx, status = load_or_build(d, spec, source=source, loader=_Counting(x, keys))
    assert status.startswith("rebuilt: index file")
    assert_topk(*idx.search(q, 5), x, keys, q, 5)
    assert load_or_build(d, spec, source=source, loader=_Counting(x, keys))[1] == "loaded"


def test_garbage_that_matches_the_manifest_checksum_is_still_not_trusted(cache_case):
    d, spec, source, x, keys, q = cache_case
    load_or_build(d, spec, source=source, loader=_Counting(x, keys))
    (d / "index.faiss").write_bytes(b"not a faiss index at all")
    manifest = json.loads((d / "manifest.json").read_text())
    import hashlib

    digest = hashlib.sha256(b"not a faiss index at all").hexdigest()
    manifest["files"]["index.faiss"] = manifest["index_sha256"] = digest
    (d / "manifest.json").write_text(json.dumps(manifest))
    idx, status = load_or_build(d, spec, source=source, loader=_Counting(x, keys))
    assert status.startswith("rebuilt: unreadable index")
    assert_topk(*idx.search(q, 5), x, keys, q, 5)


@pytest.mark.parametrize("manifest_text", [None, "{not json", "[1, 2]"])
def test_missing_or_unreadable_manifest_is_rebuilt(cache_case, manifest_text):
    d, spec, source, x, keys, q = cache_case
    load_or_build(d, spec, source=source, loader=_Counting(x, keys))
    if manifest_text is None:
        (d / "manifest.json").unlink()
    else:
        (d / "manifest.json").write_text(manifest_text)
    loader = _Counting(x, keys)
    idx, status = load_or_build(d, spec, source=source, loader=loader)
    assert status.startswith("rebuilt: manifest") and loader.calls == 1
    assert_topk(*idx.search(q, 5), x, keys, q, 5)


def test_changed_spec_replaces_the_cached_index_kind(cache_case):
    d, spec, source, x, keys, q = cache_case
    load_or_build(d, spec, source=source, loader=_Counting(x, keys))
    idx, status = load_or_build(d, IndexSpec("exact"), source=source, loader=_Counting(x, keys))
    assert status.startswith("rebuilt: index spec changed") and isinstance(idx, ExactIndex)
    assert not (d / "index.faiss").exists()  # files of the old index are removed
    assert load_or_build(d, IndexSpec("exact"), source=source, loader=_Counting(x, keys))[1] == "loaded"


# ----------------------------------------------------------------------------- choose_index


# choose_index decisions (faiss-ivf under a memory budget): tests/test_search_scale.py


def test_plan_filtered_decisions():
    assert plan_filtered(None, 100_000, 10) == "unfiltered"
    assert plan_filtered(5_000, 100_000, 10) == "exact"  # 5 % < 20 %
    assert plan_filtered(19_999, 100_000, 10) == "exact"
    assert plan_filtered(20_000, 100_000, 10) == "ann"
    assert plan_filtered(2_048, 5_000, 10) == "exact"  # few rows allowed
    assert plan_filtered(3_000, 5_000, 10) == "ann"
    assert plan_filtered(30, 40, 50, exact_below_count=0) == "exact"  # fewer than k allowed
