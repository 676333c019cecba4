"""Projection losses, heads, training and persistence (tiny torch runs: seconds)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from embedstore.errors import ConfigError, ProvenanceError  # noqa: E402
from embedstore.projections.losses import (  # noqa: E402
    assign_bins,
    bin_edges,
    make_loss,
    rank_n_contrast_loss,
    weighted_contrastive_loss,
)
from embedstore.projections.persist import Projection  # noqa: E402
from embedstore.projections.train import TrainConfig, train_projection  # noqa: E402


def nuisance_data(seed=0, n_groups=12, per=6, d=16):
    """Groups (pieces) dominate the raw space; the label lives in a weak direction orthogonal to them."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_groups), per).astype(str)
    piece = rng.normal(0, 1, (n_groups, d)) * 4
    piece[:, 8:] = 0
    direction = np.zeros(d)
    direction[8:10] = 1 / np.sqrt(2)
    y = rng.uniform(0, 1, len(groups))
    X = (
        piece[np.repeat(np.arange(n_groups), per)]
        + np.outer(y, direction) * 2.0
        + rng.normal(0, 0.3, (len(y), d))
    )
    return X.astype(np.float32), y, groups


# ---------------------------------------------------------------------- losses
def test_weighted_contrastive_loss_matches_hand_computed_value():
    # 4 items; bins 0, 0, 1, 3; margin m = 0.5
    z = torch.tensor([[0.0, 0.0], [0.3, 0.4], [1.0, 0.0], [0.0, 1.0]])
    bins = [0, 0, 1, 3]
    # pairs: (0,1) same bin, d=0.5           -> 1/2 * 0.25
    #        (0,2) gap 1, m*1 = 0.5 < d=1    -> 0
    #        (0,3) gap 3, 1.5 - d=1          -> 1/2 * 0.5^2
    #        (1,2) gap 1, 0.5 < d=sqrt(.65)  -> 0
    #        (1,3) gap 3, 1.5 - sqrt(0.45)   -> 1/2 * (1.5 - sqrt(.45))^2
    #        (2,3) gap 2, 1.0 < d=sqrt(2)    -> 0
    expected = (0.5 * 0.25 + 0.5 * 0.25 + 0.5 * (1.5 - math.sqrt(0.45)) ** 2) / 6
    got = float(weighted_contrastive_loss(z, bins, margin=0.5))
    assert got == pytest.approx(expected, abs=1e-6)
    # a larger margin pushes more different-bin pairs: (0,2) now contributes 1/2 * (1.0 - 1)^2 = 0, (1,2) > 0
    bigger = float(weighted_contrastive_loss(z, bins, margin=1.0))
    assert bigger > got


def test_weighted_contrastive_loss_is_zero_for_a_perfect_layout_and_has_gradients():
    z = torch.tensor([[0.0, 0.0], [0.0, 0.0], [3.0, 0.0]], requires_grad=True)
    assert float(weighted_contrastive_loss(z, [1, 1, 4], margin=0.5).detach()) == pytest.approx(0.0, abs=1e-9)
    z2 = torch.tensor([[0.0, 0.0], [1.0, 0.0]], requires_grad=True)
    loss = weighted_contrastive_loss(z2, [0, 0])  # same bin, d = 1 -> 0.5
    assert float(loss.detach()) == pytest.approx(0.5)
    loss.backward()
    assert torch.isfinite(z2.grad).all() and z2.grad.abs().sum() > 0


def test_rank_n_contrast_matches_a_direct_loop():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(6, 3, generator=g)
    y = [1.0, 5.0, 2.0, 9.0, 5.0, 3.0]  # exact ties (5, 5) and (|5-1| = |5-9|) count as negatives
    tau = 0.7

    def s(a, b):
        return -float(torch.norm(z[a] - z[b])) / tau

    total = 0.0
    for i in range(6):
        for j in range(6):
            if i != j:
                den = sum(
                    math.exp(s(i, k)) for k in range(6) if k != i and abs(y[i] - y[k]) >= abs(y[i] - y[j])
                )
                total += -(s(i, j) - math.log(den))
    assert float(rank_n_contrast_loss(z, y, temperature=tau)) == pytest.approx(total / 30, rel=1e-5)


