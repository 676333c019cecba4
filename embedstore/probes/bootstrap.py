"""Fast exact cluster bootstrap for the probe metrics.

:func:`embedstore.evaluation.stats.bootstrap_ci` recomputes a metric on every resample. With many layers, targets
and items that dominates a probe run, so this module draws *the same resamples* (same generator calls, so the
same intervals) as multiplicity weights ``W`` of shape ``(n_boot, n)`` - how often each item appears in each
resample - and evaluates the metrics on all resamples at once from sorted cumulative sums:

- accuracy, ±k accuracy, MAE, macro-F1: weighted counts;
- R², Pearson: weighted moments;
- Spearman and AUROC: weighted mid-ranks (an item drawn ``w`` times forms a tie block of size ``w``), exact;
- average precision: for distinct scores, an item drawn ``w`` times contributes
  ``sum_{k=1..w} (P + k) / (R + k)`` (``P``/``R`` = positives/items ranked above it), summed in closed form with
  harmonic numbers. With tied scores the resampled order of tied items is arbitrary in both implementations.

Metrics without a weighted form fall back to :func:`~embedstore.evaluation.stats.bootstrap_ci`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable

import numpy as np

from embedstore.evaluation.ranking import as_signs
from embedstore.evaluation.stats import Estimate, bootstrap_ci

#: A metric on every resample: ``f(reference, estimated, W (n_boot, n)) -> (n_boot,)``.
WeightedMetric = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def resample_weights(
    n: int, *, groups: np.ndarray | None = None, n_boot: int = 1000, seed: int = 0
) -> np.ndarray:
    """Multiplicity of each item in each resample, (n_boot, n), drawn exactly as ``bootstrap_ci`` draws them."""
    rng = np.random.default_rng(seed)
    W = np.zeros((n_boot, n), dtype=np.float64)
    if groups is None:
        for b in range(n_boot):
            W[b] = np.bincount(rng.integers(0, n, n), minlength=n)
        return W
    g = np.asarray(groups).astype(str)
    uniq, inv = np.unique(g, return_inverse=True)
    G = len(uniq)
    for b in range(n_boot):
        counts = np.bincount(rng.integers(0, G, G), minlength=G)
        W[b] = counts[inv]
    return W


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1.0), np.nan)


def _wmean(W: np.ndarray, x: np.ndarray) -> np.ndarray:
    return _safe_div(W @ x, W.sum(axis=1))


def w_accuracy(ref: np.ndarray, est: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Accuracy on every resample: (n_boot,)."""
    return _wmean(W, (np.asarray(ref) == np.asarray(est)).astype(np.float64))


def w_within_k(k: float = 1) -> WeightedMetric:
    """Share of estimates within ``k`` of the reference (e.g. ±1 level) on every resample."""

    def f(ref: np.ndarray, est: np.ndarray, W: np.ndarray) -> np.ndarray:
        d = np.abs(np.asarray(ref, np.float64) - np.asarray(est, np.float64))
        return _wmean(W, (d <= k + 1e-9).astype(np.float64))

    return f


