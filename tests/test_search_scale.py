"""faiss-ivf (IVF-SQ8 + re-ranking), choose_index under a memory budget, and filter-aware filtered search:
filtered recall against exact search in the approximate regime (not only where the exact path is taken)."""

from __future__ import annotations

import numpy as np
import pytest

from embedstore.errors import ConfigError
from indexers import (
    ExactIndex,
    choose_index,
    load_index,
    load_or_build,
    plan_filtered,
    search_filtered,
    spec_for,
)
from indexers.choose import EXACT_MAX_N, parse_bytes, prepare_filter
from indexers.faiss_ivf import FaissIVFIndex, IVFFilter
from indexers.sizes import MEASURED, ivf_bytes

GiB = 1 << 30


def unit(rng, n, d):
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def catalogue(rng, n=20_000, d=32, n_groups=200):
    """Clustered vectors with a group label (like a piece) and a label spread over all groups (like a performer)."""
    centres = unit(rng, n_groups, d)
    group = rng.integers(0, n_groups, n)
    x = centres[group] + 0.6 * rng.standard_normal((n, d)).astype(np.float32) / np.sqrt(d)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    performer = rng.integers(0, 100, n)
    keys = rng.permutation(np.arange(n, dtype=np.int64) * 5 + 2)
    return x.astype(np.float32), keys, group, performer


def recall(truth, got):
    return float(np.mean([np.isin(t[t >= 0], g).mean() for t, g in zip(truth, got)]))


@pytest.fixture(scope="module")
def built():
    rng = np.random.default_rng(0)
    x, keys, group, performer = catalogue(rng)
    q = x[rng.choice(len(x), 60, replace=False)] + 0.6 * unit(rng, 60, x.shape[1])
    idx = FaissIVFIndex(nlist=128, nprobe=16, storage="sq8", refine="fp16")
    idx.build(x, keys)
    exact = ExactIndex()
    exact.build(x, keys)
    return idx, exact, x, keys, group, performer, q


def test_unfiltered_recall_grows_with_nprobe_and_full_probe_is_near_exact(built):
    idx, exact, x, keys, *_, q = built
    truth = exact.search(q, 10)[1]
    low = recall(truth, idx.search_nprobe(q, 10, nprobe=1)[1])
    full = recall(truth, idx.search_nprobe(q, 10, nprobe=128)[1])
    assert low < full and full >= 0.99
    scores, got = idx.search_nprobe(q, 10, nprobe=128)
    # re-ranked scores are the fp16 inner products of the returned rows, best first
    pos = {int(k): i for i, k in enumerate(keys)}
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    direct = np.array([[qn[r] @ x[pos[int(k)]] for k in row] for r, row in enumerate(got)])
    np.testing.assert_allclose(scores, direct, atol=2e-3)
    assert (np.diff(scores, axis=1) <= 1e-6).all()


@pytest.mark.parametrize(
    "name, frac",
    [("performer", 0.01), ("group", 0.05), ("performer", 0.2), ("group", 0.5)],
)
def test_filtered_recall_against_exact_in_the_approximate_regime(built, name, frac):
    idx, exact, x, keys, group, performer, q = built
    label = {"group": group, "performer": performer}[name]
    n_values = label.max() + 1
    allowed = keys[label < max(1, round(frac * n_values))]
    assert (
        plan_filtered(allowed.size, len(keys), 10, filter_aware=True, exact_below_count=100) == "ivf-filter"
    )
    truth = exact.search(q, 10, allowed=allowed)[1]
    scores, got = search_filtered(idx, q, 10, allowed, exact_below_count=100)
    assert np.isin(got[got >= 0], allowed).all()
    assert recall(truth, got) >= 0.95
    # the same search through a prepared filter gives the same answer
    flt = prepare_filter(idx, allowed, exact_below_count=100)
    assert isinstance(flt, IVFFilter) and flt.size == allowed.size
    np.testing.assert_array_equal(search_filtered(idx, q, 10, flt, exact_below_count=100)[1], got)
    # it is approximate: probing one list stops early and loses recall on the spread-out filter
    starved = idx.search_prepared(q, 10, flt, cover=1, nprobe=1)[1]
    if name == "performer":
        assert recall(truth, starved) < recall(truth, got)


