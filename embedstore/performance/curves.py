"""Interpretation curves of a store's recordings and curve-based similarity (style statistics:
:mod:`embedstore.performance.style`).

- :func:`piece_curves`: align every performance of a piece to a reference and read tempo and loudness on the
  reference's grid (annotated beats or bars, or every ``grid_s`` seconds of the reference). Features come from
  the stored frame sequences when the store has them, else from the audio (``source``).
- :func:`curve_similarity`: rank the other performances of a piece by how closely their consensus-relative tempo
  and loudness curves follow a query's (the Mazurka project's comparison by correlation).
- :func:`summarise_curves`, :func:`curves_report`: the JSON report of ``embedstore curves``.
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
    style_statistics,
    uniform_grid,
)
from embedstore.alignment.sync import align_features
from embedstore.alignment.timemap import TimeMap
from embedstore.alignment.transfer import read_annotations
from embedstore.errors import ConfigError, StoreError
from embedstore.performance.sources import features_for_recordings
from embedstore.store import Store, sql_in
from embedstore.utils import dumps

if TYPE_CHECKING:  # pragma: no cover
    pass

__all__ = ["GRID_S", "piece_curves", "summarise_curves", "curves_report", "curve_similarity"]

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
