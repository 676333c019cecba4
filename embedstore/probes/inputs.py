"""What a probe run reads from the store: a task's labels joined to the recordings, the setups and layers to
probe, and feature stacks aligned with the task's rows.

Nothing re-encodes audio: the features are the store's vectors (:meth:`~embedstore.store.Store.load_layers`),
recording-level (pooled, ``(L, n, d)``) or window-level (padded sequences ``(L, R, T, d)`` with a mask).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embedstore.errors import ConfigError, StoreError
from embedstore.labels import derive_pairs, join_labels, read_pairs
from embedstore.probes.attention import pad_sequences
from embedstore.probes.models import Features
from embedstore.probes.tasks import TaskData, build_task

if TYPE_CHECKING:  # pragma: no cover
    from embedstore.store import Space, Store


def load_task(
    store: Store,
    task: str,
    *,
    labels: str | Path | None = None,
    target: str | list[str] | None = None,
    group_by: str = "piece_id",
    on: str | None = None,
    pairs: str | Path | None = None,
    pairs_from: str | None = None,
    within: str = "segment_id",
    min_diff: float = 0.0,
    lower_is_better: bool = False,
    where: str | None = None,
) -> TaskData:
    """Join labels (or the store's own metadata) to the store's recordings and build the task.

    Parameters
    ----------
    store : the store; task : a task name (:data:`~embedstore.probes.tasks.TASKS`)
    labels : label table (CSV/TSV/JSON/Parquet); default: the store's metadata
    target : label column(s) (see :func:`~embedstore.probes.tasks.build_task`)
    group_by : CV groups: a column, or piece, performer, recording
    on : join column of the label table (default: the best-matching one)
    pairs : ranking pairs file (a, b, a_better); pairs_from : derive ranking pairs from this rating column
    within, min_diff, lower_is_better : how pairs are derived (same ``within`` value, rating gap, direction)
    where : SQL filter on the recordings
    """
    recs = store.recordings(where)
    info: dict[str, Any] = {}
    if labels is not None:
        j = join_labels(recs, labels, on=on)
        frame = j.frame
        info["labels"] = j.summary()
    else:
        frame = recs
        info["labels"] = f"{len(recs)} recordings (labels from the store's metadata)"
    pair_df = None
    if task == "ranking":
        if pairs is not None:
            pair_df = read_pairs(pairs, recs)
            info["pairs"] = f"{len(pair_df)} pairs read ({pair_df.attrs.get('dropped', 0)} unmatched dropped)"
        elif pairs_from:
            pair_df = derive_pairs(
                frame, pairs_from, within=within, min_diff=min_diff, higher_is_better=not lower_is_better
            )
            info["pairs"] = f"{len(pair_df)} pairs derived from {pairs_from!r} within {within!r}"
        # every recording of the store, with the label columns the store lacks (for the group column)
        extra = [c for c in frame.columns if c not in recs.columns]
        frame = recs.merge(frame[["recording_id", *extra]], on="recording_id", how="left") if extra else recs
    t = build_task(task, frame, target=target, group_by=group_by, pairs=pair_df)
    t.info.update(info)
    return t


def setups_for(store: Store, encoders: str | Sequence[str] | None) -> list[str]:
    """Setup keys to probe: every setup of the store (``None``/``"all"``), or those of the given setup keys or
    encoder names (a clear error for one the store lacks)."""
    setups = store.setups()
    if not setups:
        raise StoreError(f"store {store.uri} holds no embeddings yet", hint="run `embedstore index` first")
    if encoders is None or encoders == "all" or encoders == ["all"]:
        return list(setups)
    items = [e.strip() for e in (encoders.split(",") if isinstance(encoders, str) else encoders) if e.strip()]
    out: list[str] = []
    for e in items:
        hits = [k for k, s in setups.items() if k == e or s["encoder"] == e]
        if not hits:
            raise ConfigError(f"no encoder setup {e!r} in the store", hint="setups: " + ", ".join(setups))
        out += [h for h in hits if h not in out]
    return out


def parse_layers(
    spec: str | Sequence | int | None, available: Sequence[int], names: Sequence[str] = ()
) -> tuple[list[int], bool]:
    """Resolve ``all``, ``last``, ``mix``, ``3``, ``0,4,8``, ``2-5`` or layer names.

    Parameters
    ----------
    spec : the layers wanted (None: all)
    available : the layer ids the store holds; names : their names (same order)

    Returns
    -------
    layers : the layer ids, in the order first named; with_mix : whether ``mix`` was asked for
    """
    avail = sorted(int(a) for a in available)
    if spec is None:
        return avail, False
    items = [
        str(s).strip()
        for s in (spec.split(",") if isinstance(spec, str) else ([spec] if isinstance(spec, int) else spec))
        if str(s).strip()
    ]
    out: list[int] = []
    mix = False
    name_to = {str(n): int(a) for a, n in zip(avail, names)} if names else {}
    for it in items:
        low = it.lower()
        if low == "all":
            out += avail
        elif low == "last":
            out.append(avail[-1])
        elif low in ("mix", "weighted"):
            mix = True
        elif "-" in it[1:] and all(p.strip().lstrip("-").isdigit() for p in it.split("-", 1)):
            lo, hi = (int(p) for p in it.split("-", 1))
            out += [x for x in avail if lo <= x <= hi]
        elif it.lstrip("-").isdigit():
            v = int(it)
            v = avail[v] if v < 0 else v
            if v not in avail:
                raise ConfigError(f"no layer {it}; available: {avail[0]}..{avail[-1]}")
            out.append(v)
        elif it in name_to:
            out.append(name_to[it])
        else:
            raise ConfigError(
                f"invalid layers entry {it!r}; valid: all, last, mix, N, N,M, N-M or a layer name"
            )
    return list(dict.fromkeys(out)), mix


def align_task(task: TaskData, rec_ids: Sequence | np.ndarray) -> tuple[TaskData, np.ndarray]:
    """Restrict the task to recordings with embeddings.

    Returns
    -------
    the restricted task, and the position in ``rec_ids`` of each of its rows
    """
    pos = {str(r): i for i, r in enumerate(rec_ids)}
    has = np.array([str(r) in pos for r in task.recording_ids])
    sub = task.subset(has) if not has.all() else task
    idx = np.array([pos[str(r)] for r in sub.recording_ids], dtype=np.int64)
    return sub, idx


def task_features(
    store: Store,
    task: TaskData,
    setup: str,
    *,
    level: str,
    pooling: str,
    layers: Sequence[int],
    where: str | None = None,
) -> tuple[TaskData, Features, list[Space]]:
    """The stored vectors of some layers of a setup, aligned with the rows of ``task``.

    Parameters
    ----------
    store, task : the store and the task; setup : a setup key
    level : ``"recording"`` (pooled vectors) or ``"window"`` (padded window sequences)
    pooling : the recording-level pooling (ignored for windows)
    layers : layer ids to load; where : SQL filter on the recordings

    Returns
    -------
    task restricted to recordings with embeddings; features (L, n, d), or (S (L, R, T, d), mask (R, T)) for
    windows; the spaces of the layers, in the features' order
    """
    rec_ids, X, _, spaces = store.load_layers(
        setup, level=level, pooling=pooling if level == "recording" else "mean", layers=layers, where=where
    )
    if level == "window":
        t_sub, _ = align_task(task, list(dict.fromkeys(str(r) for r in rec_ids)))
        return t_sub, pad_sequences(X, rec_ids, t_sub.recording_ids), spaces
    t_sub, idx = align_task(task, rec_ids)
    return t_sub, X[:, idx], spaces


def select_layers(X: Features, sel: Sequence[int]) -> Features:
    """Some layers (positions ``sel``) of a feature stack or of window sequences."""
    if isinstance(X, tuple):
        S, mask = X
        return S[list(sel)], mask
    return X[list(sel)]
