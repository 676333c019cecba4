"""Remove what the piece explains, so that neighbours share an interpretation rather than the notes.

Raw encoder spaces are dominated by the piece: the nearest neighbours of a performance are mostly other
performances of the same piece. :func:`residualize` subtracts each piece's centroid (the mean vector of its
recordings, or of its windows for window-level vectors); what remains is how a performance departs from the
average rendition of its piece (tempo, dynamics, articulation, pedalling... as far as the encoder sees them).
Residuals of different pieces become comparable, e.g. to find the same pianist's other recordings.

Methods
-------
``piece-mean``
    residual = x − centroid(piece)
``piece-zscore``
    residual = (x − centroid(piece)) / s, where s is the pooled within-piece standard deviation of each dimension
    (so that no dimension dominates the cosine only because it varies most).

Pieces with fewer than ``min_count`` items fall back to the global mean (subtracting an item's own mean would
leave a zero vector). Missing pieces (None, NaN, "", "nan", "None") are inferred from the nearest centroid.

How search uses it (``embedstore search --mode interpretation``)
----------------------------------------------------------------
::

    es = store.load(space)                                   # candidates (window or recording level)
    pieces = es.metadata["piece_id"].astype(str).to_numpy()
    resid, stats = residualize(es.vectors, pieces)           # (n, d), PieceStats
    q_resid, q_pieces = stats.apply(query_vectors, query_piece)   # query_piece None for an outside file
    sims = normalise(resid) @ normalise(q_resid).T           # cosine on residuals
    # default: candidates = other recordings with piece == q_pieces[0]; --any-piece: all other recordings

A query that is a stored recording can use its own row of ``resid`` (identical to ``stats.apply`` with its piece).
For a passage query of several windows, pass the mean window vector to :meth:`PieceStats.infer_piece` (or
:meth:`PieceStats.apply`) so that all its windows use the same piece.

Vectors are (n, d) float arrays; pieces are (n,) labels. Outputs are float32.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from embedstore.errors import ConfigError, check_choice

METHODS = ("piece-mean", "piece-zscore")


def _is_missing(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float | np.floating) and not np.isfinite(v):
        return True
    return str(v).strip() in ("", "nan", "None", "NaN", "<NA>")


@dataclass
class PieceStats:
    """Per-piece centroids learnt by :func:`residualize`; apply them to queries with :meth:`apply`.

    Attributes
    ----------
    pieces : (p,) str, the known pieces
    centroids : (p, d) float64, mean vector of each piece
    counts : (p,) int, items per piece
    global_mean : (d,) float64
    scale : (d,) float64, divisor of the residuals (ones for ``piece-mean``)
    method : str
    min_count : int
    """

    pieces: np.ndarray
    centroids: np.ndarray
    counts: np.ndarray
    global_mean: np.ndarray
    scale: np.ndarray
    method: str = "piece-mean"
    min_count: int = 2

    def infer_piece(self, query_vectors: ArrayLike) -> np.ndarray:
        """Nearest piece centroid (Euclidean) of each query vector.

        Parameters
        ----------
        query_vectors : (n, d) or (d,)

        Returns
        -------
        (n,) str
        """
        q = np.atleast_2d(np.asarray(query_vectors, dtype=np.float64))
        if q.shape[1] != self.centroids.shape[1]:
            raise ConfigError(
                f"query vectors have dim {q.shape[1]}, the pieces' centroids {self.centroids.shape[1]}"
            )
        if len(self.pieces) == 0:
            return np.array([""] * len(q), dtype=object)
        d2 = (q * q).sum(1)[:, None] - 2 * q @ self.centroids.T + (self.centroids**2).sum(1)[None, :]
        return self.pieces[np.argmin(d2, axis=1)].astype(object)

    def _offsets(self, pieces: np.ndarray) -> np.ndarray:
        index = {p: i for i, p in enumerate(self.pieces)}
        out = np.empty((len(pieces), len(self.global_mean)))
        for r, p in enumerate(pieces):
            i = index.get(p)
            out[r] = (
                self.centroids[i] if i is not None and self.counts[i] >= self.min_count else self.global_mean
            )
        return out

    def apply(self, query_vectors: ArrayLike, piece: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Residuals of query vectors.

        Parameters
        ----------
        query_vectors : (n, d) or (d,)
        piece : None, one piece label for all rows, or (n,) labels. Missing or unknown pieces are inferred from
            the nearest piece centroid.

        Returns
        -------
        residuals : (n, d) float32
        pieces : (n,) object, the piece whose centroid was removed from each row
        """
        q = np.atleast_2d(np.asarray(query_vectors, dtype=np.float64))
        n = len(q)
        if piece is None or np.isscalar(piece) or isinstance(piece, str):
            given = np.array([piece] * n, dtype=object)
        else:
            given = np.asarray(piece, dtype=object)
            if len(given) != n:
                raise ConfigError(f"got {len(given)} pieces for {n} query vectors")
        known = set(self.pieces.tolist())
        used = np.array(
            [None if _is_missing(p) or str(p) not in known else str(p) for p in given], dtype=object
        )
        need = np.flatnonzero([u is None for u in used])
        if len(need):
            used[need] = self.infer_piece(q[need])
        res = (q - self._offsets(used)) / self.scale
        return res.astype(np.float32), used


def residualize(
    vectors: ArrayLike,
    pieces: ArrayLike,
    *,
    method: Literal["piece-mean", "piece-zscore"] = "piece-mean",
    min_count: int = 2,
) -> tuple[np.ndarray, PieceStats]:
    """Remove each piece's centroid from its vectors.

    Parameters
    ----------
    vectors : (n, d) float
    pieces : (n,) piece label of each row (missing labels are inferred from the nearest centroid)
    method : ``"piece-mean"`` or ``"piece-zscore"`` (see the module docstring)
    min_count : pieces with fewer rows use the global mean instead of their own

    Returns
    -------
    residuals : (n, d) float32
    stats : PieceStats, to residualize queries the same way
    """
    check_choice("method", method, METHODS)
    X = np.asarray(vectors, dtype=np.float64)
    if X.ndim != 2:
        raise ConfigError(f"vectors must be (n, d), got shape {X.shape}")
    p = np.asarray(pieces, dtype=object)
    if len(p) != len(X):
        raise ConfigError(f"got {len(p)} pieces for {len(X)} vectors")
    if len(X) == 0:
        raise ConfigError("no vectors to residualize")
    miss = np.array([_is_missing(v) for v in p], dtype=bool)
    labels = np.array([str(v) for v in p], dtype=object)
    uniq = sorted(set(labels[~miss].tolist()))
    gmean = X.mean(axis=0)
    cents = np.array([X[labels == u].mean(axis=0) for u in uniq]).reshape(len(uniq), X.shape[1])
    counts = np.array([int((labels == u).sum()) for u in uniq], dtype=int)
    stats = PieceStats(
        pieces=np.array(uniq, dtype=object),
        centroids=cents,
        counts=counts,
        global_mean=gmean,
        scale=np.ones(X.shape[1]),
        method=method,
        min_count=int(min_count),
    )
    used = labels.copy()
    used[miss] = None
    if method == "piece-zscore":
        raw, _ = stats.apply(X, used)
        ok = np.array([u is not None and counts[uniq.index(u)] >= min_count for u in used], dtype=bool)
        r = raw[ok] if ok.any() else raw
        s = np.sqrt((r.astype(np.float64) ** 2).mean(axis=0))
        stats.scale = np.where(s > 1e-12 * max(1.0, float(s.max(initial=0.0))), s, 1.0)
    res, _ = stats.apply(X, used)
    return res, stats
