"""Linear probes of a space before and after a projection: ridge for continuous labels, logistic regression
for classes, each with its strength chosen on an inner grouped split of the training part.

The models are those of the probe layer (:mod:`embedstore.probes`), written for one feature matrix so that
projections do not depend on the probes package: standardised features (training statistics), ridge with a
relative strength (penalty ``alpha * n``; closed form via SVD, :func:`svd_ridge`), L2 logistic regression with
the penalty ``0.5 * lam * ||W||^2`` added to the mean log-loss (scikit-learn's L-BFGS solver, unpenalised
intercept); ties in the selection go to the stronger regularisation.

Shapes: training vectors (n, d), test vectors (m, d); predictions (m,).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from embedstore.evaluation.splits import inner_split

if TYPE_CHECKING:  # pragma: no cover
    from sklearn.pipeline import Pipeline

#: Relative ridge strengths searched on the inner split (the probe layer's grid).
ALPHAS = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)
#: L2 strengths of logistic regression searched on the inner split (the probe layer's grid).
LAMBDAS = (1e-4, 1e-3, 1e-2, 1e-1)


def _inner(groups_tr: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray] | None:
    """A grouped inner split of the training part, or None when it is too small for one."""
    if len(np.unique(groups_tr)) >= 2 and n >= 6:
        return inner_split(groups_tr, val_fraction=0.25, seed=seed)
    return None


def svd_ridge(Xtr: np.ndarray, ytr: np.ndarray, Xte: np.ndarray, alphas: Sequence[float]) -> np.ndarray:
    """Closed-form ridge on standardised features via SVD (relative alpha, as the probe layer).

    Parameters
    ----------
    Xtr : (n, d) training vectors; ytr : (n,) targets; Xte : (m, d) test vectors
    alphas : relative strengths (penalty ``alpha * n``)

    Returns
    -------
    np.ndarray, shape (len(alphas), m): test predictions per alpha
    """
    Xtr, Xte = np.asarray(Xtr, np.float64), np.asarray(Xte, np.float64)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    sd = np.where(sd > 1e-12, sd, 1.0)
    A, B = (Xtr - mu) / sd, (Xte - mu) / sd
    ym = float(np.mean(ytr))
    U, s, Vt = np.linalg.svd(A, full_matrices=False)
    Uy = U.T @ (np.asarray(ytr, np.float64) - ym)
    n = len(A)
    return np.array([B @ (Vt.T @ (s / (s * s + a * n) * Uy)) + ym for a in alphas])


def _strongest_best(scores: Sequence[float], grid: Sequence[float]) -> float:
    """The grid value with the highest score; ties go to the later (stronger) value."""
    scores = np.asarray(scores, dtype=np.float64)
    return grid[len(grid) - 1 - int(np.argmax(scores[::-1]))]


def ridge_probe(
    Xtr: np.ndarray, ytr: np.ndarray, Xte: np.ndarray, groups_tr: np.ndarray, *, seed: int = 0
) -> np.ndarray:
    """Ridge probe: alpha chosen by validation MSE on an inner grouped split; (m,) test predictions."""
    Xtr = np.asarray(Xtr)
    y = np.asarray(ytr, np.float64).reshape(-1)
    alpha = 1.0
    split = _inner(groups_tr, len(y), seed)
    if split is not None:
        itr, iva = split
        P = svd_ridge(Xtr[itr], y[itr], Xtr[iva], ALPHAS)
        alpha = _strongest_best(-((P - y[iva][None, :]) ** 2).mean(1), ALPHAS)
    return svd_ridge(Xtr, y, Xte, [alpha])[0]


def _logistic(Xtr: np.ndarray, code: np.ndarray, lam: float, seed: int) -> Pipeline:
    """Standardised L2 logistic regression (penalty ``0.5 * lam * ||W||^2`` on the mean loss), fitted."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    C = 1.0 / (lam * len(code))
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=1000, random_state=seed))
    return model.fit(Xtr, code)


def logistic_probe(
    Xtr: np.ndarray, ytr: np.ndarray, Xte: np.ndarray, groups_tr: np.ndarray, *, seed: int = 0
) -> np.ndarray:
    """Logistic-regression probe (L2 strength chosen by validation accuracy on an inner grouped split);
    (m,) predicted classes."""
    Xtr = np.asarray(Xtr, np.float64)
    ys = np.asarray(ytr).astype(str)
    classes = np.array(sorted(set(ys)), dtype=object)
    if len(classes) < 2:
        return np.array([ys[0]] * len(Xte), dtype=object)
    code = np.searchsorted(classes.astype(str), ys)
    lam = LAMBDAS[len(LAMBDAS) // 2]
    split = _inner(groups_tr, len(ys), seed)
    if split is not None and len(np.unique(code[split[0]])) >= 2:
        itr, iva = split
        acc = [
            float(np.mean(_logistic(Xtr[itr], code[itr], lm, seed).predict(Xtr[iva]) == code[iva]))
            for lm in LAMBDAS
        ]
        lam = _strongest_best(acc, LAMBDAS)
    return classes[_logistic(Xtr, code, lam, seed).predict(np.asarray(Xte, np.float64))]


def r2_score(y: np.ndarray, pred: np.ndarray) -> float:
    """Coefficient of determination of pooled predictions (1 − SS_res / SS_tot); NaN for constant ``y``."""
    y, pred = np.asarray(y, np.float64), np.asarray(pred, np.float64)
    ss_tot = ((y - y.mean()) ** 2).sum()
    if ss_tot <= 0:
        return float("nan")
    return float(1.0 - ((y - pred) ** 2).sum() / ss_tot)


def accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    """Share of predictions equal to the label (compared as strings)."""
    return float((np.asarray(y).astype(str) == np.asarray(pred).astype(str)).mean())
