"""Closed-form ridge regression on every layer at once, with cross-validation-friendly Gram caching (numpy).

Conventions
-----------
- Features come as a stack ``X`` of shape ``(n_layers, n_items, dim)`` (``Store.load_layers`` output); each layer
  gets its own model.
- Features are standardised with the *training* rows' mean and standard deviation; the returned parameters are
  folded back to raw feature coordinates: ``output = X[l] @ W[l] + b[l]`` (:func:`embedstore.probes.linear.
  linear_forward`).
- ``alpha`` is relative: the penalty is ``alpha * n_train`` on standardised features, so one grid suits any data
  size and scale.
- Model selection (the strength) uses a validation split of the training rows only; ties go to the stronger
  regularisation.

How it is fast
--------------
- Second moments come from :class:`~embedstore.probes.gram.GramCache` (``syrk`` Gram matrices, complements of
  large subsets), so each cross-validation fold costs one pass over its test and validation rows.
- Every target column (all heads, all tasks on the same rows) shares one Cholesky factorisation per layer and
  strength, and selection scores all strengths of a layer with one matrix product on the validation rows.
- Work is split by layer (:func:`~embedstore.probes.gram.per_layer`: threads with one BLAS thread each);
  :func:`ridge_cross_validate` runs a whole cross-validation of a layer in one task. No torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import scipy.linalg as sl

from embedstore.probes.gram import GramCache, TargetStack, per_layer

#: Relative ridge strengths searched on the inner split.
ALPHAS = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)

#: ``score(validation_rows, outputs (n_val, t)) -> float``, higher is better.
Score = Callable[[np.ndarray, np.ndarray], float]


class _LayerProblem:
    """Standardised normal equations of one layer on one training subset, ready to solve for any alpha.

    ``moments``: the subset's (Gram, row sum, X^T Y) when the caller has them; else they come from the cache.
    """

    def __init__(
        self,
        cache: GramCache,
        li: int,
        T: TargetStack,
        idx: np.ndarray,
        *,
        within: np.ndarray | None = None,
        moments: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    ):
        n = len(idx)
        if n < 2:
            raise ValueError("ridge needs at least 2 training rows")
        if moments is None:
            S, s = cache.layer_stats(li, idx, within=within)
            xty = cache.layer_xty(li, T, idx)
        else:
            S, s, xty = moments
        mu = s / n
        C = S - n * np.outer(mu, mu)  # a new array: the caller's S is left as it was
        sd = np.sqrt(np.clip(np.diagonal(C) / n, 0.0, None))
        sd = np.where(sd <= 1e-5 * max(float(sd.max()), 1e-30), 1.0, sd)
        ybar = T.Y[idx].mean(axis=0)
        inv = 1.0 / sd
        C *= inv[:, None]
        C *= inv[None, :]
        self.C, self.xy = C, (xty - n * np.outer(mu, ybar)) * inv[:, None]
        self.mu, self.sd, self.ybar, self.n = mu, sd, ybar, n
        self.offset = cache.offset[li].astype(np.float64)

    def solve(self, alphas: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Coefficients for the cache's centred features: W (A, d, t) and b (A, t), one Cholesky per alpha."""
        d = self.C.shape[0]
        Ws = np.empty((len(alphas), d, self.xy.shape[1]))
        for j, a in enumerate(alphas):
            A = self.C.copy()
            A.flat[:: d + 1] += a * self.n
            try:
                fac = sl.cho_factor(A, lower=True, check_finite=False, overwrite_a=True)
            except np.linalg.LinAlgError:  # numerically indefinite (rounding, near-constant features)
                A = self.C + a * self.n * np.eye(d)
                try:
                    lo = float(np.linalg.eigvalsh(A)[0])
                    fac = sl.cho_factor(
                        A + (abs(lo) + 1e-6 * self.n) * np.eye(d), lower=True, check_finite=False
                    )
                except np.linalg.LinAlgError:  # still indefinite (tiny training sets): least squares
                    Ws[j] = np.linalg.lstsq(A, self.xy, rcond=None)[0]
                    continue
            Ws[j] = sl.cho_solve(fac, self.xy, check_finite=False)
        W = Ws / self.sd[None, :, None]
        return W, self.ybar[None, :] - np.einsum("d,adt->at", self.mu, W)

    def raw_intercept(self, W: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Intercepts in raw feature coordinates (the cache's centring undone)."""
        return b - np.einsum("d,...dt->...t", self.offset, W)


def _score_alphas(
    cache: GramCache,
    li: int,
    prob: _LayerProblem,
    T: TargetStack,
    val_idx: np.ndarray,
    alphas: Sequence[float] | np.ndarray,
    scores: Sequence[Score],
) -> np.ndarray:
    """Validation scores (n_blocks, n_alphas) of every alpha of one layer."""
    W, b = prob.solve(alphas)  # (A, d, t), (A, t)
    A, t = len(alphas), W.shape[2]
    Xv = cache.X[li, val_idx].astype(np.float64)
    out = (Xv @ W.transpose(1, 0, 2).reshape(cache.dim, A * t)).reshape(len(val_idx), A, t) + b[None]
    out = out.astype(np.float32)  # scored as float32 outputs
    table = np.full((len(T.slices), A), -np.inf)
    for h, sl_h in enumerate(T.slices):
        for j in range(A):
            v = scores[h](val_idx, out[:, j, sl_h])
            table[h, j] = v if np.isfinite(v) else -np.inf
    return table


def _best(table: np.ndarray, alphas: Sequence[float]) -> np.ndarray:
    """Best alpha per block from a (..., n_alphas) score table; ties go to the stronger (later) alpha."""
    A = table.shape[-1]
    return np.asarray(alphas, dtype=np.float64)[A - 1 - np.argmax(table[..., ::-1], axis=-1)]


def _fit_layer(prob: _LayerProblem, T: TargetStack, alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Raw-coordinate W (d, t) and b (t) of one layer, each block with its own alpha (``alphas`` (n_blocks,))."""
    uniq = np.unique(alphas)
    W, b = prob.solve(uniq)
    b = prob.raw_intercept(W, b)
    Wl = np.empty(W.shape[1:])
    bl = np.empty(b.shape[1:])
    for h, sl_h in enumerate(T.slices):
        k = int(np.flatnonzero(np.isclose(uniq, alphas[h]))[0])
        Wl[:, sl_h], bl[sl_h] = W[k][:, sl_h], b[k][sl_h]
    return Wl, bl


def ridge_select_many(
    cache: GramCache,
    Ys: Sequence[np.ndarray],
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    *,
    alphas: Sequence[float] = ALPHAS,
    scores: Sequence[Score],
) -> tuple[np.ndarray, np.ndarray]:
    """Pick one alpha per layer and per target block on a validation split, solving all blocks at once.

    Parameters
    ----------
    cache : GramCache of the feature stack (L, n, d)
    Ys : target blocks, each (n,) or (n, t) (one-hot / multi-hot for classification probes); blocks share the
        factorisations, so several heads (or tasks on the same rows) cost about as much as one
    train_idx, val_idx : rows to fit and to score on (both inside the outer training fold)
    alphas : relative strengths to try
    scores : one ``score(val_rows_indices, outputs (n_val, t)) -> float`` per block, higher is better

    Returns
    -------
    best_alphas : (L, n_blocks) and the score tables (n_blocks, L, n_alphas); ties go to the stronger alpha
    """
    T = cache.targets(Ys)
    val_idx = np.asarray(val_idx, dtype=np.int64)
    both = np.union1d(np.asarray(train_idx), val_idx)
    table = np.full((len(T.slices), cache.n_layers, len(alphas)), -np.inf)

    def layer(li: int) -> None:
        prob = _LayerProblem(cache, li, T, train_idx, within=both)
        table[:, li] = _score_alphas(cache, li, prob, T, val_idx, alphas, scores)

    per_layer(layer, cache.n_layers, parallel=cache.dim >= 128)
    return _best(table, alphas).T, table


def ridge_fit_many(
    cache: GramCache, Ys: Sequence[np.ndarray], train_idx: np.ndarray, *, alphas: np.ndarray
) -> list[dict[str, np.ndarray]]:
    """Fit per-layer ridge maps for several target blocks on ``train_idx``.

    Parameters
    ----------
    cache : GramCache of the feature stack; Ys : target blocks (see :func:`ridge_select_many`)
    train_idx : rows to fit
    alphas : (L, n_blocks) strength of each layer and block (one factorisation per layer and distinct alpha)

    Returns
    -------
    raw-coordinate params (``W`` (L, d, t_h), ``b`` (L, t_h), float32) per block
    """
    T = cache.targets(Ys)
    L, H = cache.n_layers, len(T.slices)
    A = np.broadcast_to(np.asarray(alphas, dtype=np.float64).reshape(L, -1), (L, H))
    W = np.empty((L, cache.dim, T.Y.shape[1]))
    b = np.empty((L, T.Y.shape[1]))

    def layer(li: int) -> None:
        W[li], b[li] = _fit_layer(_LayerProblem(cache, li, T, train_idx), T, A[li])

    per_layer(layer, L, parallel=cache.dim >= 128)
    return [{"W": W[:, :, s].astype(np.float32), "b": b[:, s].astype(np.float32)} for s in T.slices]


def ridge_cross_validate(
    cache: GramCache,
    Ys: Sequence[np.ndarray],
    folds: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    *,
    alphas: Sequence[float] = ALPHAS,
    scores: Sequence[Sequence[Score]],
    X: np.ndarray | None = None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Out-of-fold outputs of per-layer ridge maps: per fold, select each block's alpha on the validation rows,
    refit on fit + validation rows, predict the test rows. Each layer is one task (all its folds).

    Parameters
    ----------
    cache : GramCache of the feature stack (L, n, d); Ys : target blocks (see :func:`ridge_select_many`)
    folds : per outer fold, (fit rows, validation rows, test rows); fit + validation is its training part
    alphas : relative strengths to try
    scores : per fold, one score per block (see :func:`ridge_select_many`)
    X : the raw feature stack the test rows are predicted from, as :func:`~embedstore.probes.linear.
        linear_forward` would (float32); default: the cache's features with the centring undone

    Returns
    -------
    best_alphas : (n_folds, L, n_blocks); outputs : per block, (L, n, t_h) float32, filled on every test row
    """
    T = cache.targets(Ys)
    L, F = cache.n_layers, len(folds)
    best = np.empty((F, L, len(T.slices)))
    out = np.zeros((L, cache.n, T.Y.shape[1]), dtype=np.float32)
    tests = [np.asarray(te, dtype=np.int64) for _, _, te in folds]
    tested = np.concatenate(tests) if tests else np.zeros(0, dtype=np.int64)
    if len(np.unique(tested)) != len(tested):
        raise ValueError("the folds' test rows must not overlap")
    rest = np.setdiff1d(np.arange(cache.n), tested)
    blocks = tests + ([rest] if len(rest) else [])

    def layer(li: int) -> None:
        # the moments of every test block (and of the rows in none): the full ones are their sum, and a fold's
        # training part is the full minus its test block, so the data is read once for all folds
        block = [cache.block_moments(li, T, b) for b in blocks]
        full = [sum(m[k] for m in block) for k in range(3)]
        for f, (fit, val, test) in enumerate(folds):
            val = np.asarray(val, dtype=np.int64)
            both = np.union1d(np.asarray(fit), val)
            train = [full[k] - block[f][k] for k in range(3)]
            vm = cache.block_moments(li, T, val)
            prob = _LayerProblem(cache, li, T, fit, moments=tuple(train[k] - vm[k] for k in range(3)))
            best[f, li] = _best(_score_alphas(cache, li, prob, T, val, alphas, scores[f]), alphas)
            W, b = _fit_layer(_LayerProblem(cache, li, T, both, moments=tuple(train)), T, best[f, li])
            raw = cache.X[li, test] + cache.offset[li] if X is None else X[li, test]
            Xte = np.asarray(raw, dtype=np.float32)
            out[li, test] = Xte @ W.astype(np.float32) + b.astype(np.float32)

    per_layer(layer, L, parallel=cache.dim >= 128)
    return best, [out[:, :, s] for s in T.slices]


def ridge_select(
    cache: GramCache,
    Y: np.ndarray,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    *,
    alphas: Sequence[float] = ALPHAS,
    score: Score,
) -> tuple[np.ndarray, np.ndarray]:
    """Pick one alpha per layer on a validation split (one target block): best (L,), score table (L, n_alphas)."""
    best, table = ridge_select_many(cache, [Y], train_idx, val_idx, alphas=alphas, scores=[score])
    return best[:, 0], table[0]


def ridge_fit(
    cache: GramCache, Y: np.ndarray, train_idx: np.ndarray, *, alphas: float | Sequence[float] | np.ndarray
) -> dict[str, np.ndarray]:
    """Fit per-layer ridge maps on ``train_idx`` with per-layer (or one) alpha; raw-coordinate params."""
    L = cache.n_layers
    return ridge_fit_many(
        cache, [Y], train_idx, alphas=np.broadcast_to(np.asarray(alphas, float), (L,))[:, None]
    )[0]
