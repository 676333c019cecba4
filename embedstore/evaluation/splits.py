"""Leakage-safe splits.

Every split is grouped: all items sharing a group value (piece by default; performer or recording on request) fall
on the same side. Model selection uses inner splits of the training part only, never the test fold.

Conventions: ``groups`` is an array of hashable labels, one per item (compared as strings); folds are returned as
lists of ``(train_idx, test_idx)`` integer index arrays into ``groups``; everything is deterministic for a given
``seed``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from embedstore import config
from embedstore.errors import ConfigError

__all__ = ["group_kfold", "inner_split", "check_disjoint"]


def group_kfold(
    groups: ArrayLike,
    *,
    n_splits: int = config.DEFAULT_N_SPLITS,
    seed: int = 0,
    stratify: ArrayLike | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Grouped k-fold: no group appears in both train and test of a fold.

    Parameters
    ----------
    groups : array-like, shape (n,)
    n_splits : int
        Reduced to the number of distinct groups when there are fewer (at least 2 are needed).
    seed : int
        Shuffles group order before the greedy balancing, so folds differ across seeds.
    stratify : array-like, shape (n,), optional
        Class labels: groups are dealt so that each fold's label histogram stays close to the overall one
        (greedy, approximate).

    Returns
    -------
    list of (train_idx, test_idx)
        Integer index arrays; folds whose test or train side would be empty are left out.

    Raises
    ------
    ConfigError
        With fewer than 2 distinct groups.
    """
    uniq, inv = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    if len(uniq) < 2:
        raise ConfigError(
            f"need at least 2 groups for a grouped split, got {len(uniq)}",
            hint="group by another column (piece_id, performer_code, recording_id)",
        )
    k = min(n_splits, len(uniq))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(uniq))
    sizes = np.bincount(inv, minlength=len(uniq))
    # big groups first, ties in random order
    order = order[np.argsort(-sizes[order], kind="stable")]
    fold_of = np.empty(len(uniq), dtype=int)
    load = np.zeros(k)
    if stratify is not None:
        # deal groups class by class (majority class of the group), each to the fold holding the fewest items of
        # that class, ties to the least loaded fold: folds get similar class mixes and similar sizes
        y = np.asarray(stratify).astype(str)
        classes, yi = np.unique(y, return_inverse=True)
        majority = np.array(
            [np.bincount(yi[inv == g], minlength=len(classes)).argmax() for g in range(len(uniq))]
        )
        order = order[np.lexsort((np.arange(len(order)), majority[order]))]
        per_class = np.zeros((k, len(classes)))
        for gi, g in enumerate(order):
            empty = np.flatnonzero(load == 0)
            cand = empty if len(order) - gi <= len(empty) else np.arange(k)
            c = majority[g]
            f = cand[np.lexsort((load[cand], per_class[cand, c]))[0]]
            fold_of[g] = f
            per_class[f, c] += sizes[g]
            load[f] += sizes[g]
    else:
        for g in order:
            f = int(np.argmin(load))
            fold_of[g] = f
            load[f] += sizes[g]
    item_fold = fold_of[inv]
    out = []
    for f in range(k):
        test = np.flatnonzero(item_fold == f)
        train = np.flatnonzero(item_fold != f)
        if len(test) and len(train):
            out.append((train, test))
    return out


def inner_split(
    groups: ArrayLike, *, val_fraction: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """One grouped train/validation split of a *training* set (for early stopping / model selection).

    Parameters
    ----------
    groups : array-like, shape (n,)
        Group of each training item.
    val_fraction : float
        Share of the groups (at least one, and never all) put in the validation part.
    seed : int

    Returns
    -------
    (train_idx, val_idx) : tuple of np.ndarray
        Indices into ``groups``. With a single group, falls back to a random item split (flagged by the caller
        if it matters).
    """
    g = np.asarray(groups).astype(str)
    uniq = np.unique(g)
    rng = np.random.default_rng(seed)
    if len(uniq) < 2:
        idx = rng.permutation(len(g))
        n_val = max(1, int(round(val_fraction * len(g))))
        return np.sort(idx[n_val:]), np.sort(idx[:n_val])
    n_val = min(len(uniq) - 1, max(1, int(round(val_fraction * len(uniq)))))
    val_groups = set(rng.choice(uniq, size=n_val, replace=False))
    is_val = np.array([x in val_groups for x in g])
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def check_disjoint(groups: ArrayLike, train_idx: ArrayLike, test_idx: ArrayLike) -> None:
    """Raise if a group appears on both sides of a split (a leakage guard used by probes and tests).

    Parameters
    ----------
    groups : array-like, shape (n,)
    train_idx, test_idx : array-like of int
        Indices into ``groups``.

    Raises
    ------
    ConfigError
        Naming up to five groups found on both sides.
    """
    g = np.asarray(groups).astype(str)
    both = set(g[np.asarray(train_idx)]) & set(g[np.asarray(test_idx)])
    if both:
        raise ConfigError(f"leakage: groups in both train and test: {sorted(both)[:5]}")
