"""Pure metric functions: classification/ordinal, regression, multilabel, pairwise ranking."""

from __future__ import annotations

import numpy as np
import pytest

from embedstore.evaluation import classification as C
from embedstore.evaluation import multilabel as M
from embedstore.evaluation import ranking as R
from embedstore.evaluation import regression as G


def test_classification_metrics_match_sklearn():
    from sklearn.metrics import accuracy_score, f1_score

    rng = np.random.default_rng(0)
    ref = rng.integers(1, 10, 200)
    est = np.where(rng.random(200) < 0.6, ref, rng.integers(1, 10, 200))
    assert C.accuracy(ref, est) == pytest.approx(accuracy_score(ref, est))
    assert C.macro_f1(ref, est) == pytest.approx(f1_score(ref, est, average="macro", labels=np.unique(ref)))


def test_ordinal_metrics_count_levels():
    ref = np.array([4, 6, 7, 8, 9])
    est = np.array([5, 6, 9, 8, 4])
    assert C.within_k_accuracy(ref, est, k=1) == pytest.approx(3 / 5)  # 4->5, 6->6, 8->8
    assert C.within_k_accuracy(ref, est, k=0) == pytest.approx(2 / 5)
    assert C.mean_absolute_error(ref, est) == pytest.approx((1 + 0 + 2 + 0 + 5) / 5)


def test_majority_label_and_errors():
    assert C.majority_label([3, 3, 5, 5, 5]) == 5
    assert C.majority_label([2, 3]) == 2  # tie -> smallest
    with pytest.raises(ValueError):
        C.accuracy([1, 2], [1])
    with pytest.raises(ValueError):
        C.accuracy([], [])


def test_macro_f1_penalises_never_predicted_class():
    ref = np.array(["a", "a", "b", "b"])
    assert C.macro_f1(ref, np.array(["a", "a", "a", "a"])) == pytest.approx((2 * 2 / (4 + 2) + 0) / 2)


def test_regression_metrics_match_scipy_sklearn():
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import r2_score

    rng = np.random.default_rng(1)
    ref = rng.normal(size=100)
    est = ref * 0.7 + rng.normal(size=100) * 0.5
    est[:10] = est[0]  # ties for spearman
    assert G.r2(ref, est) == pytest.approx(r2_score(ref, est))
    assert G.pearson(ref, est) == pytest.approx(pearsonr(ref, est)[0])
    assert G.spearman(ref, est) == pytest.approx(spearmanr(ref, est)[0])
    assert G.r2(ref, np.full(100, ref.mean())) == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(G.pearson(ref, np.ones(100)))


def test_multilabel_ap_auroc_match_sklearn():
    from sklearn.metrics import average_precision_score, roc_auc_score

    rng = np.random.default_rng(2)
    ref = (rng.random((80, 4)) < 0.3).astype(int)
    est = ref * 0.8 + rng.random((80, 4))
    ap = M.average_precision(ref, est)
    au = M.auroc(ref, est)
    for j in range(4):
        assert ap[j] == pytest.approx(average_precision_score(ref[:, j], est[:, j]))
        assert au[j] == pytest.approx(roc_auc_score(ref[:, j], est[:, j]))
    assert M.mean_average_precision(ref, est) == pytest.approx(ap.mean())


def test_multilabel_undefined_classes_are_skipped():
    ref = np.array([[1, 0], [0, 0], [1, 0]])
    est = np.array([[0.9, 0.1], [0.2, 0.5], [0.8, 0.3]])
    assert np.isnan(M.average_precision(ref, est)[1])
    assert M.mean_average_precision(ref, est) == pytest.approx(1.0)
    assert M.auroc(ref, np.ones((3, 2)))[0] == pytest.approx(0.5)  # ties count 1/2
    w = M.positive_weights(np.array([[1], [0], [0], [0]]))
    assert w[0] == pytest.approx(3.0)


def test_pairwise_accuracy_signs_and_ties():
    assert R.pairwise_accuracy([1, -1, 1, -1], [2.0, -1.0, -3.0, 0.0]) == pytest.approx((1 + 1 + 0 + 0.5) / 4)
    assert R.pairwise_accuracy([True, False], [0.5, -0.1]) == 1.0
    assert R.pairwise_accuracy([1, 0], [0.5, -0.1]) == 1.0


def test_antisymmetry_and_intransitive_share():
    assert R.antisymmetry_error([1.0, -2.0], [-1.0, 2.0]) == 0.0
    assert R.antisymmetry_error([1.0], [0.5]) == pytest.approx(1.5)
    # a > b > c > a is a cycle; a > b > c, a > c is not
    assert R.intransitive_share(["a", "b", "c"], ["b", "c", "a"], [True, True, True]) == pytest.approx(1.0)
    assert R.intransitive_share(["a", "b", "a"], ["b", "c", "c"], [True, True, True]) == pytest.approx(0.0)
    assert np.isnan(R.intransitive_share(["a"], ["b"], [True]))


def test_kendall_tau_matches_scipy():
    from scipy.stats import kendalltau

    rng = np.random.default_rng(3)
    a = rng.normal(size=30)
    b = a + rng.normal(size=30)
    assert R.kendall_tau(a, b) == pytest.approx(kendalltau(a, b)[0])
