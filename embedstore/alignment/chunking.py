"""Banded DTW in pieces, so that the memory of an alignment stays bounded whatever the length.

A band of ``C`` cells needs ``9 C`` bytes (:mod:`embedstore.alignment.dtw`). :func:`chunked_dtw` solves a larger
band in pieces of at most about ``max_cells`` cells between anchor cells, twice: first between anchors on the
band's centre line, then between anchors taken from the middle of the first pass's pieces (where that path is
reliable, far from the first anchors), as the Sync Toolbox's MrMsDTW refines between neighbouring anchors. The
global start and end keep their treatment (fixed, or free with a skip cost).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from embedstore.alignment.dtw import banded_dtw, check_pair

__all__ = ["MAX_CELLS", "chunked_dtw"]

#: Most band cells solved at once (about 36 MB of accumulated cost and steps).
MAX_CELLS = 4_000_000


def _pieces(
    X: np.ndarray,
    Y: np.ndarray,
    XO: np.ndarray,
    YO: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    anchors: list[tuple[int, int]],
    *,
    onset_weight: float,
    skip: float,
) -> np.ndarray:
    """Solve the band between consecutive anchors (fixed), with the global start/end treatment at the ends."""
    n = len(X)
    pts: list[tuple[int, int] | None] = [None, *anchors, None]
    out: list[np.ndarray] = []
    for a, b in zip(pts[:-1], pts[1:]):
        r0 = 0 if a is None else a[0]
        r1 = n - 1 if b is None else b[0]
        c0 = int(lo[r0 : r1 + 1].min()) if a is None else a[1]
        c1 = int(hi[r0 : r1 + 1].max()) - 1 if b is None else b[1]
        lo2 = np.clip(lo[r0 : r1 + 1], c0, c1 + 1) - c0
        hi2 = np.clip(hi[r0 : r1 + 1], c0, c1 + 1) - c0
        path, _ = banded_dtw(
            X[r0 : r1 + 1],
            Y[c0 : c1 + 1],
            band=(lo2, hi2),
            XO=XO[r0 : r1 + 1],
            YO=YO[c0 : c1 + 1],
            onset_weight=onset_weight,
            skip=skip,
            free_start=a is None and np.isfinite(skip),
            free_end=b is None and np.isfinite(skip),
        )
        path = path + np.array([r0, c0])
        out.append(path if not out else path[1:])
    return np.concatenate(out)


def chunked_dtw(
    X: ArrayLike,
    Y: ArrayLike,
    *,
    band: tuple[np.ndarray, np.ndarray],
    XO: ArrayLike | None = None,
    YO: ArrayLike | None = None,
    onset_weight: float = 1.0,
    skip: float = np.inf,
    max_cells: int = MAX_CELLS,
) -> np.ndarray:
    """:func:`banded_dtw` in pieces of at most about ``max_cells`` cells (see Memory in the module docstring).

    Returns
    -------
    np.ndarray, shape (L, 2), int64
        The path; identical to :func:`banded_dtw`'s when the band is small enough to solve at once.
    """
    X, Y, XO, YO = check_pair(X, Y, XO, YO)
    lo = np.asarray(band[0], np.int64)
    hi = np.maximum(np.asarray(band[1], np.int64), lo)
    cells = hi - lo
    if int(cells.sum()) <= max_cells:
        return banded_dtw(X, Y, band=(lo, hi), XO=XO, YO=YO, onset_weight=onset_weight, skip=skip)[0]
    rows = np.flatnonzero(cells > 0)
    r_first, r_last = int(rows[0]), int(rows[-1])  # rows outside the band cannot hold the path
    X, XO = X[r_first : r_last + 1], XO[r_first : r_last + 1]
    lo, hi, cells = lo[r_first : r_last + 1], hi[r_first : r_last + 1], cells[r_first : r_last + 1]
    n = len(X)
    cum = np.cumsum(cells)
    step = max_cells / 2
    cuts = np.unique(np.searchsorted(cum, np.arange(step, cum[-1] - step / 2, step)))
    cuts = cuts[(cuts > 0) & (cuts < n - 1) & (cells[np.minimum(cuts, n - 1)] > 0)]
    first = [(int(r), int((lo[r] + hi[r] - 1) // 2)) for r in cuts]
    p1 = _pieces(X, Y, XO, YO, lo, hi, first, onset_weight=onset_weight, skip=skip)
    bounds = [int(p1[0, 0]), *[r for r, _ in first], int(p1[-1, 0])]
    second: list[tuple[int, int]] = []
    for r0, r1 in zip(bounds[:-1], bounds[1:]):
        r = (r0 + r1) // 2
        js = p1[p1[:, 0] == r, 1]
        if (
            len(js)
            and r0 < r < r1
            and (not second or (r > second[-1][0] and int(np.median(js)) > second[-1][1]))
        ):
            second.append((r, int(np.median(js))))
    path = _pieces(X, Y, XO, YO, lo, hi, second, onset_weight=onset_weight, skip=skip)
    return path + np.array([r_first, 0])
