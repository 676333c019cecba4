"""Dynamic time warping inside a band, with fixed or free ends (the engine of multi-resolution alignment).

Task
    Find the monotone path through two feature sequences ``X`` (rows ``i``) and ``Y`` (columns ``j``) that
    minimises the accumulated local cost, visiting only the cells of a band (per row ``i`` the columns
    ``lo[i] <= j < hi[i]``). The band is what keeps hour-long alignments cheap: memory and time grow with the
    number of band cells, not with ``len(X) * len(Y)``.

Local cost
    ``c(i, j) = (1 - <x_i, y_j>) + onset_weight * ||o_i - p_j||_2``: cosine distance of unit-norm chroma rows
    plus, when onset features ``o``/``p`` are given, their Euclidean distance (the Sync Toolbox's combination of
    chroma and DLNCO costs, Ewert, Mueller & Grosche 2009). Costs are computed inside the band only.

Steps and weights
    Steps (1, 1), (1, 0), (0, 1) with unit weights (FMP's and the Sync Toolbox's default): a diagonal step advances
    both sequences for the cost of one cell, so among paths through equally good cells the most diagonal (the
    steadiest tempo) wins.

Ends
    ``skip=inf``: the path runs from ``(0, 0)`` to ``(N-1, M-1)``. A finite ``skip`` makes both ends free: a path
    may start at any cell for ``skip * (i + j)`` and end at any cell for ``skip * ((N-1-i) + (M-1-j))``, i.e.
    leaving out a frame of either sequence at either end costs ``skip``. A diagonal step (one frame of each) is
    kept when it costs less than ``2 * skip``, so two recordings that share only part of their music are aligned
    on that part.

Memory
    A band of ``C`` cells needs ``9 C`` bytes (float64 accumulated cost, int8 step);
    :func:`embedstore.alignment.chunking.chunked_dtw` solves larger bands in pieces.

The kernel is compiled with numba on first use (cached on disk).
"""

from __future__ import annotations

import functools

import numpy as np
from numpy.typing import ArrayLike

from embedstore.errors import ConfigError

__all__ = [
    "WEIGHTS",
    "local_cost",
    "cost_matrix",
    "full_band",
    "band_around_path",
    "banded_dtw",
    "path_cost",
]

#: Step weights (diagonal, vertical, horizontal).
WEIGHTS = (1.0, 1.0, 1.0)


def check_pair(
    X: ArrayLike, Y: ArrayLike, XO: ArrayLike | None, YO: ArrayLike | None
) -> tuple[np.ndarray, ...]:
    X = np.ascontiguousarray(X, dtype=np.float32)
    Y = np.ascontiguousarray(Y, dtype=np.float32)
    if X.ndim != 2 or Y.ndim != 2 or X.shape[1] != Y.shape[1]:
        raise ConfigError(f"feature sequences must be (n, d) with the same d, got {X.shape} and {Y.shape}")
    if len(X) == 0 or len(Y) == 0:
        raise ConfigError(
            "cannot align an empty feature sequence", hint="check that both recordings hold audio"
        )
    if (XO is None) != (YO is None):
        raise ConfigError("give onset features for both sequences or for neither")
    if XO is None:
        XO = np.zeros((len(X), 0), np.float32)
        YO = np.zeros((len(Y), 0), np.float32)
    XO = np.ascontiguousarray(XO, dtype=np.float32)
    YO = np.ascontiguousarray(YO, dtype=np.float32)
    if len(XO) != len(X) or len(YO) != len(Y) or XO.shape[1] != YO.shape[1]:
        raise ConfigError(
            f"onset features {XO.shape}/{YO.shape} do not fit the sequences {X.shape}/{Y.shape}"
        )
    return X, Y, XO, YO


def local_cost(
    X: ArrayLike,
    Y: ArrayLike,
    i: ArrayLike,
    j: ArrayLike,
    *,
    XO: ArrayLike | None = None,
    YO: ArrayLike | None = None,
    onset_weight: float = 1.0,
) -> np.ndarray:
    """Local cost of the cells ``(i[k], j[k])`` (see the module docstring).

    Parameters
    ----------
    X : np.ndarray, shape (N, d)
        Unit-norm rows.
    Y : np.ndarray, shape (M, d)
    i, j : array of int, shape (K,)
    XO, YO : np.ndarray, shape (N, e) and (M, e), optional
        Onset features.
    onset_weight : float

    Returns
    -------
    np.ndarray, shape (K,), float64
    """
    X, Y, XO, YO = check_pair(X, Y, XO, YO)
    i = np.asarray(i, dtype=np.int64)
    j = np.asarray(j, dtype=np.int64)
    c = 1.0 - np.einsum("kd,kd->k", X[i].astype(np.float64), Y[j].astype(np.float64))
    if XO.shape[1] and onset_weight:
        c += onset_weight * np.linalg.norm(XO[i].astype(np.float64) - YO[j], axis=1)
    return c