def test_binning_and_loss_options_are_validated():
    edges = bin_edges([0.0, 1.0, 0.5, 0.25], n_bins=4)
    assert np.allclose(edges, [0, 0.25, 0.5, 0.75, 1.0])
    assert assign_bins([0.0, 0.24, 0.25, 0.99, 1.0, 7.0, -1.0], edges).tolist() == [0, 0, 1, 3, 3, 3, 0]
    with pytest.raises(ConfigError, match="valid values"):
        make_loss("contrastive")
    with pytest.raises(ConfigError, match="valid values"):
        make_loss("triplet", mining="hardest")
    with pytest.raises(ConfigError):
        TrainConfig(head="transformer").validate()


@pytest.mark.parametrize("name", ["supcon", "triplet"])
def test_class_losses_from_pytorch_metric_learning_prefer_separated_classes(name):
    loss = make_loss(name)
    labels = torch.tensor([0, 0, 1, 1])
    good = torch.nn.functional.normalize(
        torch.tensor([[1.0, 0.05], [1.0, -0.05], [-1.0, 0.05], [-1.0, -0.05]])
    )
    bad = torch.nn.functional.normalize(
        torch.tensor([[1.0, 0.05], [-1.0, -0.05], [-1.0, 0.05], [1.0, -0.05]])
    )
    assert float(loss(bad, labels)) > float(loss(good, labels))


# ---------------------------------------------------------------------- training
def test_training_uses_a_grouped_inner_validation_split_and_keeps_the_best_epoch():
    X, y, groups = nuisance_data()
    proj = train_projection(X, y, groups, config=TrainConfig(out_dim=4, max_epochs=40, patience=5))
    h = proj.history
    assert h["n_train"] + h["n_val"] == len(X)
    val_groups = set(h["val_groups"])
    assert val_groups and len(val_groups) < len(set(groups))
    assert h["best_val_loss"] == pytest.approx(min(h["val_loss"]))
    assert h["best_epoch"] == int(np.argmin(h["val_loss"]))
    Z = proj.transform(X)
    assert Z.shape == (len(X), 4) and np.allclose(np.linalg.norm(Z, axis=1), 1.0, atol=1e-5)
    assert proj.label["kind"] == "continuous" and len(proj.label["bin_edges"]) == 6


def test_weighted_contrastive_projection_improves_held_out_retrieval_when_pieces_dominate():
    from embedstore.projections.report import evaluate_projection

    X, y, groups = nuisance_data()
    res = evaluate_projection(
        X, y, groups, config=TrainConfig(out_dim=8, max_epochs=100), n_splits=3, n_boot=200
    )
    r = res["retrieval"]
    assert r["map_projected"]["value"] > r["map_raw"]["value"] + 0.1
    assert r["map_difference"]["ci_low"] > 0
    for est in (res["probe"]["raw"], res["probe"]["projected"]):
        assert est["ci_low"] <= est["value"] <= est["ci_high"]
    assert sum(f["n_test"] for f in res["folds"]) == len(X)


def test_supcon_and_triplet_train_on_class_labels():
    X, y, groups = nuisance_data()
    cls = np.where(y > 0.5, "high", "low")
    for loss in ("supcon", "triplet"):
        p = train_projection(
            X, cls, groups, config=TrainConfig(loss=loss, out_dim=4, max_epochs=30, patience=5)
        )
        assert p.label == {"column": "label", "kind": "class", "bin_edges": None, "classes": ["high", "low"]}
        assert p.transform(X[:3]).shape == (3, 4)
    with pytest.raises(ConfigError, match="numeric"):
        train_projection(X, cls, groups, config=TrainConfig(loss="weighted-contrastive"))


def test_report_for_class_labels_and_maps(tmp_path):
    from embedstore.projections.maps import plot_map
    from embedstore.projections.report import evaluate_projection, report_markdown

    X, y, groups = nuisance_data()
    cls = np.where(y > 0.5, "high", "low")
    res = evaluate_projection(
        X, cls, groups, config=TrainConfig(loss="supcon", out_dim=4, max_epochs=10), n_splits=3, n_boot=100
    )
    assert res["task"] == "classification" and res["probe"]["metric"] == "accuracy"
    assert 0.5 <= res["probe"]["chance"] <= 1.0
    md = report_markdown(res)
    assert "probe accuracy" in md and "retrieval MAP" in md
    proj = train_projection(X, cls, groups, config=TrainConfig(loss="supcon", out_dim=4, max_epochs=3))
    for method, labels in (("tsne", cls), ("pca", y)):
        png = plot_map(X, proj.transform(X), labels, tmp_path / f"{method}.png", method=method)
        assert png.read_bytes()[:4] == b"\x89PNG"


