"""Probes on a store of written vectors: grouped CV, baselines, CIs, batched fits, ranking, saving, provenance."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from embedstore.errors import ConfigError, ProvenanceError
from embedstore.probes.crossval import cross_validate, inner_rows, make_folds
from embedstore.probes.inputs import load_task
from embedstore.probes.models import ProbeOptions
from embedstore.probes.run import run_probe
from embedstore.probes.scoring import evaluate_head
from embedstore.probes.training import TrainOptions, prepare_targets
from embedstore.store import Space, Store

L, D = 3, 8
N_PIECES, N_PERF = 8, 4
FAST = ProbeOptions(n_splits=4, n_boot=100, train=TrainOptions(max_epochs=80, patience=15, hidden=16))


def _space(layer: int, level: str, pooling: str, *, window_s: float = 10.0, encoder: str = "fake") -> Space:
    key = f"{encoder}-w{window_s:g}-h5"
    prov = {
        "encoder": encoder,
        "model_id": encoder,
        "revision": "",
        "sample_rate": 22050,
        "dim": D,
        "layer_names": [f"L{i}" for i in range(L)],
        "params": {},
        "embedstore_version": "0",
        "window_s": window_s,
        "hop_s": 5.0,
        "layer": layer,
        "level": level,
        "pooling": pooling,
    }
    return Space(
        setup_key=key,
        encoder=encoder,
        layer=layer,
        layer_name=f"L{layer}",
        level=level,
        pooling=pooling,
        window_s=window_s,
        hop_s=5.0,
        dim=D,
        provenance=prov,
    )


def _write_store(path, *, seed: int = 0, window_s: float = 10.0, encoder: str = "fake"):
    """8 pieces x 4 performers. Layer 2 carries every label; layer 0 is noise."""
    rng = np.random.default_rng(seed)
    st = Store(path)
    rows, rids = [], []
    level_of = {p: 3 + (p % 6) for p in range(N_PIECES)}
    vec = {
        lvl: np.zeros((L, N_PIECES * N_PERF, 3 if lvl == "window" else 1, D), np.float32)
        for lvl in ("window", "recording")
    }
    i = 0
    for p in range(N_PIECES):
        for q in range(N_PERF):
            rid = f"{p:02d}{q:02d}" + "0" * 12
            rids.append(rid)
            style = "legato" if q < 2 else "staccato"
            rating = 0.2 * q + 0.1 * rng.random()
            tech = [int(q % 2 == 0), int(p % 2 == 0), int(q == 3)]
            rows.append(
                {
                    "recording_id": rid,
                    "path": f"/nowhere/{rid}.flac",
                    "file_name": f"take_{p}_{q}.flac",
                    "content_hash": rid * 4,
                    "duration_s": 20.0,
                    "sample_rate": 22050,
                    "channels": 1,
                    "added_at": "2026-01-01",
                    "piece_id": f"piece{p}",
                    "performer_code": f"perf{q}",
                    "henle": level_of[p] if p != 7 else None,
                    "style": style,
                    "rating": rating,
                    "segment_id": f"piece{p}",
                }
            )
            for w in range(3):
                for li in range(L):
                    v = rng.normal(size=D)
                    if li == 2:
                        v[0] += 3.0 * (style == "legato")
                        v[1] += 2.0 * level_of[p]
                        v[2] += 20.0 * rating
                        v[3:6] += 3.0 * np.array(tech)
                    vec["window"][li, i, w] = v
            i += 1
    st.upsert_recordings(rows)
    n = len(rids)
    for li in range(L):
        win = vec["window"][li]
        st.write_vectors(
            _space(li, "window", "none", window_s=window_s, encoder=encoder),
            np.repeat(rids, 3),
            np.tile(np.arange(3), n),
            np.tile([0.0, 5.0, 10.0], n),
            np.tile([10.0, 15.0, 20.0], n),
            win.reshape(n * 3, D),
        )
        st.write_vectors(
            _space(li, "recording", "mean", window_s=window_s, encoder=encoder),
            rids,
            [-1] * n,
            [0.0] * n,
            [20.0] * n,
            win.mean(axis=1),
        )
    return st


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return _write_store(tmp_path_factory.mktemp("probes") / "s.lance")


def _rows(run, **kw):
    return [r for r in run.rows if all(r.get(k) == v for k, v in kw.items())]


@pytest.mark.parametrize("group_by", ["piece", "performer", "recording"])
def test_folds_never_share_a_group(store, group_by):
    t = load_task(store, "classification", target="style", group_by=group_by)
    folds = make_folds(t, FAST)
    tested = np.concatenate([te for _, te in folds])
    assert sorted(tested.tolist()) == list(range(t.n))  # every recording is tested exactly once
    for f, (tr, te) in enumerate(folds):
        assert not set(t.groups[tr]) & set(t.groups[te])
        fit, val = inner_rows(t, tr, FAST, f)
        assert set(fit) | set(val) == set(tr)  # model selection only sees the training fold
        assert not set(t.groups[fit]) & set(t.groups[val])


def test_separable_label_beats_majority_baseline_with_cis(store):
    t = load_task(store, "classification", target="style", group_by="piece")
    run = run_probe(store, t, probes=["linear", "ridge"], opts=FAST)
    base = _rows(run, metric="accuracy", is_baseline=True)
    assert len(base) == 1 and base[0]["probe"] == "majority"
    for probe in ("linear", "ridge"):
        good = _rows(run, metric="accuracy", probe=probe, layer=2)[0]
        assert good["value"] > base[0]["value"] + 0.3
    for r in run.rows:  # every metric has a CI containing its point estimate, and a fold spread
        assert r["ci_low"] - 1e-9 <= r["value"] <= r["ci_high"] + 1e-9, r
        assert np.isfinite(r["fold_std"])
    metrics = {r["metric"] for r in run.rows if not r["is_baseline"]}
    assert metrics == {r["metric"] for r in base} | {r["metric"] for r in run.rows if r["is_baseline"]}


def test_difficulty_heads_and_unlabelled_rows(store):
    t = load_task(store, "difficulty", target="henle", group_by="piece_id")
    assert t.heads == ("classification", "ordinal")
    assert t.n == (N_PIECES - 1) * N_PERF  # piece 7 has no level
    run = run_probe(store, t, probes=["linear"], opts=FAST)
    for head in ("classification", "ordinal"):
        got = {r["metric"] for r in _rows(run, head=head, probe="linear")}
        assert got == {"accuracy", "macro_f1", "within1_accuracy", "mae"}
        assert _rows(run, head=head, probe="majority")
    ordinal = _rows(run, head="ordinal", probe="linear", layer=2, metric="within1_accuracy")[0]
    base = _rows(run, head="ordinal", probe="majority", metric="within1_accuracy")[0]
    assert ordinal["value"] > base["value"]


def test_ratings_rows_per_target_and_mean(store, tmp_path):
    lab = store.recordings()[["recording_id", "rating"]].assign(other=lambda d: d["rating"] * 0 + 1.0)
    lab["other"] = np.random.default_rng(0).normal(size=len(lab))
    f = tmp_path / "ratings.csv"
    lab.to_csv(f, index=False)
    t = load_task(store, "ratings", labels=f, target="rating,other", group_by="performer")
    run = run_probe(store, t, probes=["ridge"], opts=FAST)
    assert {r["target"] for r in run.rows} == {"rating", "other", "mean"}
    base = _rows(run, target="rating", metric="r2", is_baseline=True)[0]
    assert base["probe"] == "mean"
    good = _rows(run, target="rating", metric="r2", probe="ridge", layer=2)[0]
    assert good["value"] > base["value"] + 0.3


def test_technique_from_pld_file(store, tmp_path):
    rec = store.recordings()
    # PLD layout: an id column (file stem) and one-hot technique columns
    pld = pd.DataFrame(
        {
            "id": rec["file_name"].str.replace(".flac", "", regex=False),
            "Scales": [int(q % 2 == 0) for q in rec["performer_code"].str[-1].astype(int)],
            "Octave": [int(p % 2 == 0) for p in rec["piece_id"].str[-1].astype(int)],
            "Staccato": [int(q == 3) for q in rec["performer_code"].str[-1].astype(int)],
        }
    )
    f = tmp_path / "technique.csv"
    pld.to_csv(f, index=False)
    t = load_task(store, "technique", labels=f, group_by="recording")
    assert t.target_names == ["Scales", "Octave", "Staccato"]
    run = run_probe(store, t, probes=["linear", "ridge"], opts=FAST)
    base = _rows(run, metric="map", is_baseline=True)[0]
    assert base["probe"] == "prior"
    assert _rows(run, metric="map", probe="linear", layer=2)[0]["value"] > base["value"] + 0.2


def test_ranking_probe_is_exactly_antisymmetric(store):
    from embedstore.probes.ranking import compare, pairwise_fit, score_items

    t = load_task(store, "ranking", pairs_from="rating", within="segment_id", group_by="piece")
    assert len(t.pairs) == N_PIECES * N_PERF * (N_PERF - 1) // 2
    rid, X, _, _ = store.load_layers("fake-w10-h5")
    pos = {r: i for i, r in enumerate(rid)}
    Xt = X[:, [pos[r] for r in t.recording_ids]]
    a, b = t.pairs[:, 0], t.pairs[:, 1]
    for probe in ("linear", "mlp"):
        p = pairwise_fit(
            Xt,
            t.pairs,
            t.pair_labels,
            np.arange(0, len(a), 2),
            np.arange(1, len(a), 2),
            probe=probe,
            opts=TrainOptions(max_epochs=30, hidden=8),
        )
        s = score_items(p, Xt)
        s_ab, s_ba = compare(s, a, b), compare(s, b, a)
        assert np.array_equal(s_ab, -s_ba)  # exactly, not approximately
    run = run_probe(store, t, probes=["linear"], opts=FAST)
    assert _rows(run, metric="antisymmetry_error", layer=2)[0]["value"] == 0.0
    assert _rows(run, metric="intransitive_share", layer=2)[0]["value"] == 0.0
    acc = _rows(run, metric="pairwise_accuracy", probe="linear", layer=2)[0]["value"]
    assert acc > _rows(run, metric="pairwise_accuracy", probe="chance")[0]["value"] + 0.2
    bt = run.predictions["ranking_scores"]
    assert {"recording_id", "bt_labels", "bt_predicted"} <= set(bt.columns)


def test_bradley_terry_recovers_order():
    from embedstore.probes.ranking import bradley_terry

    rng = np.random.default_rng(0)
    strength = np.array([2.0, 1.0, 0.0, -1.0, -2.0])
    a, b, y = [], [], []
    for _ in range(600):
        i, j = rng.choice(5, 2, replace=False)
        a.append(f"i{i}")
        b.append(f"i{j}")
        y.append(rng.random() < 1 / (1 + np.exp(-(strength[i] - strength[j]))))
    ids, s = bradley_terry(a, b, y)
    assert list(ids[np.argsort(-s)]) == ["i0", "i1", "i2", "i3", "i4"]
    assert s.mean() == pytest.approx(0.0, abs=1e-9)


def test_batched_ridge_matches_closed_form_reference():
    from embedstore.probes.gram import GramCache
    from embedstore.probes.linear import linear_forward
    from embedstore.probes.ridge import ridge_fit

    rng = np.random.default_rng(1)
    X = (rng.normal(size=(2, 60, 5)) * [1, 10, 0.1, 3, 1] + 5).astype(np.float32)
    Y = rng.normal(size=(60, 2))
    tr = np.arange(45)
    p = ridge_fit(GramCache(X), Y, tr, alphas=[0.1, 1.0])
    for li, alpha in enumerate([0.1, 1.0]):
        x = X[li, tr].astype(np.float64)
        mu, sd = x.mean(0), x.std(0)
        z = (x - mu) / sd
        w = np.linalg.solve(z.T @ z + alpha * len(tr) * np.eye(5), z.T @ (Y[tr] - Y[tr].mean(0)))
        ref = ((X[li, 45:] - mu) / sd) @ w + Y[tr].mean(0)
        np.testing.assert_allclose(linear_forward(p, X[:, 45:])[li], ref, rtol=1e-4, atol=1e-4)


def test_ridge_cross_validation_equals_fold_by_fold_fits():
    """The per-layer CV sweep (moments of each test block, all folds in one task) gives the outputs and alphas of
    selecting and refitting fold by fold; the float32 path of large stacks agrees with float64 to ~1e-4."""
    from embedstore.probes.gram import GramCache
    from embedstore.probes.linear import linear_forward
    from embedstore.probes.ridge import ridge_cross_validate, ridge_fit_many, ridge_select_many

    rng = np.random.default_rng(3)
    L, n, d = 3, 300, 12
    X = (rng.normal(size=(L, n, d)) * rng.uniform(0.1, 10, d) + 3).astype(np.float32)
    Ys = [X[2, :, :2] @ rng.normal(size=(2, 2)) + rng.normal(size=(n, 2)), (X[1, :, 3] > 3).astype(float)]
    perm = rng.permutation(n)
    folds = []
    for i in range(3):
        te = np.sort(perm[i * 100 : (i + 1) * 100])
        train = np.setdiff1d(perm, te)
        va = np.sort(rng.choice(train, 50, replace=False))
        folds.append((np.setdiff1d(train, va), va, te))

    def mse(Y):
        return lambda rows, out: -float(np.mean((out - np.asarray(Y).reshape(n, -1)[rows]) ** 2))

    scores = [[mse(Y) for Y in Ys]] * len(folds)
    cache = GramCache(X)
    best, outs = ridge_cross_validate(cache, Ys, folds, scores=scores, X=X)
    for f, (fit, val, te) in enumerate(folds):
        b, _ = ridge_select_many(GramCache(X), Ys, fit, val, scores=scores[f])
        np.testing.assert_array_equal(best[f], b)
        params = ridge_fit_many(GramCache(X), Ys, np.union1d(fit, val), alphas=b)
        for j, p in enumerate(params):
            np.testing.assert_allclose(outs[j][:, te], linear_forward(p, X[:, te]), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="overlap"):
        ridge_cross_validate(cache, Ys, [folds[0], folds[0]], scores=scores)
    # a stack big enough for float32 products (L n d^2 > 2e9) agrees with float64 closed form
    Xb = (rng.normal(size=(1, 3600, 800)) + 5).astype(np.float32)
    yb = Xb[0, :, :3].sum(1) + rng.normal(size=3600)
    tr = np.arange(3000)
    assert GramCache(Xb).X.dtype == np.float32
    p = ridge_fit_many(GramCache(Xb), [yb], tr, alphas=np.array([[0.1]]))[0]
    x = Xb[0, tr].astype(np.float64)
    mu, sd = x.mean(0), x.std(0)
    z = (x - mu) / sd
    w = np.linalg.solve(z.T @ z + 0.1 * len(tr) * np.eye(800), z.T @ (yb[tr] - yb[tr].mean()))
    ref = ((Xb[0, 3000:] - mu) / sd) @ w + yb[tr].mean()
    np.testing.assert_allclose(linear_forward(p, Xb[:, 3000:])[0, :, 0], ref, rtol=1e-3, atol=1e-3)


def test_batched_logistic_equals_per_layer_fits():
    from embedstore.probes.linear import linear_forward
    from embedstore.probes.logistic import logistic_fit, pick

    rng = np.random.default_rng(2)
    X = rng.normal(size=(3, 50, 4)).astype(np.float32)
    y = (X[1, :, 0] + 0.5 * rng.normal(size=50) > 0).astype(int) + (X[2, :, 1] > 1)
    tr = np.arange(40)
    joint = pick(logistic_fit(X, y, tr, lams=0.05, n_classes=3), [0, 0, 0])
    for li in range(3):
        one = pick(logistic_fit(X[li : li + 1], y, tr, lams=0.05, n_classes=3), [0])
        a, b = linear_forward(joint, X)[li], linear_forward(one, X[li : li + 1])[0]
        np.testing.assert_allclose(a, b, atol=2e-2)  # same optimum up to L-BFGS tolerance
        assert (a.argmax(1) == b.argmax(1)).mean() >= 0.98


def test_layermix_weights_and_attention_on_windows(store):
    from embedstore.probes.mlp import layer_weights, layermix_fit

    t = load_task(store, "classification", target="style", group_by="piece")
    run = run_probe(store, t, layers="all,mix", probes=["ridge"], opts=FAST)
    mix = _rows(run, layer="mix", metric="accuracy")
    assert len(mix) == 1 and mix[0]["probe"] == "layermix"
    w = run.info["layer_weights"]["fake-w10-h5/mean/classification"]
    assert sum(w.values()) == pytest.approx(1.0)
    rid, X, _, _ = store.load_layers("fake-w10-h5")
    y = (
        (store.recordings().set_index("recording_id").loc[list(rid), "style"] == "legato")
        .to_numpy()
        .astype(int)
    )
    targets = prepare_targets(y, np.arange(0, 32, 2), np.arange(1, 32, 2), loss="multiclass", n_classes=2)
    p = layermix_fit(X, targets, opts=TrainOptions(max_epochs=150, patience=150, lr=0.05))
    assert np.argmax(layer_weights(p)) == 2  # the informative layer gets the largest weight
    att = run_probe(store, t, level="window", probes=["attention"], opts=FAST)
    base = _rows(att, metric="accuracy", is_baseline=True)[0]["value"]
    assert {r["layer"] for r in _rows(att, metric="accuracy", probe="attention")} == {0, 1, 2}
    assert _rows(att, metric="accuracy", probe="attention", layer=2)[0]["value"] > base + 0.2


def test_invalid_choices_are_clear_errors(store):
    t = load_task(store, "ratings", target="rating")
    with pytest.raises(ConfigError, match="probe"):
        run_probe(store, t, probes=["nonsense"], opts=FAST)
    with pytest.raises(ConfigError, match="none of the probes"):
        run_probe(store, t, probes=["logistic"], opts=FAST)
    with pytest.raises(ConfigError, match="group"):
        load_task(store, "ratings", target="rating", group_by="no_such_column")
    with pytest.raises(ConfigError, match="pairs"):
        load_task(store, "ranking")


def test_saved_probe_reloads_identically_without_pickle(store, tmp_path):
    from embedstore.probes.persist import Probe, store_features

    t = load_task(store, "difficulty", target="henle", group_by="piece")
    run = run_probe(store, t, probes=["linear", "mlp"], opts=FAST, save_dir=tmp_path / "model")
    folder = tmp_path / "model"
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    raw = (folder / "model.safetensors").read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    assert raw[8:9] == b"{" and json.loads(raw[8 : 8 + header_len])  # a JSON header, not a pickle
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["setup_key"] == "fake-w10-h5" and cfg["provenance"]["encoder"] == "fake"
    assert set(cfg["heads"]) == {"classification", "ordinal"}
    assert run.models["difficulty"] == str(folder)
    ids = list(store.recordings()["recording_id"][:5])
    before = Probe.load(folder)
    feats, mask = store_features(before, store, ids)
    p1 = before.predict(feats, mask=mask)
    before.save(tmp_path / "again")
    p2 = Probe.load(tmp_path / "again").predict(feats, mask=mask)
    for head in p1:
        np.testing.assert_array_equal(p1[head]["scores"], p2[head]["scores"])
        np.testing.assert_array_equal(p1[head]["prediction"], p2[head]["prediction"])
    # a save interrupted between the weights and the config (new weights, old config) is refused, not used
    k = next(iter(before.tensors))
    before.tensors[k] = before.tensors[k] + 1.0
    before.save(tmp_path / "other")
    shutil.copy(tmp_path / "other" / "model.safetensors", tmp_path / "again" / "model.safetensors")
    with pytest.raises(ConfigError, match="interrupted save"):
        Probe.load(tmp_path / "again")


def test_probe_on_other_embeddings_is_a_provenance_error(store, tmp_path):
    from embedstore.probes.persist import Probe, check_store

    t = load_task(store, "classification", target="style", group_by="piece")
    run_probe(store, t, layers="2", probes=["ridge"], opts=FAST, save_dir=tmp_path / "model")
    pr = Probe.load(tmp_path / "model")
    assert pr.layers() == [2]
    check_store(pr, store)  # the store it was trained on is fine
    other = _write_store(tmp_path / "other.lance", seed=1, window_s=5.0)  # same encoder, other window
    with pytest.raises(ProvenanceError, match="fake-w5-h5"):
        check_store(pr, other)
    stranger = _write_store(tmp_path / "stranger.lance", seed=1, encoder="other")
    with pytest.raises(ProvenanceError):
        check_store(pr, stranger)
    good = pr.space_provenance(2)
    with pytest.raises(ProvenanceError, match="layer"):
        pr.check({2: {**good, "layer": 1}})
    with pytest.raises(ProvenanceError, match="pooling"):
        pr.check({2: {**good, "pooling": "max"}})


def test_cross_validate_uses_every_layer_at_once(store):
    t = load_task(store, "classification", target="style", group_by="piece")
    rid, X, _, _ = store.load_layers("fake-w10-h5")
    pos = {r: i for i, r in enumerate(rid)}
    Xt = X[:, [pos[r] for r in t.recording_ids]]
    folds = make_folds(t, FAST)
    cv = cross_validate(Xt, t, probe="ridge", head="classification", folds=folds, opts=FAST, layers=[0, 1, 2])
    assert cv.raw.shape == (3, t.n, 2) and cv.hyper.shape == (3, len(folds))
    assert (cv.fold_of >= 0).all()
    rows = evaluate_head(cv, t, FAST)
    assert {r["layer"] for r in rows} == {0, 1, 2}


def test_saved_attention_and_layermix_probes_predict_their_training_labels(store, tmp_path):
    from embedstore.probes.persist import Probe, store_features

    t = load_task(store, "classification", target="style", group_by="piece")
    truth = dict(zip(t.recording_ids, t.y))
    ids = list(t.recording_ids)
    run_probe(store, t, level="window", probes=["attention"], opts=FAST, save_dir=tmp_path / "att")
    run_probe(store, t, layers="mix", probes=["ridge"], opts=FAST, save_dir=tmp_path / "mix")
    for name, kind in (("att", "attention"), ("mix", "layermix")):
        pr = Probe.load(tmp_path / name)
        assert pr.config["heads"]["classification"]["kind"] == kind
        feats, mask = store_features(pr, store, ids)
        pred = pr.predict(feats, mask=mask)["classification"]["prediction"]
        assert (pred == [truth[i] for i in ids]).mean() > 0.65  # majority: 0.5
    assert Probe.load(tmp_path / "mix").layers() == [0, 1, 2]