def cost_matrix(
    X: ArrayLike,
    Y: ArrayLike,
    *,
    XO: ArrayLike | None = None,
    YO: ArrayLike | None = None,
    onset_weight: float = 1.0,
) -> np.ndarray:
    """The full local cost matrix, shape (N, M), float64 (for short sequences and plots)."""
    X, Y, XO, YO = check_pair(X, Y, XO, YO)
    C = 1.0 - X.astype(np.float64) @ Y.T.astype(np.float64)
    if XO.shape[1] and onset_weight:
        import scipy.spatial.distance

        C += onset_weight * scipy.spatial.distance.cdist(XO, YO)
    return C


def full_band(n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """A band holding every cell of an ``n x m`` grid: ``lo = 0``, ``hi = m`` for every row."""
    return np.zeros(n, np.int64), np.full(n, m, np.int64)


def band_around_path(
    path: np.ndarray, coarse_shape: tuple[int, int], fine_shape: tuple[int, int], *, radius: int
) -> tuple[np.ndarray, np.ndarray]:
    """Project a path onto a finer grid and widen it: the constraint band of the next resolution level.

    Coarse cell ``(i, j)`` covers fine rows ``floor(i * N / n) .. ceil((i + 1) * N / n)`` and the same for
    columns; the union of the covered cells is widened by ``radius`` fine cells in both directions.

    Parameters
    ----------
    path : np.ndarray, shape (L, 2), int
        Path on the coarse grid (row, column), monotone.
    coarse_shape, fine_shape : (int, int)
        ``(n, m)`` and ``(N, M)``.
    radius : int
        Widening, fine cells.

    Returns
    -------
    lo, hi : np.ndarray, shape (N,), int64
        Allowed columns ``lo[i] <= j < hi[i]`` of each fine row (``lo == hi``: row outside the band).
    """
    import scipy.ndimage  # lazy: 0.5 s at import, only some paths need it

    (n, m), (N, M) = coarse_shape, fine_shape
    p = np.asarray(path, dtype=np.int64)
    r0 = np.floor(p[:, 0] * N / n).astype(np.int64)
    r1 = np.minimum(np.ceil((p[:, 0] + 1) * N / n).astype(np.int64), N)
    c0 = np.floor(p[:, 1] * M / m).astype(np.int64)
    c1 = np.minimum(np.ceil((p[:, 1] + 1) * M / m).astype(np.int64), M)
    big = np.int64(1) << 40
    jmin = np.full(N, big, np.int64)
    jmax = np.full(N, -big, np.int64)
    span = int((r1 - r0).max()) if len(p) else 0
    for k in range(span):
        rows = r0 + k
        ok = rows < r1
        np.minimum.at(jmin, rows[ok], c0[ok])
        np.maximum.at(jmax, rows[ok], c1[ok])
    rad = int(max(0, radius))
    if rad:
        jmin = scipy.ndimage.minimum_filter1d(jmin, 2 * rad + 1, mode="nearest") - rad
        jmax = scipy.ndimage.maximum_filter1d(jmax, 2 * rad + 1, mode="nearest") + rad
    lo = np.clip(jmin, 0, M)
    hi = np.clip(jmax, 0, M)
    empty = hi <= lo
    lo[empty] = 0
    hi[empty] = 0
    return lo, hi


def _dtw_band_py(
    X, Y, XO, YO, onset_weight, lo, hi, offs, wd, wv, wh, skip, free_start
):  # pragma: no cover - jitted
    n = X.shape[0]
    d = X.shape[1]
    e = XO.shape[1]
    D = np.full(offs[n], np.inf)
    S = np.full(offs[n], -1, np.int8)
    for i in range(n):
        a = lo[i]
        b = hi[i]
        pa = lo[i - 1] if i > 0 else 0
        pb = hi[i - 1] if i > 0 else 0
        for j in range(a, b):
            dot = 0.0
            for k in range(d):
                dot += X[i, k] * Y[j, k]
            c = 1.0 - dot
            if e > 0 and onset_weight != 0.0:
                s2 = 0.0
                for k in range(e):
                    t = XO[i, k] - YO[j, k]
                    s2 += t * t
                c += onset_weight * np.sqrt(s2)
            best = np.inf
            st = -1
            if free_start:
                best = skip * (i + j) + wd * c
                st = 3
            elif i == 0 and j == 0:
                best = wd * c
                st = 3
            if i > 0:
                if pa <= j - 1 < pb:
                    v = D[offs[i - 1] + j - 1 - pa] + wd * c
                    if v < best:
                        best = v
                        st = 0
                if pa <= j < pb:
                    v = D[offs[i - 1] + j - pa] + wv * c
                    if v < best:
                        best = v
                        st = 1
            if j > a:
                v = D[offs[i] + j - 1 - a] + wh * c
                if v < best:
                    best = v
                    st = 2
            D[offs[i] + j - a] = best
            S[offs[i] + j - a] = st
    return D, S


def _best_end_py(D, lo, hi, offs, skip, m):  # pragma: no cover - jitted
    n = lo.shape[0]
    best = np.inf
    bi = -1
    bj = -1
    for i in range(n):
        for j in range(lo[i], hi[i]):
            v = D[offs[i] + j - lo[i]] + skip * ((n - 1 - i) + (m - 1 - j))
            if v < best:
                best = v
                bi = i
                bj = j
    return bi, bj, best


def _backtrack_py(S, lo, offs, i, j):  # pragma: no cover - jitted
    out = np.empty((i + j + 2, 2), np.int64)
    k = 0
    while True:
        out[k, 0] = i
        out[k, 1] = j
        k += 1
        st = S[offs[i] + j - lo[i]]
        if st == 3 or st < 0:
            break
        if st == 0:
            i -= 1
            j -= 1
        elif st == 1:
            i -= 1
        else:
            j -= 1
    return out[:k][::-1]


@functools.cache
def _kernels():
    import numba  # lazy: numba

    return (
        numba.njit(cache=True, nogil=True)(_dtw_band_py),
        numba.njit(cache=True, nogil=True)(_backtrack_py),
        numba.njit(cache=True, nogil=True)(_best_end_py),
    )


def banded_dtw(
    X: ArrayLike,
    Y: ArrayLike,
    *,
    band: tuple[np.ndarray, np.ndarray] | None = None,
    XO: ArrayLike | None = None,
    YO: ArrayLike | None = None,
    onset_weight: float = 1.0,
    skip: float = np.inf,
    weights: tuple[float, float, float] = WEIGHTS,
    free_start: bool | None = None,
    free_end: bool | None = None,
) -> tuple[np.ndarray, float]:
    """Optimal warping path inside a band.

    Parameters
    ----------
    X : np.ndarray, shape (N, d)
        Unit-norm rows (e.g. :func:`~embedstore.alignment.features.normalise_chroma` output).
    Y : np.ndarray, shape (M, d)
    band : (lo, hi), optional
        Allowed columns per row (:func:`band_around_path`); default every cell.
    XO, YO : np.ndarray, shape (N, e) and (M, e), optional
        Onset features added to the cost with ``onset_weight``.
    skip : float
        Cost of leaving out one frame at either end; ``inf`` fixes the ends at ``(0, 0)`` and ``(N-1, M-1)``.
    weights : (float, float, float)
        Weights of the diagonal, vertical (i advances) and horizontal (j advances) steps.
    free_start, free_end : bool, optional
        Free only one end (the other fixed); default: both free when ``skip`` is finite.

    Returns
    -------
    path : np.ndarray, shape (L, 2), int64
        ``(i, j)`` cells from start to end; both columns non-decreasing, steps of at most one.
    total : float
        Accumulated cost of the path including the skip costs of the left-out frames.

    Raises
    ------
    ConfigError
        When the band leaves no path (e.g. fixed ends outside the band).
    """
    X, Y, XO, YO = check_pair(X, Y, XO, YO)
    n, m = len(X), len(Y)
    lo, hi = (
        full_band(n, m) if band is None else (np.asarray(band[0], np.int64), np.asarray(band[1], np.int64))
    )
    if lo.shape != (n,) or hi.shape != (n,):
        raise ConfigError(f"band must give lo/hi for each of the {n} rows")
    lo = np.clip(lo, 0, m)
    hi = np.clip(np.maximum(hi, lo), 0, m)
    offs = np.concatenate([[0], np.cumsum(hi - lo)]).astype(np.int64)
    fs = bool(np.isfinite(skip)) if free_start is None else bool(free_start)
    fe = bool(np.isfinite(skip)) if free_end is None else bool(free_end)
    if (fs or fe) and not np.isfinite(skip):
        raise ConfigError("a free end needs a finite skip cost")
    wd, wv, wh = (float(w) for w in weights)
    dtw_k, back_k, end_k = _kernels()
    D, S = dtw_k(X, Y, XO, YO, float(onset_weight), lo, hi, offs, wd, wv, wh, float(skip) if fs else 0.0, fs)
    if fe:
        i_end, j_end, total = end_k(D, lo, hi, offs, float(skip), m)
        if i_end < 0 or not np.isfinite(total):
            raise ConfigError("no warping path inside the band")
    else:
        if not (lo[n - 1] <= m - 1 < hi[n - 1]):
            raise ConfigError("the band does not reach the last cell; no path with fixed ends")
        i_end, j_end = n - 1, m - 1
        total = float(D[offs[n - 1] + (m - 1) - lo[n - 1]])
        if not np.isfinite(total):
            raise ConfigError("no warping path inside the band")
    path = back_k(S, lo, offs, int(i_end), int(j_end))
    return np.ascontiguousarray(path), float(total)


def path_cost(
    X: ArrayLike,
    Y: ArrayLike,
    path: np.ndarray,
    *,
    XO: ArrayLike | None = None,
    YO: ArrayLike | None = None,
    onset_weight: float = 1.0,
) -> np.ndarray:
    """Local cost of every cell of a path, shape (L,)."""
    p = np.asarray(path, dtype=np.int64)
    return local_cost(X, Y, p[:, 0], p[:, 1], XO=XO, YO=YO, onset_weight=onset_weight)
