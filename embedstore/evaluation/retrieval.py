"""Retrieval metrics (one query at a time, mir_eval style).

Task: a query returns a ranked list of items; ``relevant`` marks which items of the ranking are relevant.

Conventions
-----------
- ``relevance`` : bool array (n_ranked,), the relevance of each returned item in rank order (rank 1 first). The
  query itself must already be excluded.
- ``n_relevant`` : the number of relevant items in the whole collection (defaults to ``relevance.sum()``, i.e. the
  ranking covers the whole collection).
- Ranks are 1-based. Queries with no relevant item have undefined AP/RR and are skipped by the aggregates.
"""

from __future__ import annotations

import numpy as np


def average_precision(relevance, n_relevant: int | None = None) -> float:
    """Average precision of one ranking (the mean of precision at each relevant rank)."""
    r = np.asarray(relevance, dtype=bool)
    n_rel = int(r.sum()) if n_relevant is None else int(n_relevant)
    if n_rel == 0:
        return float("nan")
    hits = np.cumsum(r)
    ranks = np.flatnonzero(r) + 1
    return float((hits[r] / ranks).sum() / n_rel)


def reciprocal_rank(relevance) -> float:
    r = np.asarray(relevance, dtype=bool)
    if not r.any():
        return 0.0 if len(r) else float("nan")
    return 1.0 / (int(np.argmax(r)) + 1)


def first_relevant_rank(relevance) -> float:
    """Rank (1-based) of the first relevant item; NaN when none is returned."""
    r = np.asarray(relevance, dtype=bool)
    return float(np.argmax(r) + 1) if r.any() else float("nan")


def precision_at_k(relevance, k: int) -> float:
    r = np.asarray(relevance, dtype=bool)[:k]
    return float(r.sum() / k)


def chance_average_precision(n_candidates: int, n_relevant: int) -> float:
    """Expected AP of a uniformly random ranking of ``n_candidates`` items, ``n_relevant`` of them relevant.

    E[AP] = (H_N + (N - H_N) (R - 1) / (N - 1)) / N, with H_N the N-th harmonic number (exact; R/N understates it).
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
    sim : (n, n) similarity matrix

    Returns
    -------
    (n, n-1) int array when ``exclude_self`` else (n, n)
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
    order: np.ndarray, labels, *, candidates_mask: np.ndarray | None = None, ks=(1, 5, 10)
) -> dict:
    """Per-query and mean metrics for rankings over a labelled collection.

    Parameters
    ----------
    order : (n_queries, m) item indices in rank order (query excluded)
    labels : (n,) relevance label of each item; an item is relevant to query i when labels match
    candidates_mask : (n_queries, n) bool, optional: items a query may retrieve (e.g. ``--within piece``);
        items outside are dropped from the ranking before scoring.

    Returns
    -------
    dict with "per_query" (list of dicts) and "mean" (MAP, MRR, MR1, P@k) and "chance" (expected AP and P@k of a
    uniformly random ranking, see :func:`chance_average_precision`).
    """
    labels = np.asarray(labels).astype(str)
    per = []
    for q in range(order.shape[0]):
        items = order[q]
        if candidates_mask is not None:
            items = items[candidates_mask[q, items]]
        rel = labels[items] == labels[q]
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

    def m(key):
        v = np.array([r[key] for r in per], dtype=float)
        v = v[np.isfinite(v)]
        return float(v.mean()) if len(v) else float("nan")

    mean = {
        "map": m("ap"),
        "mrr": m("rr"),
        "mr1": m("first_rank"),
        **{f"p@{k}": m(f"p@{k}") for k in ks},
        "n_queries": int(sum(np.isfinite(r["ap"]) for r in per)),
    }
    chance = {"map": m("chance_ap"), **{f"p@{k}": m("chance_p") for k in ks}}
    return {"per_query": per, "mean": mean, "chance": chance}
