"""Interpretation curves of a store's recordings, curve-based similarity, and style statistics as a stored space.

- :func:`piece_curves`: align every performance of a piece to a reference and read tempo and loudness on the
  reference's grid (annotated beats or bars, or every ``grid_s`` seconds of the reference).
- :func:`curve_similarity`: rank the other performances of a piece by how closely their consensus-relative tempo
  and loudness curves follow a query's (the Mazurka project's comparison by correlation).
- :func:`style_table`: per performance the style statistics of :mod:`embedstore.alignment.curves`, computed on
  curves relative to the consensus of the piece's performances, plus absolute loudness statistics, then
  z-scored within each piece so that they compare across pieces (performer retrieval, probes).
- :func:`write_style_space`: store that table as a recording-level space (``style.L0.recording-mean``) that
  search, ``evaluate-retrieval`` and probes read like any other space.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from numpy.typing import ArrayLike

from embedstore.alignment.compare import rank_by_curves
from embedstore.alignment.curves import (
    Curves,
    curve_correlation,
    interpretation_curves,
    relative_to_consensus,
    style_statistics,
    uniform_grid,
)
from embedstore.alignment.sync import align_features
from embedstore.alignment.timemap import TimeMap
from embedstore.alignment.transfer import read_annotations
from embedstore.errors import ConfigError, StoreError
from embedstore.performance.sources import features_for_recordings
from embedstore.store import Space, Store, sql_in
from embedstore.utils import dumps

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "STYLE_VECTOR",
    "piece_curves",
    "summarise_curves",
    "curve_similarity",
    "style_table",
    "write_style_space",
    "style_report",
    "curves_report",
    "ensure_style_space",
    "STYLE_SPACE_ID",
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
#: Grid step on the reference when no annotated grid is given, seconds.
GRID_S = 1.0


def _grid(
    reference_duration: float, grid: str | Path | ArrayLike | None, grid_s: float, label: str | None
) -> tuple[np.ndarray, Literal["beat", "bar", "reference"]]:
    if grid is None:
        return uniform_grid(0.0, reference_duration, grid_s), "reference"
    if isinstance(grid, str | Path):
        ann = read_annotations(grid)
        times = ann.labelled(label) if label else ann.times
        unit: Literal["beat", "bar", "reference"] = "bar" if label == "db" else "beat"
    else:
        times, unit = np.asarray(grid, dtype=np.float64), "beat"
    times = np.unique(times)
    if len(times) < 2:
        raise ConfigError("the grid needs at least two times", hint="check the annotation file and --label")
    return times, unit


def piece_curves(
    store: Store,
    *,
    where: str,
    reference: str | Path | None = None,
    grid: str | Path | ArrayLike | None = None,
    grid_label: str | None = None,
    grid_s: float = GRID_S,
    cache: bool = True,
    source: str = "auto",
) -> tuple[str, dict[str, Curves]]:
    """Tempo and loudness curves of the selected recordings on one reference's grid.

    Parameters
    ----------
    store : Store
    where : str
        Selects the performances of one piece (e.g. ``"piece_id = 'X'"``).
    reference : str or Path, optional
        Key of the reference recording (default: the first selected recording by file name).
    grid : annotation file or array of reference times, optional
        The grid (beats, or bars with ``grid_label="db"``); default every ``grid_s`` seconds of the reference.
    grid_label : str, optional
        Keep only annotations with this label (e.g. ``"db"`` for ASAP downbeats).
    grid_s : float
    cache : bool

    Returns
    -------
    reference_id : str
    curves : dict recording_id -> Curves (the reference's own curves use the identity map)
    """
    recs = store.recordings(where).sort_values("file_name")
    if recs.empty:
        raise StoreError(f"no recordings match {where!r}", hint="check the filter with `embedstore info`")
    ref_row = recs.iloc[0].to_dict() if reference is None else store.recording(str(reference))
    pairs = [(str(r), str(p)) for r, p in zip(recs["recording_id"], recs["path"])]
    if ref_row["recording_id"] not in set(recs["recording_id"]):
        pairs.append((str(ref_row["recording_id"]), str(ref_row["path"])))
    feats = features_for_recordings(store, pairs, source=source, cache=cache)
    fa = feats[ref_row["recording_id"]]
    g, unit = _grid(fa.duration_s, grid, grid_s, grid_label)
    out = {}
    for _, row in recs.iterrows():
        rid = str(row["recording_id"])
        fb = feats[rid]
        if rid == ref_row["recording_id"]:
            tm = TimeMap.linear(0.0, fa.duration_s, 0.0, fa.duration_s)
        else:
            tm = align_features(
                fa, fb, onset_weight=1.0 if fa.onsets is not None and fb.onsets is not None else 0.0
            ).time_map
        out[rid] = interpretation_curves(tm, g, fb.loudness, fb.frame_rate, unit=unit)
    return str(ref_row["recording_id"]), out


def summarise_curves(store: Store, reference_id: str, curves: dict[str, Curves]) -> dict:
    """A JSON-ready report of :func:`piece_curves`: per recording its curves, style statistics and correlation
    with the consensus, plus the matrices of pairwise curve correlations (log tempo, loudness).

    With a uniform grid (unit ``"reference"``) tempo is relative to the reference, whose own tempo curve is flat
    (its correlations are undefined, ``None``).
    """
    ids = list(curves)
    names = store.recordings().set_index("recording_id")["file_name"].to_dict()
    with np.errstate(divide="ignore", invalid="ignore"):
        logt = np.log2(np.stack([curves[i].tempo for i in ids]))
        cons_t = np.nanmean(logt, axis=0)
        cons_l = np.nanmean(np.stack([curves[i].loudness for i in ids]), axis=0)
    recs = []
    for k, rid in enumerate(ids):
        c = curves[rid]
        recs.append(
            {
                "recording_id": rid,
                "file_name": names.get(rid),
                "tempo_corr": _none(curve_correlation(logt[k], cons_t)),
                "loudness_corr": _none(curve_correlation(c.loudness, cons_l)),
                "style": style_statistics(c),
                "curves": c.as_dict(),
            }
        )
    n = len(ids)
    tm = [[_none(curve_correlation(curves[a].tempo, curves[b].tempo, log=True)) for b in ids] for a in ids]
    lm = [[_none(curve_correlation(curves[a].loudness, curves[b].loudness)) for b in ids] for a in ids]
    return {
        "reference": reference_id,
        "unit": curves[ids[0]].unit if n else None,
        "recordings": recs,
        "ids": ids,
        "tempo_corr_matrix": tm,
        "loudness_corr_matrix": lm,
    }


def curves_report(
    store: Store,
    *,
    where: str,
    reference: str | None = None,
    grid: str | Path | ArrayLike | None = None,
    grid_label: str | None = None,
    grid_s: float = GRID_S,
    out: str | Path | None = None,
) -> dict:
    """:func:`piece_curves` then :func:`summarise_curves`; the report is also written as JSON to ``out``."""
    ref, cv = piece_curves(
        store, where=where, reference=reference, grid=grid, grid_label=grid_label, grid_s=grid_s
    )
    doc = summarise_curves(store, ref, cv)
    if out is not None:
        Path(out).write_text(dumps(doc) + "\n")
    return doc


def _none(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def curve_similarity(
    store: Store,
    recording: str,
    *,
    piece_column: str = "piece_id",
    where: str | None = None,
    grid_s: float = GRID_S,
    cache: bool = True,
    source: str = "auto",
) -> list[dict]:
    """Other performances of a recording's piece ranked by the correlation of their interpretation curves
    (:func:`embedstore.alignment.compare.rank_by_curves`, on features computed from the audio).

    Returns
    -------
    list of dict
        ``recording_id``, ``file_name``, ``score``, ``tempo_corr``, ``loudness_corr``; best first.
    """
    row = store.recording(recording)
    piece = row.get(piece_column)
    if piece is None or (isinstance(piece, float) and np.isnan(piece)):
        raise StoreError(f"recording {recording!r} has no {piece_column!r}", hint="index with --metadata")
    cond = sql_in(piece_column, [piece])
    full = cond if where is None else f"({cond}) AND ({where})"
    recs = store.recordings(full)
    feats = features_for_recordings(
        store, list(zip(recs["recording_id"], recs["path"])), source=source, cache=cache
    )
    names = recs.set_index("recording_id")["file_name"].to_dict()
    ranked = rank_by_curves(row["recording_id"], feats, grid_s=grid_s)
    return [
        {
            "recording_id": d["key"],
            "file_name": names.get(d["key"]),
            "score": d["score"],
            "tempo_corr": d["tempo_corr"],
            "loudness_corr": d["loudness_corr"],
        }
        for d in ranked
    ]


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