def test_filtered_search_probes_only_lists_holding_allowed_rows(built):
    idx, exact, x, keys, group, performer, q = built
    allowed = keys[group == 3]  # one cluster: its rows sit in a few lists
    flt = idx.prepare_filter(allowed)
    assert 0 < np.count_nonzero(flt.list_counts) < 128 and flt.list_counts.sum() == allowed.size
    truth = exact.search(q, 5, allowed=allowed)[1]
    got = idx.search_prepared(q, 5, flt, cover=allowed.size)[1]
    assert recall(truth, got) == 1.0  # every list with an allowed row probed: exact up to re-ranking


def test_few_allowed_rows_take_the_exact_path_and_padding(built):
    idx, exact, x, keys, *_, q = built
    allowed = keys[:7]
    assert plan_filtered(7, len(keys), 10, filter_aware=True) == "exact"
    scores, got = search_filtered(idx, q, 10, allowed)
    assert (got[:, 7:] == -1).all() and np.isneginf(scores[:, 7:]).all()
    assert np.array_equal(np.sort(got[:, :7], axis=1), np.tile(np.sort(allowed), (len(q), 1)))


def test_save_load_and_cache_round_trip(tmp_path, built):
    idx, exact, x, keys, group, *_, q = built
    idx.save(tmp_path / "ivf")
    loaded = load_index(tmp_path / "ivf")
    assert isinstance(loaded, FaissIVFIndex) and len(loaded) == len(keys)
    np.testing.assert_array_equal(loaded.search(q, 10)[1], idx.search(q, 10)[1])
    allowed = keys[group < 20]
    np.testing.assert_array_equal(
        loaded.search_prepared(q, 10, loaded.prepare_filter(allowed))[1],
        idx.search_prepared(q, 10, idx.prepare_filter(allowed))[1],
    )
    spec = spec_for("faiss-ivf", 2000, x.shape[1])
    source = {"table_version": 1, "row_count": 2000, "fingerprint": "f"}
    a, status = load_or_build(tmp_path / "c", spec, source=source, loader=lambda: (x[:2000], keys[:2000]))
    b, status2 = load_or_build(tmp_path / "c", spec, source=source, loader=lambda: (x[:2000], keys[:2000]))
    assert status.startswith("built") and status2 == "loaded" and isinstance(b, FaissIVFIndex)


def test_tiny_and_empty_inputs():
    rng = np.random.default_rng(3)
    x = unit(rng, 5, 8)
    idx = FaissIVFIndex(refine="flat")
    idx.build(x, np.arange(5) + 10)
    scores, got = idx.search(x[:2], 8)
    assert got[0, 0] == 10 and got[1, 0] == 11 and (got[:, 5:] == -1).all()
    empty = FaissIVFIndex()
    empty.build(np.zeros((0, 8), np.float32), np.zeros(0, np.int64))
    assert (empty.search(x[:1], 3)[1] == -1).all()
    with pytest.raises(ConfigError, match="valid values"):
        FaissIVFIndex(storage="pq")


# ----------------------------------------------------------------------------- choose_index, memory budget


def test_parse_bytes():
    assert parse_bytes("2GB") == 2_000_000_000
    assert parse_bytes("1.5GiB") == int(1.5 * GiB)
    assert parse_bytes("800 MB") == 800_000_000 and parse_bytes(123) == 123
    for bad in ("", "two GB", "-1GB", "3 parsecs"):
        with pytest.raises(ConfigError, match="size"):
            parse_bytes(bad)