def w_mae(ref: np.ndarray, est: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Mean absolute error on every resample: (n_boot,)."""
    r, e = np.asarray(ref, np.float64), np.asarray(est, np.float64)
    return _wmean(W, np.abs(r - e))


def w_macro_f1(ref: np.ndarray, est: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Macro-F1 over the reference's classes present in each resample: (n_boot,)."""
    r, e = np.asarray(ref), np.asarray(est)
    classes = np.unique(r)
    f1 = np.zeros((W.shape[0], len(classes)))
    present = np.zeros((W.shape[0], len(classes)), dtype=bool)
    for j, c in enumerate(classes):
        rc, ec = (r == c), (e == c)
        tp = W @ (rc & ec).astype(np.float64)
        fp = W @ (~rc & ec).astype(np.float64)
        fn = W @ (rc & ~ec).astype(np.float64)
        den = 2 * tp + fp + fn
        f1[:, j] = np.where(den > 0, 2 * tp / np.where(den > 0, den, 1), 0.0)
        present[:, j] = (W @ rc.astype(np.float64)) > 0
    return _safe_div((f1 * present).sum(axis=1), present.sum(axis=1))


def _moments(W: np.ndarray, r: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, ...]:
    S = W.sum(axis=1)
    mr, me = _safe_div(W @ r, S), _safe_div(W @ e, S)
    vr = W @ (r * r) - S * mr**2
    ve = W @ (e * e) - S * me**2
    cov = W @ (r * e) - S * mr * me
    return S, mr, vr, ve, cov


def w_r2(ref: np.ndarray, est: np.ndarray, W: np.ndarray) -> np.ndarray:
    """R² on every resample (NaN where the reference is constant): (n_boot,)."""
    r, e = np.asarray(ref, np.float64), np.asarray(est, np.float64)
    S = W.sum(axis=1)
    mr = _safe_div(W @ r, S)
    ss_tot = W @ (r * r) - S * mr**2
    ss_res = W @ ((r - e) ** 2)
    out = 1.0 - _safe_div(ss_res, ss_tot)
    return np.where(ss_tot > 1e-12 * np.maximum(W @ (r * r), 1e-300), out, np.nan)


def w_pearson(ref: np.ndarray, est: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Pearson correlation on every resample (NaN where one side is constant): (n_boot,)."""
    r, e = np.asarray(ref, np.float64), np.asarray(est, np.float64)
    _, _, vr, ve, cov = _moments(W, r, e)
    den = np.sqrt(np.clip(vr, 0, None) * np.clip(ve, 0, None))
    return np.where(den > 1e-12 * (np.abs(cov) + 1e-300), _safe_div(cov, den), np.nan)


def weighted_midranks(x: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Mid-ranks (1-based) of each item in each resample, (B, n): an item drawn ``w`` times is a tie block."""
    x = np.asarray(x, np.float64)
    order = np.argsort(x, kind="stable")
    xs = x[order]
    Ws = W[:, order]
    c = np.cumsum(Ws, axis=1)
    # tie blocks of equal values in the original data
    starts = np.r_[0, np.flatnonzero(np.diff(xs) != 0) + 1]
    ends = np.r_[starts[1:], len(xs)]
    before = np.where(starts > 0, c[:, np.maximum(starts - 1, 0)], 0.0)  # weight strictly below each block
    block_w = c[:, ends - 1] - before
    block_of = np.repeat(np.arange(len(starts)), ends - starts)
    mid_sorted = before[:, block_of] + (block_w[:, block_of] + 1.0) / 2.0
    out = np.empty_like(mid_sorted)
    out[:, order] = mid_sorted
    return out


_RANK_MEMO: dict = {}


def _memo_ranks(x: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Weighted mid-ranks of ``x``, remembered for the last (x, W) pair (the reference across models)."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    key = (id(W), W.shape, hashlib.blake2b(x.tobytes(), digest_size=16).digest())
    if key not in _RANK_MEMO:
        _RANK_MEMO.clear()
        _RANK_MEMO[key] = weighted_midranks(x, W)
    return _RANK_MEMO[key]


def w_spearman(ref: np.ndarray, est: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Spearman correlation on every resample (weighted mid-ranks, exact): (n_boot,)."""
    rr = _memo_ranks(ref, W)
    re = weighted_midranks(est, W)
    S = W.sum(axis=1)
    Wr, We = W * rr, W * re
    mr = _safe_div(Wr.sum(axis=1), S)
    me = _safe_div(We.sum(axis=1), S)
    vr = np.einsum("bn,bn->b", Wr, rr) - S * mr**2
    ve = np.einsum("bn,bn->b", We, re) - S * me**2
    cov = np.einsum("bn,bn->b", Wr, re) - S * mr * me
    den = np.sqrt(np.clip(vr, 0, None) * np.clip(ve, 0, None))
    return np.where(den > 1e-9, _safe_div(cov, den), np.nan)


def _w_auroc_1(pos: np.ndarray, score: np.ndarray, W: np.ndarray) -> np.ndarray:
    ranks = weighted_midranks(score, W)
    wp = W @ pos.astype(np.float64)
    wn = W.sum(axis=1) - wp
    s = (W * ranks) @ pos.astype(np.float64)
    return np.where((wp > 0) & (wn > 0), _safe_div(s - wp * (wp + 1) / 2, wp * wn), np.nan)


def _harmonic_span(R: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``sum_{k=1..w} 1 / (R + k)`` element-wise (w: small non-negative integers, the resample counts)."""
    out = np.zeros_like(R, dtype=np.float64)
    wmax = int(w.max()) if w.size else 0
    if wmax > 64:  # large counts: closed form with digamma
        from scipy.special import digamma  # scipy.special costs 0.3 s to import: only here

        return digamma(R + w + 1.0) - digamma(R + 1.0)
    for k in range(1, wmax + 1):
        out += np.where(w >= k, 1.0 / (R + k), 0.0)
    return out


def _w_ap_1(pos: np.ndarray, score: np.ndarray, W: np.ndarray) -> np.ndarray:
    order = np.argsort(-np.asarray(score, np.float64), kind="stable")
    p = pos[order].astype(np.float64)
    Ws = W[:, order]
    cw = np.cumsum(Ws, axis=1)
    cp = np.cumsum(Ws * p, axis=1)
    R = cw - Ws  # items ranked above
    P = cp - Ws * p  # positives ranked above
    # sum_{k=1..w} (P + k) / (R + k) = w - (R - P) * (H(R + w) - H(R))
    contrib = Ws - (R - P) * _harmonic_span(R, Ws)
    wp = cp[:, -1]
    return np.where(wp > 0, _safe_div((contrib * p).sum(axis=1), wp), np.nan)


def _w_multilabel(one: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]) -> WeightedMetric:
    def f(ref: np.ndarray, est: np.ndarray, W: np.ndarray) -> np.ndarray:
        r = np.asarray(ref).astype(bool)
        e = np.asarray(est, np.float64)
        if r.ndim == 1:
            r, e = r[:, None], e[:, None]
        vals = np.stack([one(r[:, j], e[:, j], W) for j in range(r.shape[1])], axis=1)
        ok = np.isfinite(vals)
        return _safe_div(np.where(ok, vals, 0).sum(axis=1), ok.sum(axis=1))

    return f


w_map = _w_multilabel(_w_ap_1)
w_macro_auroc = _w_multilabel(_w_auroc_1)


def w_chance_map(ref: np.ndarray, est: np.ndarray, W: np.ndarray) -> np.ndarray:
    """mAP of constant scores (the mean prevalence of classes with positives) on every resample."""
    r = np.asarray(ref).astype(np.float64)
    wp = W @ r  # (B, k)
    S = W.sum(axis=1, keepdims=True)
    prev = _safe_div(wp, S)
    ok = wp > 0
    return _safe_div(np.where(ok, prev, 0).sum(axis=1), ok.sum(axis=1))


def w_pairwise_accuracy(ref: np.ndarray, est: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Pairwise accuracy of preference scores on every resample (ties count 0.5): (n_boot,)."""
    r = as_signs(ref)
    s = np.sign(np.asarray(est, np.float64))
    hit = np.where(s == 0, 0.5, (s == r).astype(np.float64))
    return _wmean(W, hit)


def column(f: WeightedMetric, j: int) -> WeightedMetric:
    """A weighted metric on column ``j`` of 2-d reference/estimate arrays."""

    def g(ref: np.ndarray, est: np.ndarray, W: np.ndarray) -> np.ndarray:
        return f(np.asarray(ref)[:, j], np.asarray(est)[:, j], W)

    return g


def mean_of_columns(f: WeightedMetric) -> WeightedMetric:
    """The mean over columns (ignoring undefined ones) of a weighted metric.

    The returned function has a ``columns_of`` attribute (``f``) so a caller that already evaluated ``f`` on
    every column can average those resample values instead of recomputing them (:func:`mean_resamples`).
    """

    def g(ref: np.ndarray, est: np.ndarray, W: np.ndarray) -> np.ndarray:
        ref, est = np.asarray(ref), np.asarray(est)
        return mean_resamples([f(ref[:, j], est[:, j], W) for j in range(ref.shape[1])])

    g.columns_of = f
    return g


def mean_resamples(per_column: Iterable[np.ndarray]) -> np.ndarray:
    """Per-resample mean over columns of metric values, ignoring undefined (non-finite) ones."""
    vals = np.stack(list(per_column), axis=1)
    ok = np.isfinite(vals)
    return _safe_div(np.where(ok, vals, 0).sum(axis=1), ok.sum(axis=1))


def ci_from_weights(
    point: Callable,
    weighted: Callable | None,
    ref: np.ndarray,
    est: np.ndarray,
    *,
    W: np.ndarray | None,
    groups: np.ndarray | None = None,
    n_boot: int,
    seed: int,
    level: float = 0.95,
    resamples: np.ndarray | None = None,
) -> Estimate:
    """Point estimate and percentile CI; uses ``weighted(ref, est, W)`` (or precomputed ``resamples`` values)
    when given, else ``bootstrap_ci``."""
    ref, est = np.asarray(ref), np.asarray(est)
    n = len(ref)
    if weighted is None and resamples is None:
        return bootstrap_ci(point, ref, est, groups=groups, n_boot=n_boot, level=level, seed=seed)
    value = float(point(ref, est))
    if resamples is None:
        with np.errstate(all="ignore"):
            resamples = weighted(ref, est, W)
    stats = np.asarray(resamples, dtype=np.float64)
    stats = stats[np.isfinite(stats)]
    if len(stats) == 0:
        return Estimate(value, float("nan"), float("nan"), n, level)
    a = (1 - level) / 2
    lo, hi = np.quantile(stats, [a, 1 - a])
    return Estimate(value, float(lo), float(hi), n, level)
