"""Style statistics of a store's performances and the stored ``style`` space.

- :func:`style_table`: per performance the style statistics of :mod:`embedstore.alignment.curves`, computed on
  curves relative to the consensus of the piece's performances, plus absolute loudness statistics, then
  z-scored within each piece so that they compare across pieces (performer retrieval, probes).
- :func:`write_style_space`: store that table as a recording-level space (``style.L0.recording-mean``) that
  ``evaluate-retrieval`` and probes read like any other space; :func:`ensure_style_space` (re)computes it when
  missing or stale.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np

from embedstore.alignment.curves import relative_to_consensus, style_statistics
from embedstore.errors import StoreError
from embedstore.performance.curves import GRID_S, piece_curves
from embedstore.store import Space, Store, sql_in

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "STYLE_VECTOR",
    "STYLE_SPACE_ID",
    "style_table",
    "write_style_space",
    "style_report",
    "ensure_style_space",
]

#: Columns of the style vector (see :func:`style_table`).
STYLE_VECTOR = (
    "tempo_rel",
    "rubato_rel",
    "tempo_range_rel",
    "loudness_rel",
    "dynamics_rel",
    "tempo_loudness_rel",
    "loudness",
    "dynamic_range",
)


def _zscore(x: np.ndarray) -> np.ndarray:
    mu = np.nanmean(x, axis=0)
    sd = np.nanstd(x, axis=0)
    z = (x - mu) / np.where(sd > 0, sd, 1.0)
    return np.nan_to_num(z, nan=0.0)


def style_table(
    store: Store,
    *,
    where: str | None = None,
    piece_column: str = "piece_id",
    grid_s: float = GRID_S,
    cache: bool = True,
    source: str = "auto",
) -> pd.DataFrame:
    """Style statistics of every selected recording, one row each (pieces need two or more performances).

    For each piece, every performance is aligned to the piece's first recording (by file name); tempo and
    loudness on a ``grid_s`` grid are taken relative to the consensus of the piece's performances
    (:func:`~embedstore.alignment.curves.relative_to_consensus`) and summarised with
    :func:`~embedstore.alignment.curves.style_statistics`: ``tempo_rel`` (log2 of the median relative tempo),
    ``rubato_rel``, ``tempo_range_rel``, ``loudness_rel``, ``dynamics_rel`` (the 5-95 % range of the relative
    loudness), ``tempo_loudness_rel``; plus the absolute ``loudness`` and ``dynamic_range`` (phon). Columns
    ``z_<name>`` hold the same statistics z-scored within the piece (NaN -> 0).

    Returns
    -------
    pandas.DataFrame
        ``recording_id``, ``file_name``, ``piece``, ``reference_id``, the statistics and their ``z_`` columns.
    """
    import pandas as pd

    recs = store.recordings(where)
    if piece_column not in recs.columns:
        raise StoreError(f"the recordings have no column {piece_column!r}", hint="index with --metadata")
    rows = []
    for piece, grp in recs.groupby(piece_column, sort=True):
        if len(grp) < 2:
            continue
        ids = sorted(
            grp["recording_id"], key=lambda r: str(grp.set_index("recording_id").loc[r, "file_name"])
        )
        ref_id, curves = piece_curves(
            store, where=sql_in("recording_id", ids), grid_s=grid_s, cache=cache, source=source
        )
        order = list(curves)
        rel = relative_to_consensus([curves[i] for i in order])
        block = []
        for rid, c_abs, c_rel in zip(order, (curves[i] for i in order), rel):
            r = style_statistics(c_rel)
            a = style_statistics(c_abs)
            block.append(
                {
                    "recording_id": rid,
                    "piece": piece,
                    "reference_id": ref_id,
                    "tempo_rel": float(np.log2(r["tempo"])) if np.isfinite(r["tempo"]) else np.nan,
                    "rubato_rel": r["rubato"],
                    "tempo_range_rel": r["tempo_range"],
                    "loudness_rel": r["loudness"],
                    "dynamics_rel": r["dynamic_range"],
                    "tempo_loudness_rel": r["tempo_loudness"],
                    "loudness": a["loudness"],
                    "dynamic_range": a["dynamic_range"],
                }
            )
        z = _zscore(np.array([[b[k] for k in STYLE_VECTOR] for b in block], dtype=np.float64))
        for b, zr in zip(block, z):
            b.update({f"z_{k}": float(v) for k, v in zip(STYLE_VECTOR, zr)})
        rows += block
    if not rows:
        raise StoreError(
            f"no piece ({piece_column}) has two or more recordings",
            hint="style statistics compare performances",
        )
    df = pd.DataFrame(rows)
    names = recs.set_index("recording_id")["file_name"]
    df.insert(1, "file_name", df["recording_id"].map(names))
    return df


def write_style_space(
    store: Store,
    table: pd.DataFrame,
    *,
    name: str = "style",
    columns: Literal["z", "raw"] = "z",
    provenance: dict | None = None,
) -> Space:
    """Store style statistics as a recording-level space ``<name>.L0.recording-mean`` (replacing it).

    Parameters
    ----------
    store : Store
    table : DataFrame
        :func:`style_table` output.
    name : str
        Setup key of the space.
    columns : {"z", "raw"}
        Store the within-piece z-scores (default) or the raw statistics (NaN -> 0).
    provenance : dict, optional
        Extra provenance (e.g. the grid, the piece column).

    Returns
    -------
    Space
    """
    cols = [f"z_{k}" for k in STYLE_VECTOR] if columns == "z" else list(STYLE_VECTOR)
    vec = np.nan_to_num(table[cols].to_numpy(np.float32), nan=0.0)
    prov = {
        "encoder": "style",
        "statistics": list(STYLE_VECTOR),
        "values": "z-score within piece" if columns == "z" else "raw",
        "features": "alignment curves (embedstore.alignment)",
        **(provenance or {}),
    }
    space = Space(
        setup_key=name,
        encoder="style",
        layer=0,
        layer_name="style",
        level="recording",
        pooling="mean",
        window_s=0.0,
        hop_s=0.0,
        dim=len(cols),
        provenance=prov,
    )
    if any(s.space_id == space.space_id for s in store.spaces()):
        store.drop_space(space.space_id)
    dur = store.recordings().set_index("recording_id")["duration_s"]
    ids = list(table["recording_id"])
    store.write_vectors(
        space, ids, [-1] * len(ids), np.zeros(len(ids)), dur.reindex(ids).fillna(0.0).to_numpy(), vec
    )
    return space


def style_report(
    store: Store,
    *,
    where: str | None = None,
    piece_column: str = "piece_id",
    grid_s: float = GRID_S,
    write_space: bool = False,
) -> tuple[pd.DataFrame, Space | None]:
    """:func:`style_table`, and with ``write_space`` :func:`write_style_space` (provenance names the options)."""
    tab = style_table(store, where=where, piece_column=piece_column, grid_s=grid_s)
    space = None
    if write_space:
        space = write_style_space(store, tab, provenance={"piece_column": piece_column, "grid_s": grid_s})
    return tab, space


#: Id of the style space written by :func:`write_style_space` with the default name.
STYLE_SPACE_ID = "style.L0.recording-mean"


def ensure_style_space(store: Store, *, piece_column: str = "piece_id", grid_s: float = GRID_S) -> Space:
    """The store's style space, (re)computed when missing or when it lacks recordings of pieces with two or more
    performances (``evaluate-retrieval --features curves``)."""
    have = next((s for s in store.spaces() if s.space_id == STYLE_SPACE_ID), None)
    recs = store.recordings()
    if have is not None and piece_column in recs.columns:
        counts = recs[piece_column].map(recs[piece_column].value_counts())
        want = set(recs.loc[counts >= 2, "recording_id"])
        stored = set(store.load(have, with_metadata=False).recording_ids)
        if want <= stored and have.provenance.get("piece_column") == piece_column:
            return have
    _, space = style_report(store, piece_column=piece_column, grid_s=grid_s, write_space=True)
    assert space is not None
    return space
