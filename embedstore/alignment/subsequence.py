"""Subsequence DTW: where in a long recording does a short passage occur?

Task
    Given the feature sequence of a query passage ``X`` (``N`` frames) and of a longer recording ``Y`` (``M``
    frames), find the stretch ``Y[a:b]`` whose DTW distance to all of ``X`` is smallest (Mueller, FMP, Sec.
    7.2.3, audio matching). The match gives frame-accurate start and end times, a cost and a confidence.

Method
    Local cost: cosine distance of unit-norm chroma rows (CENS). Subsequence DTW (librosa's ``dtw(subseq=True)``,
    computed row by row in numpy: :func:`subsequence_dtw`)
    and the step sizes (1, 1), (2, 1), (1, 2) with unit weights (the query's tempo may be between half and twice
    the match's, FMP's audio-matching setting). The matching function ``delta(b) = D[N-1, b] / N`` is the
    accumulated cost of the best path ending at ``Y`` frame ``b``, per query frame. Matches are the minima of
    ``delta``, skipping candidates that mostly repeat a match already found.

Cost, confidence and margin
    ``cost = delta(b*)`` (mean local cost per query frame along the path); ``reference`` is the median of the
    finite values of ``delta`` (what a match at an arbitrary position costs) and ``confidence =
    clip(1 - cost / reference, 0, 1)``. Confidence says how well the passage matches, not whether it is the only
    place that matches: ``margin`` compares the match with the best position that does not overlap it, so a
    passage that the music repeats gets a margin near 0.

Times are seconds: frame ``k`` is at ``k / frame_rate``; a match's ``end_s`` is the end of its last frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from embedstore.errors import ConfigError

__all__ = ["STEP_SIZES", "Match", "matching_function", "find_matches"]

#: Step sizes (query frames, recording frames) of FMP's audio matching.
STEP_SIZES = np.array([[1, 1], [2, 1], [1, 2]])
#: librosa's default steps, which it puts before custom ones with infinite weight (never taken).
_DEFAULT_STEPS = np.array([[1, 1], [0, 1], [1, 0]])
#: What the entries of the step matrix index: librosa's defaults, then :data:`STEP_SIZES`.
TRACE_STEPS = np.concatenate([_DEFAULT_STEPS, STEP_SIZES])


@dataclass(frozen=True)
class Match:
    """One occurrence of the query in the recording.

    Attributes
    ----------
    start_s, end_s : float
        The matching stretch of the recording, seconds.
    cost : float
        Mean local cost per query frame along the path.
    reference : float
        Median of the matching function (the cost of an arbitrary position).
    confidence : float
        ``clip(1 - cost / reference, 0, 1)``.
    path : np.ndarray, shape (L, 2), int
        ``(query frame, recording frame)`` pairs of the match.
    margin : float
        ``(alternative - cost) / reference``: how much better the match is than the best position of the
        recording that does not overlap it (``alternative``, ends at least a query length away). Near 0 (or
        negative) when the passage occurs more than once, e.g. a repeat; NaN when there is no other position.
    """

    start_s: float
    end_s: float
    cost: float
    reference: float
    confidence: float
    path: np.ndarray
    margin: float = float("nan")

    def as_dict(self) -> dict:
        """JSON-ready fields (without the path)."""
        return {
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "cost": round(self.cost, 5),
            "confidence": round(self.confidence, 4),
            "margin": None if not np.isfinite(self.margin) else round(self.margin, 4),
        }


def _check(X: ArrayLike, Y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if X.ndim != 2 or Y.ndim != 2 or X.shape[1] != Y.shape[1]:
        raise ConfigError(f"feature sequences must be (n, d) with the same d, got {X.shape} and {Y.shape}")
    if len(X) < 2:
        raise ConfigError("the query passage is shorter than two frames", hint="use a longer passage")
    return X, Y


def matching_function(X: ArrayLike, Y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """The matching function and the step matrix of subsequence DTW.

    Parameters
    ----------
    X : np.ndarray, shape (N, d)
        Query, unit-norm rows.
    Y : np.ndarray, shape (M, d)
        Recording, unit-norm rows.

    Returns
    -------
    delta : np.ndarray, shape (M,)
        ``D[N-1, b] / N``; ``inf`` where no path ends (the first frames, under the step constraint).
    steps : np.ndarray, shape (N, M), int
        The step matrix, for :func:`backtrack`.
    """
    X, Y = _check(X, Y)
    D, steps = subsequence_dtw(1.0 - X @ Y.T)
    return D[-1] / len(X), steps


def subsequence_dtw(C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Accumulated cost and step matrices of subsequence DTW with the steps :data:`STEP_SIZES`, in numpy.

    The same numbers as ``librosa.sequence.dtw(C=C, subseq=True, step_sizes_sigma=STEP_SIZES, backtrack=False,
    return_steps=True)`` (ties go to the first step), without
    librosa's numba compilation, which costs seconds in every new process (a CLI call). Every step advances at
    least one row, so each row is computed at once from the two rows above it.

    Parameters
    ----------
    C : np.ndarray, shape (N, M)
        Local cost, finite.

    Returns
    -------
    D : np.ndarray, shape (N, M) float64
        Accumulated cost (``inf`` where no path reaches).
    steps : np.ndarray, shape (N, M) int32
        Index into :data:`TRACE_STEPS` of the step taken into each cell (0 where none), as librosa numbers them
        (its three default steps, never taken here, come first).
    """
    C = np.atleast_2d(np.asarray(C, dtype=np.float64))
    n, m = C.shape
    D = np.full((n + 2, m + 2), np.inf)
    D[2, 2:] = C[0]
    steps = np.zeros((n + 2, m + 2), dtype=np.int32)
    cand = np.empty((3, m))
    for i in range(3, n + 2):
        np.add(D[i - 1, 1:-1], C[i - 2], out=cand[0])  # step (1, 1)
        np.add(D[i - 2, 1:-1], C[i - 2], out=cand[1])  # step (2, 1)
        np.add(D[i - 1, :-2], C[i - 2], out=cand[2])  # step (1, 2)
        idx = np.argmin(cand, axis=0)
        best = cand[idx, np.arange(m)]
        reach = best < np.inf
        D[i, 2:] = np.where(reach, best, np.inf)
        steps[i, 2:] = np.where(reach, idx + len(_DEFAULT_STEPS), 0)
    return D[2:, 2:], steps[2:, 2:]


