"""Retrieval metrics (one query at a time, mir_eval style).

Task: a query returns a ranked list of items; ``relevant`` marks which items of the ranking are relevant.

Conventions
-----------
- ``relevance`` : bool array (n_ranked,), the relevance of each returned item in rank order (rank 1 first). The
  query itself must already be excluded.
- ``n_relevant`` : the number of relevant items in the whole collection (defaults to ``relevance.sum()``, i.e. the
  ranking covers the whole collection).
- Ranks are 1-based. Queries with no relevant item have undefined AP/RR and are skipped by the aggregates.
- AP, RR and P@k are in [0, 1]. Every aggregate comes with the chance level of a uniformly random ranking
  (:func:`chance_average_precision`; P@k chance is the share of relevant candidates).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from embedstore.evaluation.util import finite_mean

__all__ = [
    "average_precision",
    "reciprocal_rank",
    "first_relevant_rank",
    "precision_at_k",
    "chance_average_precision",
    "rankings_from_similarity",
    "evaluate_rankings",
]


def average_precision(relevance: ArrayLike, n_relevant: int | None = None) -> float:
    """Average precision of one ranking: the mean of the precision at each relevant rank.

    Parameters
    ----------
    relevance : array-like of bool, shape (n_ranked,)
        Relevance of each returned item, in rank order.
    n_relevant : int, optional
        Relevant items in the whole collection (default: ``relevance.sum()``).

    Returns
    -------
    ap : float
        In [0, 1]; NaN when nothing is relevant.
    """
    r = np.asarray(relevance, dtype=bool)
    n_rel = int(r.sum()) if n_relevant is None else int(n_relevant)
    if n_rel == 0:
        return float("nan")
    hits = np.cumsum(r)
    ranks = np.flatnonzero(r) + 1
    return float((hits[r] / ranks).sum() / n_rel)


def reciprocal_rank(relevance: ArrayLike) -> float:
    """1 / the rank of the first relevant item.

    Parameters
    ----------
    relevance : array-like of bool, shape (n_ranked,)
        Relevance of each returned item, in rank order.

    Returns
    -------
    rr : float
        In [0, 1]: 0 when no returned item is relevant, NaN for an empty ranking.
    """
    r = np.asarray(relevance, dtype=bool)
    if not r.any():
        return 0.0 if len(r) else float("nan")
    return 1.0 / (int(np.argmax(r)) + 1)


def first_relevant_rank(relevance: ArrayLike) -> float:
    """Rank of the first relevant item.

    Parameters
    ----------
    relevance : array-like of bool, shape (n_ranked,)

    Returns
    -------
    rank : float
        1-based rank; NaN when no relevant item is returned.
    """
    r = np.asarray(relevance, dtype=bool)
    return float(np.argmax(r) + 1) if r.any() else float("nan")


def precision_at_k(relevance: ArrayLike, k: int) -> float:
    """Share of relevant items among the first ``k``.

    Parameters
    ----------
    relevance : array-like of bool, shape (n_ranked,)
    k : int
        Cut-off (> 0); a ranking shorter than ``k`` counts the missing items as not relevant.

    Returns
    -------
    precision : float
        In [0, 1].
    """
    r = np.asarray(relevance, dtype=bool)[:k]
    return float(r.sum() / k)


def chance_average_precision(n_candidates: int, n_relevant: int) -> float:
    """Expected AP of a uniformly random ranking of ``n_candidates`` items, ``n_relevant`` of them relevant.

    E[AP] = (H_N + (N - H_N) (R - 1) / (N - 1)) / N, with H_N the N-th harmonic number (exact; R/N understates it).

    Parameters
    ----------
    n_candidates : int
        N, the items ranked.
    n_relevant : int
        R, the relevant items among them.

    Returns
    -------
    float
        In (0, 1]; NaN when N or R is 0.
    """
    n, r = int(n_candidates), int(n_relevant)
    if n <= 0 or r <= 0:
        return float("nan")
    h = float(np.sum(1.0 / np.arange(1, n + 1)))
    if n == 1:
        return 1.0
    return (h + (n - h) * (r - 1) / (n - 1)) / n


def rankings_from_similarity(sim: np.ndarray, *, exclude_self: bool = True) -> np.ndarray:
    """Order of items for each query (rows) by decreasing similarity, the query itself removed.

    Parameters
    ----------
    sim : np.ndarray, shape (n, n)
        Similarity of query ``i`` (row) to item ``j`` (column); higher is more similar.
    exclude_self : bool
        Leave each query out of its own ranking.

    Returns
    -------
    np.ndarray, shape (n, n - 1) when ``exclude_self`` else (n, n), int
        Item indices in rank order (stable for ties).
    """
    sim = np.array(sim, dtype=np.float64, copy=True)
    n = sim.shape[0]
    if exclude_self:
        np.fill_diagonal(sim, -np.inf)
    order = np.argsort(-sim, axis=1, kind="stable")
    if exclude_self:
        order = order[:, : n - 1]
    return order


def evaluate_rankings(
    order: np.ndarray,
    labels: ArrayLike,
    *,
    candidates_mask: np.ndarray | None = None,
    ks: Sequence[int] = (1, 5, 10),
) -> dict[str, Any]:
    """Per-query and mean metrics for rankings over a labelled collection.

    Parameters
    ----------
    order : np.ndarray, shape (n_queries, m), int
        Item indices in rank order (query excluded); query ``i`` is item ``i``.
    labels : array-like, shape (n,)
        Relevance label of each item; an item is relevant to query ``i`` when its label equals item ``i``'s.
    candidates_mask : np.ndarray, shape (n_queries, n), bool, optional
        Items a query may retrieve (e.g. ``--within piece``); items outside are dropped from the ranking before
        scoring.
    ks : sequence of int
        Cut-offs of P@k.

    Returns
    -------
    dict
        ``per_query`` (list of dicts: ``query``, ``n_candidates``, ``n_relevant``, ``ap``, ``rr``, ``first_rank``,
        ``chance_ap``, ``chance_p``, ``p@k``), ``mean`` (``map``, ``mrr``, ``mr1`` (mean first relevant rank),
        ``p@k``, ``n_queries``) and ``chance`` (expected ``map`` and ``p@k`` of a uniformly random ranking, see
        :func:`chance_average_precision`).
    """
    lab = np.asarray(labels).astype(str)
    per: list[dict[str, Any]] = []
    for q in range(order.shape[0]):
        items = order[q]
        if candidates_mask is not None:
            items = items[candidates_mask[q, items]]
        rel = lab[items] == lab[q]
        n_rel = int(rel.sum())
        row = {
            "query": int(q),
            "n_candidates": int(len(items)),
            "n_relevant": n_rel,
            "ap": average_precision(rel) if n_rel else float("nan"),
            "rr": reciprocal_rank(rel) if n_rel else float("nan"),
            "first_rank": first_relevant_rank(rel) if n_rel else float("nan"),
            "chance_ap": chance_average_precision(len(items), n_rel) if len(items) else float("nan"),
            "chance_p": (n_rel / len(items)) if len(items) else float("nan"),
        }
        for k in ks:
            row[f"p@{k}"] = precision_at_k(rel, k) if n_rel else float("nan")
        per.append(row)

    def m(key: str) -> float:
        return finite_mean([r[key] for r in per])

    mean = {
        "map": m("ap"),
        "mrr": m("rr"),
        "mr1": m("first_rank"),
        **{f"p@{k}": m(f"p@{k}") for k in ks},
        "n_queries": int(sum(np.isfinite(r["ap"]) for r in per)),
    }
    chance = {"map": m("chance_ap"), **{f"p@{k}": m("chance_p") for k in ks}}
    return {"per_query": per, "mean": mean, "chance": chance}
