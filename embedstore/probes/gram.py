"""Second moments of a feature stack for fast linear fits on many row subsets, computed layer by layer.

Features come as a stack ``X`` (n_layers, n_items, dim). :class:`GramCache` centres each layer once (by its overall
mean: a translation linear models with an intercept are invariant to, so nothing leaks between folds) and gives the
Gram matrix ``X^T X``, row sums and ``X^T Y`` of row subsets, in float64:

- a subset's Gram comes from one symmetric rank-k update (BLAS ``syrk``; float32 on the centred stack when float64
  would be expensive, accumulated per block and summed in float64);
- a large subset is a superset's Gram minus its (small) complement's, and results are memoised per layer;
- :meth:`GramCache.block_moments` gives one block's moments uncached, for callers that combine blocks themselves
  (cross-validation folds: a training part is the sum of the other test blocks).

:func:`per_layer` runs per-layer work in threads with one BLAS thread each: coarse tasks keep the cores busy even on
a loaded machine, where multi-threaded BLAS calls spend their time waiting on each other.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

Stats = tuple[np.ndarray, np.ndarray]


def _key(a: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(a).tobytes(), digest_size=16).digest()


def workers(L: int) -> int:
    """Threads for per-layer work: the BLAS thread limit (e.g. ``OMP_NUM_THREADS``), else this process's CPUs."""
    n = [int(i.get("num_threads", 0)) for i in threadpool_info() if i.get("user_api") == "blas"]
    cpus = max(n) if n else (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
    return max(1, min(L, cpus))


def per_layer(fn: Callable[[int], None], L: int, *, parallel: bool = True) -> None:
    """Run ``fn(layer)`` for every layer, in threads with one BLAS thread each (small problems: in a loop)."""
    n_workers = workers(L) if parallel else 1
    with threadpool_limits(1, user_api="blas"):
        if n_workers == 1:
            for li in range(L):
                fn(li)
        else:
            with ThreadPoolExecutor(n_workers) as ex:
                list(ex.map(fn, range(L)))


@dataclass
class TargetStack:
    """Stacked target blocks (:meth:`GramCache.targets`).

    Attributes
    ----------
    Y : (n, t) float64 targets; Yx : the same in the features' dtype
    slices : the columns of each block; key : a content hash of ``Y``
    """

    Y: np.ndarray
    Yx: np.ndarray
    slices: list[slice]
    key: bytes


class GramCache:
    """Second moments of one feature stack for fast ridge fits on many row subsets (CV folds).

    The stack is centred by its overall mean (a translation the fitted models are invariant to, so nothing leaks
    between folds), and each layer's full Gram matrix is computed once: the Gram of a large subset is the full one
    minus that of the (small) complement.

    Parameters
    ----------
    X : np.ndarray, shape (n_layers, n, dim)
    max_cached : how many row subsets' Gram matrices to keep per layer (each is (dim, dim) float64)
    """

    def __init__(self, X: np.ndarray, *, max_cached: int = 12):
        X = np.asarray(X)
        if X.ndim != 3:
            raise ValueError(f"X must be (n_layers, n, dim), got shape {X.shape}")
        # float64 products unless that gets expensive (then float32 on the centred stack, so little is lost)
        big = float(X.shape[0]) * X.shape[1] * X.shape[2] ** 2 > 2e9
        dtype = np.float32 if big else np.float64
        self.X = np.empty(X.shape, dtype=dtype)
        self.offset = np.empty((X.shape[0], X.shape[2]), dtype=dtype)  # (L, d)

        def centre(li: int) -> None:
            Xl = np.asarray(X[li], dtype=dtype)
            self.offset[li] = Xl.mean(axis=0)
            np.subtract(Xl, self.offset[li], out=self.X[li])

        per_layer(centre, X.shape[0], parallel=X.shape[2] >= 128)
        self.n_layers, self.n, self.dim = int(X.shape[0]), int(X.shape[1]), int(X.shape[2])
        self.max_cached = max_cached
        self._full: dict[int, Stats] = {}
        self._memo: dict[int, dict[bytes, Stats]] = {li: {} for li in range(self.n_layers)}
        self._xty_full: dict[int, tuple[bytes, np.ndarray]] = {}

    def _gram(self, li: int, idx: np.ndarray | None) -> Stats:
        """Gram (d, d) and row sum (d,) of rows ``idx`` (None: all rows) of layer ``li``, float64."""
        Xi = self.X[li] if idx is None else self.X[li, idx]
        return (Xi.T @ Xi).astype(np.float64), Xi.sum(axis=0, dtype=np.float64)  # a.T @ a: numpy calls syrk

    def block_moments(
        self, li: int, T: TargetStack, idx: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Gram (d, d), row sum (d,) and ``X^T Y`` (d, t) of rows ``idx`` of layer ``li``, float64 (not cached)."""
        Xi = self.X[li, idx]
        return (
            (Xi.T @ Xi).astype(np.float64),
            Xi.sum(axis=0, dtype=np.float64),
            (Xi.T @ T.Yx[idx]).astype(np.float64),
        )

    def layer_stats(self, li: int, idx: np.ndarray, *, within: np.ndarray | None = None) -> Stats:
        """``(S, s)``: ``X[li, idx]^T X[li, idx]`` (d, d) and the row sum (d,), float64.

        Parameters
        ----------
        li : layer index; idx : row indices
        within : a superset of ``idx`` (its stats are computed first); a large subset is the superset's (default:
            all rows') Gram minus its complement's

        Results are memoised per layer (``max_cached`` subsets), so heads sharing rows share the work.
        """
        idx = np.asarray(idx, dtype=np.int64)
        key = _key(np.sort(idx))
        memo = self._memo[li]
        if key in memo:
            return memo[key]
        mask = np.zeros(self.n, dtype=bool)
        if within is not None:
            S0, s0 = self.layer_stats(li, within)
            mask[np.asarray(within, dtype=np.int64)] = True
        elif len(idx) <= self.n // 2:
            out = self._gram(li, idx)
            self._remember(li, key, out)
            return out
        else:
            if li not in self._full:
                self._full[li] = self._gram(li, None)
            S0, s0 = self._full[li]
            mask[:] = True
        mask[idx] = False
        rest = np.flatnonzero(mask)
        if len(rest) == 0:
            out = (S0, s0)
        elif len(rest) > len(idx):
            out = self._gram(li, idx)
        else:
            Sr, sr = self._gram(li, rest)
            out = (S0 - Sr, s0 - sr)
        self._remember(li, key, out)
        return out

    def _remember(self, li: int, key: bytes, value: Stats) -> None:
        memo = self._memo[li]
        if self.max_cached <= 0:
            return
        if len(memo) >= self.max_cached:
            memo.pop(next(iter(memo)))
        memo[key] = value

    def targets(self, Ys: Sequence[np.ndarray]) -> TargetStack:
        """Target blocks, each (n,) or (n, t), stacked into one (n, t_total) matrix."""
        cols, slices, at = [], [], 0
        for Y in Ys:
            y = np.asarray(Y, dtype=np.float64).reshape(self.n, -1)
            cols.append(y)
            slices.append(slice(at, at + y.shape[1]))
            at += y.shape[1]
        Y = np.ascontiguousarray(np.concatenate(cols, axis=1))
        return TargetStack(Y, Y.astype(self.X.dtype), slices, _key(Y))

    def layer_xty(self, li: int, T: TargetStack, idx: np.ndarray) -> np.ndarray:
        """``X[li, idx]^T Y[idx]`` (d, t) float64; a large subset is the full product minus the complement's."""
        idx = np.asarray(idx, dtype=np.int64)
        Xl = self.X[li]
        if len(idx) <= self.n // 2:
            return (Xl[idx].T @ T.Yx[idx]).astype(np.float64)
        full = self._xty_full.get(li)
        if full is None or full[0] != T.key:
            full = self._xty_full[li] = (T.key, (Xl.T @ T.Yx).astype(np.float64))
        mask = np.ones(self.n, dtype=bool)
        mask[idx] = False
        rest = np.flatnonzero(mask)
        return full[1] - Xl[rest].T @ T.Yx[rest] if len(rest) else full[1].copy()