def backtrack(steps: np.ndarray, end: int) -> np.ndarray:
    """The warping path of subsequence DTW ending in the last row at column ``end``, last cell first.

    The same path as ``librosa.sequence.dtw_backtracking(steps, step_sizes_sigma=STEP_SIZES, subseq=True,
    start=end)``.

    Returns
    -------
    np.ndarray, shape (L, 2) int64
        (row, column) pairs from the end back to the first row.
    """
    i, j = steps.shape[0] - 1, int(end)
    path = [(i, j)]
    while i > 0:
        di, dj = TRACE_STEPS[int(steps[i, j])]
        i, j = i - int(di), j - int(dj)
        if min(i, j) < 0:
            break
        path.append((i, j))
    return np.asarray(path, dtype=np.int64)


def find_matches(
    X: ArrayLike,
    Y: ArrayLike,
    *,
    frame_rate: float,
    n_matches: int = 1,
    offset_s: float = 0.0,
    exclusion: float = 0.5,
) -> list[Match]:
    """The best ``n_matches`` non-overlapping occurrences of a query in a recording.

    Parameters
    ----------
    X : np.ndarray, shape (N, d)
        Query features, unit-norm rows.
    Y : np.ndarray, shape (M, d)
        Recording features at the same frame rate.
    frame_rate : float
        Frames per second of both.
    n_matches : int
        How many matches to return (fewer when the recording has no more positions).
    offset_s : float
        Added to the returned times (when ``Y`` is a slice starting at ``offset_s`` of the recording).
    exclusion : float
        After a candidate end ``b``, ends within ``exclusion * N`` frames of it are not tried again; a candidate
        whose stretch lies mostly (> 50 %) inside a match already returned is skipped.

    Returns
    -------
    list of Match, best first
    """
    X, Y = _check(X, Y)
    if len(Y) < 2:
        return []
    delta, steps = matching_function(X, Y)
    finite = delta[np.isfinite(delta)]
    if not len(finite):
        return []
    ref = float(np.median(finite))
    d = delta.copy()
    out: list[Match] = []
    spans: list[tuple[int, int]] = []
    w = int(np.ceil(exclusion * len(X)))
    while len(out) < max(1, int(n_matches)):
        b = int(np.argmin(d))
        if not np.isfinite(d[b]):
            break
        path = backtrack(steps, b)[::-1]
        a = int(path[0, 1])
        d[max(0, b - w) : b + w + 1] = np.inf
        if any(min(b, q) - max(a, p) + 1 > 0.5 * (b - a + 1) for p, q in spans):
            continue  # mostly inside a match already returned
        spans.append((a, b))
        d[a : b + 1] = np.inf
        cost = float(delta[b])
        conf = float(np.clip(1.0 - cost / ref, 0.0, 1.0)) if ref > 0 else 0.0
        alt = delta.copy()
        alt[max(0, a - len(X)) : b + len(X) + 1] = np.inf
        alt_cost = float(alt.min()) if len(alt) else float("inf")
        margin = (alt_cost - cost) / ref if np.isfinite(alt_cost) and ref > 0 else float("nan")
        out.append(
            Match(
                start_s=offset_s + a / frame_rate,
                end_s=offset_s + (b + 1) / frame_rate,
                cost=cost,
                reference=ref,
                confidence=conf,
                path=path,
                margin=margin,
            )
        )
    return out
