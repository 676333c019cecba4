"""Closed-form ridge regression on every layer at once, with cross-validation-friendly Gram caching.

Conventions
-----------
- Features come as a stack ``X`` of shape ``(n_layers, n_items, dim)`` (``Store.load_layers`` output); each layer
  gets its own model, fitted in one batched call.
- Features are standardised with the *training* rows' mean and standard deviation; the returned parameters are
  folded back to raw feature coordinates: ``output = X[l] @ W[l] + b[l]`` (:func:`embedstore.probes.linear.
  linear_forward`).
- ``alpha`` is relative: the penalty is ``alpha * n_train`` on standardised features, so one grid suits any data
  size and scale.
- Model selection (the strength) uses a validation split of the training rows only; ties go to the stronger
  regularisation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

#: Relative ridge strengths searched on the inner split.
ALPHAS = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)


def _torch():
    import torch

    return torch


class GramCache:
    """Second moments of one feature stack for fast ridge fits on many row subsets (CV folds).

    The stack is centred by its overall mean (a translation the fitted models are invariant to, so nothing leaks
    between folds), and the full Gram matrix is computed once: the Gram of a large subset is the full one minus
    that of the (small) complement.

    Parameters
    ----------
    X : np.ndarray, shape (n_layers, n, dim)
    """

    def __init__(self, X: np.ndarray, *, max_cached: int = 12):
        torch = _torch()
        X = np.asarray(X)
        if X.ndim != 3:
            raise ValueError(f"X must be (n_layers, n, dim), got shape {X.shape}")
        # float64 Gram matrices unless that gets expensive (then float32, centred, so little is lost)
        big = float(X.shape[0]) * X.shape[1] * X.shape[2] ** 2 > 2e9
        Xt = torch.as_tensor(np.ascontiguousarray(X), dtype=torch.float32 if big else torch.float64)
        self.offset = Xt.mean(dim=1)  # (L, d)
        self.X = Xt - self.offset[:, None, :]
        self.n_layers, self.n, self.dim = self.X.shape
        self._full = None
        self._memo: dict[bytes, tuple] = {}
        self.max_cached = max_cached

    def _direct(self, idx):
        torch = _torch()
        Xi = self.X[:, torch.as_tensor(idx, dtype=torch.long)]
        return (Xi.transpose(1, 2) @ Xi).double(), Xi.sum(dim=1).double()

    @staticmethod
    def _key(idx) -> bytes:
        import hashlib

        a = np.ascontiguousarray(np.sort(np.asarray(idx, dtype=np.int64)))
        return hashlib.blake2b(a.tobytes(), digest_size=16).digest()

    def stats(self, idx, *, within=None) -> tuple:
        """``(S, s)``: ``X[:, idx]^T X[:, idx]`` (L, d, d) and the row sum (L, d), float64 tensors.

        Large subsets are computed as a superset's Gram minus the complement's (``within``: a superset of
        ``idx`` whose stats are computed or cached first; default: all rows). Results are memoised, so heads and
        tasks sharing folds share the work.
        """
        idx = np.asarray(idx, dtype=np.int64)
        key = self._key(idx)
        if key in self._memo:
            return self._memo[key]
        if within is not None:
            base_idx = np.asarray(within, dtype=np.int64)
            S0, s0 = self.stats(base_idx)
        else:
            base_idx = None
            if len(idx) <= self.n // 2:
                out = self._direct(idx)
                self._remember(key, out)
                return out
            if self._full is None:
                self._full = self._direct(np.arange(self.n))
            S0, s0 = self._full
        mask = np.zeros(self.n, dtype=bool)
        if base_idx is None:
            mask[:] = True
        else:
            mask[base_idx] = True
        mask[idx] = False
        rest = np.flatnonzero(mask)
        if len(rest) == 0:
            out = (S0, s0)
        elif len(rest) > len(idx):
            out = self._direct(idx)
        else:
            Sr, sr = self._direct(rest)
            out = (S0 - Sr, s0 - sr)
        self._remember(key, out)
        return out

    def _remember(self, key: bytes, value: tuple) -> None:
        if self.max_cached <= 0:
            return
        if len(self._memo) >= self.max_cached:
            self._memo.pop(next(iter(self._memo)))
        self._memo[key] = value

    def xty(self, Y: np.ndarray, idx) -> tuple:
        """``X[:, idx]^T Y[idx]`` (L, d, t) float64 and ``Y[idx]`` (n_idx, t) float64.

        Large subsets: the full product (computed once per ``Y``) minus the complement's.
        """
        import hashlib

        torch = _torch()
        Y = np.ascontiguousarray(np.asarray(Y, dtype=np.float64).reshape(self.n, -1))
        idx = np.asarray(idx, dtype=np.int64)
        Yt = torch.as_tensor(Y).to(self.X.dtype)
        if len(idx) <= self.n // 2:
            sel = torch.as_tensor(idx)
            return (self.X[:, sel].transpose(1, 2) @ Yt[sel]).double(), torch.as_tensor(Y[idx])
        key = hashlib.blake2b(Y.tobytes(), digest_size=16).digest()
        if getattr(self, "_xty_key", None) != key:
            self._xty_key = key
            self._xty_full = (self.X.transpose(1, 2) @ Yt).double()
        mask = np.ones(self.n, dtype=bool)
        mask[idx] = False
        rest = torch.as_tensor(np.flatnonzero(mask))
        out = self._xty_full.clone()
        if len(rest):
            out -= (self.X[:, rest].transpose(1, 2) @ Yt[rest]).double()
        return out, torch.as_tensor(Y[idx])

    def rows(self, idx):
        torch = _torch()
        return self.X[:, torch.as_tensor(np.asarray(idx, dtype=np.int64))]


class _RidgeProblem:
    """Standardised normal equations of one training subset, ready to solve for any per-layer alpha."""

    def __init__(self, cache: GramCache, Y: np.ndarray, idx, *, within=None):
        torch = _torch()
        n = len(idx)
        if n < 2:
            raise ValueError("ridge needs at least 2 training rows")
        S, s = cache.stats(idx, within=within)
        xty, Yi = cache.xty(Y, idx)
        mu = s / n
        C = S.clone()
        C.baddbmm_(mu[:, :, None], mu[:, None, :], alpha=-n)  # C = S - n mu mu^T, in place
        var = torch.clamp(torch.diagonal(C, dim1=1, dim2=2) / n, min=0.0)
        sd = torch.sqrt(var)
        tiny = sd <= 1e-5 * torch.clamp(sd.amax(dim=1, keepdim=True), min=1e-30)
        sd = torch.where(tiny, torch.ones_like(sd), sd)
        ybar = Yi.mean(dim=0)
        xty_c = xty - n * mu[:, :, None] * ybar[None, None, :]
        inv = 1.0 / sd
        C.mul_(inv[:, :, None]).mul_(inv[:, None, :])
        self.Cs = C
        self.xys = xty_c * inv[:, :, None]
        self.mu, self.sd, self.ybar, self.n = mu, sd, ybar, n
        self.cache = cache

    def solve(self, alphas) -> tuple:
        """Coefficients for centred features: W (L, d, t), b (L, t), float64 tensors."""
        import scipy.linalg as sl

        torch = _torch()
        L, d, _ = self.Cs.shape
        a = np.broadcast_to(np.asarray(alphas, dtype=np.float64), (L,))
        Cs, xys = self.Cs.numpy(), self.xys.numpy()
        Ws = np.empty_like(xys)
        eye = np.eye(d)
        from concurrent.futures import ThreadPoolExecutor

        from threadpoolctl import threadpool_limits

        def one(li: int) -> None:
            A = Cs[li] + a[li] * self.n * eye
            try:
                fac = sl.cho_factor(A, lower=True, check_finite=False)
            except np.linalg.LinAlgError:  # numerically indefinite (rounding, near-constant features)
                try:
                    lo = float(np.linalg.eigvalsh(A)[0])
                    fac = sl.cho_factor(A + (abs(lo) + 1e-6 * self.n) * eye, lower=True, check_finite=False)
                except np.linalg.LinAlgError:  # still indefinite (tiny training sets): least squares
                    Ws[li] = np.linalg.lstsq(A, xys[li], rcond=None)[0]
                    return
            Ws[li] = sl.cho_solve(fac, xys[li], check_finite=False)

        # LAPACK potrf/potrs per layer with one BLAS thread each, layers spread over torch's thread count
        # (faster than batched torch on CPU, and robust on busy machines)
        workers = max(1, min(L, torch.get_num_threads()))
        with threadpool_limits(1):
            if workers == 1 or d < 128:
                for li in range(L):
                    one(li)
            else:
                with ThreadPoolExecutor(workers) as ex:
                    list(ex.map(one, range(L)))
        W = torch.as_tensor(Ws) / self.sd[:, :, None]
        b = self.ybar[None, :] - torch.einsum("ld,ldt->lt", self.mu, W)
        return W, b

    def raw(self, W, b) -> dict[str, np.ndarray]:
        """Parameters in raw feature coordinates: ``X @ W + b``."""
        torch = _torch()
        b_raw = b - torch.einsum("ld,ldt->lt", self.cache.offset.double(), W)
        return {"W": W.float().numpy(), "b": b_raw.float().numpy()}


def _stack_targets(cache: GramCache, Ys) -> tuple[np.ndarray, list[slice]]:
    cols, slices, at = [], [], 0
    for Y in Ys:
        y = np.asarray(Y, dtype=np.float64).reshape(cache.n, -1)
        cols.append(y)
        slices.append(slice(at, at + y.shape[1]))
        at += y.shape[1]
    return np.concatenate(cols, axis=1), slices


def ridge_select_many(
    cache: GramCache,
    Ys: Sequence[np.ndarray],
    train_idx,
    val_idx,
    *,
    alphas: Sequence[float] = ALPHAS,
    scores: Sequence[Callable[[np.ndarray, np.ndarray], float]],
) -> tuple[np.ndarray, np.ndarray]:
    """Pick one alpha per layer and per target block on a validation split, solving all blocks at once.

    Parameters
    ----------
    cache : GramCache of the feature stack (L, n, d)
    Ys : target blocks, each (n,) or (n, t) (one-hot / multi-hot for classification probes); blocks share the
        factorisations, so several heads (or tasks on the same rows) cost about as much as one
    train_idx, val_idx : rows to fit and to score on (both inside the outer training fold)
    scores : one ``score(val_rows_indices, outputs (n_val, t)) -> float`` per block, higher is better

    Returns
    -------
    best_alphas : (L, n_blocks) and the score tables (n_blocks, L, n_alphas); ties go to the stronger alpha
    """
    Y, slices = _stack_targets(cache, Ys)
    both = np.union1d(np.asarray(train_idx), np.asarray(val_idx))
    cache.stats(both)
    prob = _RidgeProblem(cache, Y, train_idx, within=both)
    Xv = cache.rows(val_idx).double()
    H = len(slices)
    table = np.full((H, cache.n_layers, len(alphas)), -np.inf)
    for j, a in enumerate(alphas):
        W, b = prob.solve(a)
        out = (Xv @ W + b[:, None, :]).float().numpy()
        for h, sl in enumerate(slices):
            for li in range(cache.n_layers):
                v = scores[h](np.asarray(val_idx), out[li][:, sl])
                table[h, li, j] = v if np.isfinite(v) else -np.inf
    best = len(alphas) - 1 - np.argmax(table[:, :, ::-1], axis=2)  # (H, L)
    return np.asarray(alphas, dtype=np.float64)[best].T, table


def ridge_fit_many(
    cache: GramCache, Ys: Sequence[np.ndarray], train_idx, *, alphas
) -> list[dict[str, np.ndarray]]:
    """Fit per-layer ridge maps for several target blocks; ``alphas`` (L, n_blocks). One factorisation per layer
    and distinct alpha. Returns raw-coordinate params per block."""
    Y, slices = _stack_targets(cache, Ys)
    L, H = cache.n_layers, len(slices)
    A = np.broadcast_to(np.asarray(alphas, dtype=np.float64).reshape(L, -1), (L, H))
    prob = _RidgeProblem(cache, Y, train_idx)
    W_all = [None] * H
    b_all = [None] * H
    uniq = [np.unique(A[li]) for li in range(L)]
    for k in range(max(len(u) for u in uniq)):
        avec = np.array([u[min(k, len(u) - 1)] for u in uniq])
        W, b = prob.solve(avec)
        for h, sl in enumerate(slices):
            hit = np.isclose(A[:, h], avec)
            if W_all[h] is None:
                W_all[h], b_all[h] = W[:, :, sl].clone(), b[:, sl].clone()
            else:
                W_all[h][hit], b_all[h][hit] = W[hit][:, :, sl], b[hit][:, sl]
    return [prob.raw(W_all[h], b_all[h]) for h in range(H)]


def ridge_select(
    cache: GramCache,
    Y: np.ndarray,
    train_idx,
    val_idx,
    *,
    alphas: Sequence[float] = ALPHAS,
    score: Callable[[np.ndarray, np.ndarray], float],
) -> tuple[np.ndarray, np.ndarray]:
    """Pick one alpha per layer on a validation split (one target block): best (L,), score table (L, n_alphas)."""
    best, table = ridge_select_many(cache, [Y], train_idx, val_idx, alphas=alphas, scores=[score])
    return best[:, 0], table[0]


def ridge_fit(cache: GramCache, Y: np.ndarray, train_idx, *, alphas) -> dict[str, np.ndarray]:
    """Fit per-layer ridge maps on ``train_idx`` with per-layer (or one) alpha; raw-coordinate params."""
    L = cache.n_layers
    return ridge_fit_many(
        cache, [Y], train_idx, alphas=np.broadcast_to(np.asarray(alphas, float), (L,))[:, None]
    )[0]