def test_choose_index_for_1m_vectors_under_4gb_and_2gb_budgets():
    n, dim = 1_000_000, 768
    big = choose_index(n, dim, 4 * GiB)
    assert big.kind == "faiss-ivf" and big.params["refine"] == "fp16" and big.params["storage"] == "sq8"
    assert big.est_bytes <= 4 * GiB and "expected recall@10" in big.reason and "search_1m" in big.reason
    assert f"{MEASURED['sq8+fp16']['recall']:.3f}" in big.reason
    small = choose_index(n, dim, parse_bytes("2GB"))
    assert small.kind == "faiss-ivf" and small.params["refine"] == "none"
    assert small.est_bytes <= 2_000_000_000 and f"{MEASURED['sq8+none']['recall']:.3f}" in small.reason
    assert choose_index(n, dim, big.est_bytes).params["refine"] == "fp16"  # exactly fits
    assert choose_index(n, dim, big.est_bytes - 1).params["refine"] == "none"
    codes = choose_index(n, dim, small.est_bytes - 1)
    assert (
        codes.kind == "faiss-ivfpq" and codes.params["refine"] is False and codes.est_bytes < small.est_bytes
    )
    assert dim % codes.params["m"] == 0
    with pytest.raises(ConfigError, match="fits"):
        choose_index(n, dim, 1 << 20)


def test_choose_index_small_sets_are_exact_and_specs_build():
    assert choose_index(EXACT_MAX_N - 1, 768, GiB).kind == "exact"
    assert choose_index(EXACT_MAX_N, 768, GiB).kind == "faiss-ivf"
    spec = choose_index(10_000, 768, GiB)
    assert spec.kind == "exact" and spec.est_bytes == 10_000 * (768 * 4 + 8)
    assert choose_index(10_000, 768, spec.est_bytes - 1).kind == "faiss-ivf"
    a = choose_index(200_000, 100, 100 << 20)
    assert a == choose_index(200_000, 100, 100 << 20) and 0 < a.est_bytes <= 100 << 20
    FaissIVFIndex(**a.params)  # the params are constructor arguments
    assert ivf_bytes(1_000_000, 768, nlist=4000) < 2.5e9


def test_measured_figures_come_from_the_results_file():
    from pathlib import Path

    md = Path(__file__).resolve().parents[1] / "bench" / "results" / "search_1m.md"
    if not md.exists():
        pytest.skip("bench/results/search_1m.md not generated")
    text = md.read_text()
    for key in ("sq8+fp16", "sq8+none"):
        assert f"{MEASURED[key]['recall']:.3f}" in text


# ----------------------------------------------------------------------------- search over a store


def test_store_search_with_faiss_ivf_agrees_with_exact_and_memory_budget_is_honoured(chroma_store):
    from embedstore.search import search

    rid = chroma_store.recordings().iloc[1]["recording_id"]
    ref = search(chroma_store, recording_id=rid, k=5, backend="exact")
    got = search(chroma_store, recording_id=rid, k=5, backend="faiss-ivf")
    assert "faiss-ivf" in got.backend
    assert [h.recording_id for h in got.hits] == [h.recording_id for h in ref.hits]
    np.testing.assert_allclose([h.score for h in got.hits], [h.score for h in ref.hits], atol=2e-3)
    assert search(chroma_store, recording_id=rid, k=5, memory_budget="2GB").backend == "exact"
    with pytest.raises(ConfigError, match="fits"):
        search(chroma_store, recording_id=rid, k=5, memory_budget=64)


def test_cli_memory_budget_option(chroma_store):
    from typer.testing import CliRunner

    from embedstore.cli import app

    rid = chroma_store.recordings().iloc[1]["recording_id"]
    base = ["search", "--store", str(chroma_store.uri), "--id", rid, "-k", "3", "--json"]
    ok = CliRunner().invoke(app, [*base, "--memory-budget", "2GB"])
    assert ok.exit_code == 0, ok.output
    bad = CliRunner().invoke(app, [*base, "--memory-budget", "lots"])
    assert bad.exit_code != 0 and "invalid size" in bad.output
    # the batched path (several queries, --all) honours the budget too
    many = ["search", "--store", str(chroma_store.uri), "--all", "-k", "3", "--json"]
    assert CliRunner().invoke(app, [*many, "--memory-budget", "2GB"]).exit_code == 0
    tiny = CliRunner().invoke(app, [*many, "--memory-budget", "64"])
    assert tiny.exit_code != 0 and "fits" in tiny.output
