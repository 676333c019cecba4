"""Align recordings (files or stored ones) and carry a reference's annotations to a store's recordings.

:func:`align_pair` is ``embedstore align A B``; :func:`transfer_to_store` is ``embedstore align REF --to-store S
--where ... --transfer beats.csv --out beats/``: every recording the filter selects (the reference itself
excluded) is aligned to the reference, and the annotations are written per recording as
``<out>/<file stem>.<annotation suffix>`` together with the time map ``<out>/<file stem>.timemap.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from embedstore.alignment.plot import plot_alignment
from embedstore.alignment.sync import Alignment, align_features
from embedstore.alignment.transfer import read_annotations, transfer_annotations, write_annotations
from embedstore.errors import ConfigError, StoreError
from embedstore.performance.sources import cached_features, resolve_source
from embedstore.store import Store

__all__ = ["PairResult", "align_pair", "transfer_to_store"]


@dataclass
class PairResult:
    """An alignment of A to B with the files it was computed from."""

    alignment: Alignment
    path_a: Path
    path_b: Path
    plot: Path | None = None

    def as_dict(self, *, anchors: bool = True) -> dict:
        """JSON-ready: the files, the alignment summary and (unless ``anchors=False``) the time map."""
        d = {"a": str(self.path_a), "b": str(self.path_b), **self.alignment.as_dict(anchors=anchors)}
        if self.plot is not None:
            d["plot"] = str(self.plot)
        return d


def align_pair(
    a: str | Path,
    b: str | Path,
    *,
    store: Store | None = None,
    ends: Literal["free", "fixed"] = "free",
    onset_weight: float = 1.0,
    plot: str | Path | None = None,
    cache: bool = True,
) -> PairResult:
    """Align two recordings, each a file or (with ``store``) a stored recording.

    Parameters
    ----------
    a, b : str or Path
        Audio files or stored recording keys.
    store : Store, optional
        Where to look keys up.
    ends, onset_weight
        See :func:`embedstore.alignment.sync.align_features`.
    plot : str or Path, optional
        Write the alignment figure (PNG) here.
    cache : bool
        Use the feature cache (:func:`~embedstore.performance.sources.cached_features`).

    Returns
    -------
    PairResult
    """
    pa, _ = resolve_source(a, store)
    pb, _ = resolve_source(b, store)
    fa = cached_features(pa, onsets=bool(onset_weight), cache=cache)
    fb = cached_features(pb, onsets=bool(onset_weight), cache=cache)
    al = align_features(fa, fb, ends=ends, onset_weight=onset_weight)
    al.time_map.meta.update(a=str(pa), b=str(pb))
    out = None
    if plot is not None:
        out = plot_alignment(al, fa, fb, plot, title=f"{pa.stem}  ->  {pb.stem}")
    return PairResult(al, pa, pb, out)


def transfer_to_store(
    store: Store,
    reference: str | Path,
    *,
    annotations: str | Path,
    out_dir: str | Path,
    where: str | None = None,
    ends: Literal["free", "fixed"] = "free",
    outside: Literal["drop", "extrapolate"] = "drop",
    min_confidence: float = 0.0,
    cache: bool = True,
) -> list[dict]:
    """Carry a reference recording's annotations to every selected recording of a store.

    Parameters
    ----------
    store : Store
    reference : str or Path
        The annotated recording: a file or a stored recording key.
    annotations : str or Path
        Its annotation file (formats of :func:`embedstore.alignment.transfer.read_annotations`).
    out_dir : str or Path
        Folder for the transferred annotations and time maps (created).
    where : str, optional
        SQL filter over the recordings table (e.g. ``"piece_id = 'X'"``); default every recording.
    ends : {"free", "fixed"}
    outside : {"drop", "extrapolate"}
        Annotations outside the music a recording shares with the reference.
    min_confidence : float
        Recordings whose alignment confidence is lower get no annotation file (reported with ``skipped``).
    cache : bool
        Use the feature cache.

    Returns
    -------
    list of dict
        One per recording: ``recording_id``, ``file_name``, ``annotations`` (written path or ``None``),
        ``time_map``, ``n`` (annotations written), ``dropped``, ``confidence``, ``cost``, ``valid_b`` and
        ``skipped`` (a reason, or ``None``).
    """
    ann = read_annotations(annotations)
    ref_path, ref_row = resolve_source(reference, store)
    recs = store.recordings(where)
    if recs.empty:
        raise StoreError(
            f"no recordings match {where!r}" if where else "the store holds no recordings",
            hint="check the filter with `embedstore info --store ...`",
        )
    ref_id = ref_row["recording_id"] if ref_row else None
    fa = cached_features(ref_path, cache=cache)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    suffix = Path(annotations).suffix or ".txt"
    report = []
    for _, row in recs.sort_values("file_name").iterrows():
        rid = str(row["recording_id"])
        p = Path(str(row["path"]))
        if rid == ref_id or (ref_row is None and p.resolve() == ref_path):
            continue
        entry = {"recording_id": rid, "file_name": row.get("file_name"), "annotations": None, "skipped": None}
        if not p.is_file():
            entry["skipped"] = f"file not found: {p}"
            report.append(entry)
            continue
        try:
            al = align_features(fa, cached_features(p, cache=cache), ends=ends)
        except ConfigError as e:
            entry["skipped"] = str(e)
            report.append(entry)
            continue
        al.time_map.meta.update(a=str(ref_path), b=str(p))
        entry.update(confidence=round(al.confidence, 4), cost=round(al.cost, 5), valid_b=al.time_map.valid_b)
        stem = Path(str(row.get("file_name") or p.name)).stem
        tm_path = al.time_map.to_json(out / f"{stem}.timemap.json")
        entry["time_map"] = str(tm_path)
        if al.confidence < min_confidence:
            entry["skipped"] = f"confidence {al.confidence:.2f} < {min_confidence:.2f}"
            report.append(entry)
            continue
        moved, dropped = transfer_annotations(ann, al.time_map, outside=outside)
        entry["annotations"] = str(write_annotations(moved, out / f"{stem}{suffix}"))
        entry.update(n=len(moved), dropped=dropped)
        report.append(entry)
    return report