def test_mlp_head_and_missing_labels():
    X, y, groups = nuisance_data()
    y = y.astype(object)
    y[:5] = None
    p = train_projection(
        X,
        y,
        groups,
        config=TrainConfig(head="mlp", hidden_dim=16, out_dim=3, max_epochs=10, loss="rank-n-contrast"),
    )
    assert p.history["n_dropped_missing_label"] == 5
    assert p.transform(X).shape == (len(X), 3)


# ---------------------------------------------------------------------- persistence
def test_saved_projection_reloads_bit_identically(tmp_path):
    X, y, groups = nuisance_data()
    prov = {
        "encoder": "chroma",
        "model_id": "chroma",
        "revision": "",
        "dim": 16,
        "layer": 0,
        "window_s": 10.0,
        "hop_s": 5.0,
        "level": "recording",
        "pooling": "mean",
        "space_id": "chroma-w10-h5.L0.recording-mean",
    }
    cfg = TrainConfig(head="mlp", hidden_dim=8, out_dim=4, max_epochs=5)
    proj = train_projection(X, y, groups, config=cfg, input_provenance=prov, label_column="rating")
    folder = proj.save(tmp_path / "proj")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    again = Projection.load(folder)
    a, b = proj.head.state_dict(), again.head.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert np.array_equal(proj.transform(X), again.transform(X))
    cfg_json = json.loads((folder / "config.json").read_text())
    assert cfg_json["input_provenance"]["space_id"] == prov["space_id"]
    assert cfg_json["label"]["column"] == "rating" and cfg_json["train"]["head"] == "mlp"
    # saving the reloaded projection gives byte-identical weights
    again.save(tmp_path / "proj2")
    assert (tmp_path / "proj2" / "model.safetensors").read_bytes() == (
        folder / "model.safetensors"
    ).read_bytes()
    # a save interrupted between the weights and the config (other weights, this config) is refused
    other = Projection.load(folder)
    other.head.load_state_dict({k: v + 1 for k, v in proj.head.state_dict().items()})
    other.save(tmp_path / "proj3")
    (folder / "model.safetensors").write_bytes((tmp_path / "proj3" / "model.safetensors").read_bytes())
    with pytest.raises(ConfigError, match="interrupted save"):
        Projection.load(folder)


def test_projection_refuses_vectors_of_another_space(tmp_path):
    X, y, groups = nuisance_data()
    prov = {"encoder": "chroma", "model_id": "chroma", "dim": 16, "layer": 0, "window_s": 10.0, "hop_s": 5.0}
    proj = train_projection(X, y, groups, config=TrainConfig(out_dim=2, max_epochs=2), input_provenance=prov)
    proj.check_input({**prov, "level": "window", "pooling": "none"})  # other level of the same layer is fine
    with pytest.raises(ProvenanceError, match="window_s"):
        proj.check_input({**prov, "window_s": 4.0})
    with pytest.raises(ProvenanceError, match="encoder"):
        proj.check_input({**prov, "encoder": "mfcc", "model_id": "mfcc"})
    with pytest.raises(ConfigError, match="dim 16"):
        proj.transform(np.zeros((2, 5), np.float32))
    with pytest.raises(ConfigError, match="not a saved projection"):
        Projection.load(tmp_path)


def test_fallback_ridge_matches_the_probe_layer_ridge():
    from embedstore.probes.linear import GramCache, linear_forward, ridge_fit
    from embedstore.projections.probing import svd_ridge

    X, y, _ = nuisance_data()
    for alpha in (0.01, 1.0):
        params = ridge_fit(GramCache(X[:50][None]), y[:50, None], np.arange(50), alphas=np.array([alpha]))
        ref = linear_forward(params, X[50:][None])[0, :, 0]
        assert np.allclose(svd_ridge(X[:50], y[:50], X[50:], [alpha])[0], ref, atol=1e-3)
