"""Retrieval evaluation of a space: does a ranking put relevant recordings first?

Task: every item (a recording, or a window) queries the others; an item is relevant to a query when it shares the
query's value of a metadata column (``relevant_by``: e.g. ``piece_id`` or ``performer_code``). Items of the query's
own recording are never candidates. ``within=COL`` restricts the candidates to the query's value of COL (e.g. other
performances of the same piece), ``across=COL`` to other values (e.g. the same pianist on other pieces).

Metrics (per query, then averaged over queries with at least one relevant candidate): MAP, MRR, MR1 (mean rank of
the first relevant item, 1-based), P@k. Chance levels are the exact expectations under a uniformly random ranking
of the same candidates (N candidates, R relevant):

- E[AP] = (H_N + (N − H_N)·(R − 1)/(N − 1)) / N, with H_N the N-th harmonic number
- E[RR] = Σ_k C(N − k, R − 1) / C(N, R) / k
- E[first rank] = (N + 1) / (R + 1)
- E[P@k] = min(k, N)·R / (N·k)

Similarity is cosine (the search default) or negative Euclidean distance. Mode ``interpretation`` ranks the residuals
of :func:`embedstore.interpretation.residualize` (the per-piece mean removed), like ``search --mode interpretation``.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import comb
from typing import TYPE_CHECKING, Literal

import numpy as np

from embedstore.errors import ConfigError, check_choice
from embedstore.evaluation.retrieval import evaluate_rankings, rankings_from_similarity
from embedstore.interpretation import residualize
from embedstore.projections.targets import missing_labels

if TYPE_CHECKING:  # pragma: no cover
    from embedstore.store import Space, Store

MODES = ("raw", "interpretation")
METRICS = ("cosine", "euclidean")


def chance_levels(n_candidates: int, n_relevant: int, *, ks: Sequence[int] = (1, 5, 10)) -> dict:
    """Expected metrics of a uniformly random ranking of N candidates of which R are relevant."""
    N, R = int(n_candidates), int(n_relevant)
    if R <= 0 or N <= 0:
        return {
            "map": float("nan"),
            "mrr": float("nan"),
            "mr1": float("nan"),
            **{f"p@{k}": float("nan") for k in ks},
        }
    H = float(np.sum(1.0 / np.arange(1, N + 1)))
    e_ap = 1.0 if N == 1 else (H + (N - H) * (R - 1) / (N - 1)) / N
    total = comb(N, R)
    e_rr = float(sum(comb(N - k, R - 1) / total / k for k in range(1, N - R + 2)))
    return {
        "map": float(e_ap),
        "mrr": e_rr,
        "mr1": (N + 1) / (R + 1),
        **{f"p@{k}": min(k, N) * R / (N * k) for k in ks},
    }


def evaluate_retrieval(
    vectors: np.ndarray,
    labels: Sequence | np.ndarray,
    *,
    within: Sequence | np.ndarray | None = None,
    across: Sequence | np.ndarray | None = None,
    recording_ids: Sequence | np.ndarray | None = None,
    metric: Literal["cosine", "euclidean"] = "cosine",
    ks: Sequence[int] = (1, 5, 10),
) -> dict:
    """Rank every item against the others and score the rankings.

    Parameters
    ----------
    vectors : (n, d) float
    labels : (n,) relevance labels (items with a missing label are dropped from the collection)
    within : (n,) optional: candidates share the query's value
    across : (n,) optional: candidates have another value than the query
    recording_ids : (n,) optional: items of the query's recording are excluded (default: each item is its own)
    metric : ``"cosine"`` or ``"euclidean"``
    ks : cut-offs of P@k

    Returns
    -------
    dict with ``per_query`` (list of dicts: index, n_candidates, n_relevant, ap, rr, first_rank, p@k and their
    chance values), ``mean`` (map, mrr, mr1, p@k, n_queries), ``chance`` (same keys, averaged over the same
    queries) and ``n_items``, ``n_dropped`` (missing labels).
    """
    check_choice("metric", metric, METRICS)
    X = np.asarray(vectors, dtype=np.float64)
    labels = np.asarray(labels, dtype=object)
    n0 = len(X)
    if X.ndim != 2 or len(labels) != n0:
        raise ConfigError(f"vectors (n, d) and labels (n,) must agree; got {X.shape} and {labels.shape}")
    keep = np.flatnonzero(~missing_labels(labels))
    X, lab = X[keep], np.array([str(v) for v in labels[keep]], dtype=object)
    n = len(X)
    if n < 2:
        raise ConfigError(f"need at least 2 labelled items to evaluate retrieval, got {n}")
    rid = np.arange(n).astype(str) if recording_ids is None else np.asarray(recording_ids).astype(str)[keep]
    if metric == "cosine":
        Xn = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
        sim = Xn @ Xn.T
    else:
        sq = (X * X).sum(1)
        sim = -np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * X @ X.T, 0.0))
    order = rankings_from_similarity(sim, exclude_self=True)
    mask = rid[:, None] != rid[None, :]
    if within is not None:
        w = np.asarray(within).astype(str)[keep]
        mask &= w[:, None] == w[None, :]
    if across is not None:
        a = np.asarray(across).astype(str)[keep]
        mask &= a[:, None] != a[None, :]
    res = evaluate_rankings(order, lab, candidates_mask=mask, ks=ks)
    per = res["per_query"]
    chance_rows = []
    for row in per:
        row["index"] = int(keep[row["query"]])
        c = chance_levels(row["n_candidates"], row["n_relevant"], ks=ks)
        for key, val in c.items():
            row[f"chance_{key}"] = val
        if row["n_relevant"] > 0:
            chance_rows.append(c)
        row.pop("chance_ap", None)
    chance = {
        key: float(np.mean([c[key] for c in chance_rows])) if chance_rows else float("nan")
        for key in ("map", "mrr", "mr1", *[f"p@{k}" for k in ks])
    }
    return {
        "per_query": per,
        "mean": res["mean"],
        "chance": chance,
        "n_items": int(n),
        "n_dropped": int(n0 - n),
    }


def evaluate_store_retrieval(
    store: Store,
    *,
    relevant_by: str,
    within: str | None = None,
    across: str | None = None,
    mode: Literal["raw", "interpretation"] = "raw",
    space: Space | str | None = None,
    encoder: str | None = None,
    layer: int | str | None = None,
    level: str = "recording",
    pooling: str = "mean",
    where: str | None = None,
    piece_column: str = "piece_id",
    method: str = "piece-mean",
    metric: str = "cosine",
    ks: Sequence[int] = (1, 5, 10),
) -> dict:
    """:func:`evaluate_retrieval` on a stored space, labels from the recordings' metadata.

    Parameters
    ----------
    store : Store
    relevant_by : metadata column; items sharing the query's value are relevant
    within, across : optional metadata columns restricting the candidates (see the module docstring)
    mode : ``"raw"`` or ``"interpretation"`` (rank residuals after removing the per-``piece_column`` mean)
    space : a Space or space id; else chosen with ``encoder``/``layer``/``level``/``pooling``
    where : recordings filter (LanceDB SQL)

    Returns
    -------
    dict: the result of :func:`evaluate_retrieval` plus ``space``, ``mode``, ``relevant_by``, ``within``,
    ``across`` and, per query, ``recording_id``, ``file_name`` and ``label``.
    """
    check_choice("mode", mode, MODES)
    if isinstance(space, str):
        sp = store.space(space)
    elif space is not None:
        sp = space
    else:
        sp = store.find_space(encoder=encoder, layer=layer, level=level, pooling=pooling)
    es = store.load(sp, where=where)
    meta = es.metadata
    cols = [c for c in (relevant_by, within, across) if c] + (
        [piece_column] if mode == "interpretation" else []
    )
    for c in cols:
        if c not in meta.columns:
            show = [x for x in meta.columns if x not in ("path", "content_hash", "added_at", "channels")]
            raise ConfigError(f"no metadata column {c!r} in the store", hint="columns: " + ", ".join(show))
    X = es.vectors
    if mode == "interpretation":
        X, _ = residualize(X, meta[piece_column].to_numpy(object), method=method)
    res = evaluate_retrieval(
        X,
        meta[relevant_by].to_numpy(object),
        within=None if within is None else meta[within].to_numpy(object),
        across=None if across is None else meta[across].to_numpy(object),
        recording_ids=es.recording_ids,
        metric=metric,
        ks=ks,
    )
    for row in res["per_query"]:
        i = row["index"]
        row["recording_id"] = str(es.recording_ids[i])
        row["file_name"] = str(meta["file_name"].iloc[i]) if "file_name" in meta.columns else ""
        row["label"] = str(meta[relevant_by].iloc[i])
        if es.space.level == "window":
            row["window_index"] = int(es.window_index[i])
    res.update(
        space=sp.space_id,
        mode=mode,
        relevant_by=relevant_by,
        within=within,
        across=across,
        where=where,
        metric=metric,
        piece_column=piece_column if mode == "interpretation" else None,
        method=method if mode == "interpretation" else None,
    )
    return res


def _f(x: float | None, nd: int = 3) -> str:
    return "–" if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{x:.{nd}f}"


def retrieval_markdown(result: dict, *, per_query: bool = True, ks: Sequence[int] = (1, 5, 10)) -> str:
    """A Markdown report of :func:`evaluate_store_retrieval` (summary vs chance, then one row per query)."""
    m, c = result["mean"], result["chance"]
    lines = [f"# Retrieval: relevant = same `{result.get('relevant_by')}`", ""]
    desc = [f"space `{result.get('space')}`", f"mode `{result.get('mode')}`"]
    if result.get("within"):
        desc.append(f"candidates within the same `{result['within']}`")
    if result.get("across"):
        desc.append(f"candidates across `{result['across']}`")
    if result.get("where"):
        desc.append(f"where `{result['where']}`")
    lines += [
        "; ".join(desc) + f"; {m['n_queries']} queries with a relevant candidate, "
        f"{result['n_items']} items ({result.get('n_dropped', 0)} without a label dropped).",
        "",
    ]
    keys = ["map", "mrr", "mr1", *[f"p@{k}" for k in ks]]
    names = ["MAP", "MRR", "MR1", *[f"P@{k}" for k in ks]]
    lines += ["| | " + " | ".join(names) + " |", "|---|" + "---|" * len(keys)]
    lines.append("| ranking | " + " | ".join(_f(m[k], 2 if k == "mr1" else 3) for k in keys) + " |")
    lines.append("| chance | " + " | ".join(_f(c[k], 2 if k == "mr1" else 3) for k in keys) + " |")
    lines.append("")
    lines.append(
        "MR1 = mean rank of the first relevant item (lower is better); chance = expectation under a random "
        "ranking of the same candidates."
    )
    if per_query:
        lines += [
            "",
            "| query | label | candidates | relevant | AP | RR | first rank | "
            + " | ".join(f"P@{k}" for k in ks)
            + " |",
            "|---|---|---|---|---|---|---|" + "---|" * len(ks),
        ]
        for r in result["per_query"]:
            name = r.get("file_name") or r.get("recording_id") or str(r["index"])
            if "window_index" in r:
                name += f" #{r['window_index']}"
            lines.append(
                f"| {name} | {r.get('label', '')} | {r['n_candidates']} | {r['n_relevant']} | "
                f"{_f(r['ap'])} | {_f(r['rr'])} | {_f(r['first_rank'], 0)} | "
                + " | ".join(_f(r[f"p@{k}"], 2) for k in ks)
                + " |"
            )
    return "\n".join(lines) + "\n"
