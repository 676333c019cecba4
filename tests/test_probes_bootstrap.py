"""The vectorised cluster bootstrap gives the same intervals as evaluation.stats.bootstrap_ci."""

from __future__ import annotations

import numpy as np
import pytest

from embedstore.evaluation import classification as C
from embedstore.evaluation import multilabel as M
from embedstore.evaluation import ranking as R
from embedstore.evaluation import regression as G
from embedstore.evaluation.stats import bootstrap_ci
from embedstore.probes import bootstrap as B


def _same(point, weighted, ref, est, groups):
    exp = bootstrap_ci(point, ref, est, groups=groups, n_boot=300, seed=3)
    W = B.resample_weights(len(ref), groups=groups, n_boot=300, seed=3)
    got = B.ci_from_weights(point, weighted, ref, est, W=W, n_boot=300, seed=3)
    assert got.value == pytest.approx(exp.value)
    assert got.low == pytest.approx(exp.low, abs=1e-9) and got.high == pytest.approx(exp.high, abs=1e-9)


@pytest.mark.parametrize("grouped", [False, True])
def test_weighted_bootstrap_equals_resampling(grouped):
    rng = np.random.default_rng(0)
    n = 60
    groups = rng.integers(0, 12, n).astype(str) if grouped else None
    lev = rng.integers(4, 10, n)
    lev_hat = np.clip(lev + rng.integers(-2, 3, n), 4, 9)
    _same(C.accuracy, B.w_accuracy, lev, lev_hat, groups)
    _same(lambda r, e: C.macro_f1(r, e, labels=np.unique(r)), B.w_macro_f1, lev, lev_hat, groups)
    _same(lambda r, e: C.within_k_accuracy(r, e, k=1), B.w_within_k(1), lev, lev_hat, groups)
    _same(C.mean_absolute_error, B.w_mae, lev, lev_hat, groups)
    y = rng.normal(size=n)
    y_hat = y + rng.normal(size=n)
    y_hat[:8] = y_hat[0]  # ties
    _same(G.r2, B.w_r2, y, y_hat, groups)
    _same(G.pearson, B.w_pearson, y, y_hat, groups)
    _same(G.spearman, B.w_spearman, np.round(y, 1), y_hat, groups)
    tags = (rng.random((n, 3)) < 0.3).astype(int)
    scores = tags + rng.normal(size=(n, 3))  # distinct scores
    _same(M.mean_average_precision, B.w_map, tags, scores, groups)
    _same(M.macro_auroc, B.w_macro_auroc, tags, scores, groups)
    pref = rng.random(n) < 0.5
    s = np.where(rng.random(n) < 0.1, 0.0, rng.normal(size=n))
    _same(R.pairwise_accuracy, B.w_pairwise_accuracy, pref, s, groups)


def test_resample_weights_keep_groups_whole():
    groups = np.array(["a", "a", "b", "c", "c", "c"])
    W = B.resample_weights(6, groups=groups, n_boot=50, seed=0)
    assert W.shape == (50, 6)
    assert (W[:, 0] == W[:, 1]).all() and (W[:, 3] == W[:, 5]).all()
    assert set(np.unique(W.sum(axis=1) > 0)) == {True}
