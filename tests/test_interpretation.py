"""Interpretation mode: removing what the piece explains."""

from __future__ import annotations

import numpy as np
import pytest

from embedstore.errors import ConfigError
from embedstore.interpretation import residualize
from embedstore.projections.retrieval import evaluate_retrieval


def piece_dominated(seed=0, n_pieces=4, n_performers=3, d=12):
    """Vectors = big piece vector + small performer style + noise: raw neighbours are the same piece."""
    rng = np.random.default_rng(seed)
    pieces = np.repeat([f"piece{i}" for i in range(n_pieces)], n_performers)
    performers = np.tile([f"p{j}" for j in range(n_performers)], n_pieces)
    P = rng.normal(0, 1, (n_pieces, d)) * 10
    S = rng.normal(0, 1, (n_performers, d))
    X = P[np.repeat(np.arange(n_pieces), n_performers)] + S[np.tile(np.arange(n_performers), n_pieces)]
    X = X + rng.normal(0, 0.1, X.shape)
    return X, pieces, performers


def test_residuals_have_zero_piece_means():
    X, pieces, _ = piece_dominated()
    R, stats = residualize(X, pieces)
    assert R.shape == X.shape and R.dtype == np.float32
    for p in set(pieces):
        assert np.allclose(R[pieces == p].mean(axis=0), 0.0, atol=1e-4)
        assert np.allclose(stats.centroids[list(stats.pieces).index(p)], X[pieces == p].mean(axis=0))


def test_same_piece_neighbours_no_longer_dominate():
    X, pieces, performers = piece_dominated()
    R, _ = residualize(X, pieces)

    def nearest_other(V, i):
        Vn = V / np.linalg.norm(V, axis=1, keepdims=True)
        s = Vn @ Vn[i]
        s[i] = -np.inf
        return int(np.argmax(s))

    raw_same_piece = np.mean([pieces[nearest_other(X, i)] == pieces[i] for i in range(len(X))])
    res_same_piece = np.mean([pieces[nearest_other(R, i)] == pieces[i] for i in range(len(X))])
    assert raw_same_piece == 1.0
    assert res_same_piece == 0.0
    # same-performer retrieval across pieces: near chance raw, perfect on residuals
    raw = evaluate_retrieval(X, performers)["mean"]["map"]
    res = evaluate_retrieval(R, performers)["mean"]["map"]
    chance = evaluate_retrieval(X, performers)["chance"]["map"]
    assert raw < chance + 0.15
    assert res == pytest.approx(1.0)


def test_apply_matches_residualize_and_infers_unknown_pieces():
    X, pieces, _ = piece_dominated()
    R, stats = residualize(X, pieces)
    q, used = stats.apply(X[4], pieces[4])
    assert np.allclose(q[0], R[4], atol=1e-5) and used.tolist() == [pieces[4]]
    # an outside query without a piece, or with a piece the store does not know, uses the nearest centroid
    query = X[7] + 0.05
    for label in (None, "no such piece", float("nan")):
        q2, used2 = stats.apply(query, label)
        assert used2.tolist() == [pieces[7]]
        assert np.allclose(q2[0], query - stats.centroids[list(stats.pieces).index(pieces[7])], atol=1e-4)
    q3, used3 = stats.apply(X[[0, 5]], None)
    assert used3.tolist() == [pieces[0], pieces[5]] and q3.shape == (2, X.shape[1])
    assert stats.infer_piece(X).tolist() == pieces.tolist()


def test_missing_pieces_singletons_and_zscore():
    X, pieces, _ = piece_dominated()
    p = pieces.astype(object)
    p[0] = None  # inferred from the nearest centroid of the others
    R, stats = residualize(X, p)
    assert "None" not in stats.pieces.tolist()
    assert np.allclose(R[0], X[0] - stats.centroids[list(stats.pieces).index(pieces[0])], atol=1e-4)
    # a piece with a single recording falls back to the global mean instead of a zero vector
    single = pieces.copy().astype(object)
    single[-1] = "solo"
    R1, st1 = residualize(X, single)
    assert np.allclose(R1[-1], X[-1] - X.mean(axis=0), atol=1e-4)
    # z-score: residual dimensions get unit pooled within-piece scale
    Rz, stz = residualize(X, pieces, method="piece-zscore")
    assert np.allclose(np.sqrt((Rz.astype(float) ** 2).mean(axis=0)), 1.0, atol=1e-3)
    qz, _ = stz.apply(X[2], pieces[2])
    assert np.allclose(qz[0], Rz[2], atol=1e-4)
    with pytest.raises(ConfigError, match="valid values"):
        residualize(X, pieces, method="median")
    with pytest.raises(ConfigError):
        residualize(X, pieces[:-1])
