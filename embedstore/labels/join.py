"""Joining a label table to the store's recordings (:func:`join_labels`).

With ``on=None`` every candidate label column (:data:`~embedstore.tables.KEY_COLUMNS`, then text columns the
recordings table holds too) and every match rule (recording id, path, file name, stem, metadata column) is tried,
and the column and rule matching the most rows win; only unambiguous matches (one recording per key) count. Label
rows for the same recording (or, with ``on``, the same value) count once when they agree and are an error when
they differ: which would count?
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from embedstore.errors import ConfigError
from embedstore.labels.keys import (
    KeyMaps,
    candidate_maps,
    column_map,
    file_name,
    file_stem,
    is_text_column,
    normalise_keys,
    resolve_path,
)
from embedstore.tables import KEY_COLUMNS, read_table

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["LabelJoin", "join_labels", "match_column"]


@dataclass
class LabelJoin:
    """The result of joining a label table to the store's recordings.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per matched recording: the recordings columns, label columns overriding those of the same name.
    key : str
        Label column used for the join.
    matched_by : str
        ``recording_id``, ``path``, ``file_name``, ``stem`` or the metadata column's name.
    n_label_rows : int
        Rows of the label table.
    unmatched : list of str
        Label keys that found no recording.
    """

    frame: pd.DataFrame
    key: str
    matched_by: str
    n_label_rows: int
    unmatched: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: how many recordings got labels, from which column and rule, and what matched nothing."""
        s = (
            f"{len(self.frame)} recordings labelled from {self.n_label_rows} label rows "
            f"(column {self.key!r} matched by {self.matched_by})"
        )
        if self.unmatched:
            s += f"; {len(self.unmatched)} label rows matched no recording (e.g. {self.unmatched[0]!r})"
        return s


def match_column(
    values: np.ndarray, col: str, recordings: pd.DataFrame, maps: KeyMaps, base_dir: Path | None
) -> tuple[str | None, list[list[str] | None], int]:
    """The best match rule for one label column.

    Parameters
    ----------
    values : np.ndarray, shape (n,)
        The column's normalised keys (:func:`~embedstore.labels.keys.normalise_keys`).
    col : str
        The column's name (a recordings column of that name adds a metadata rule).
    recordings : pandas.DataFrame
    maps : dict
        :func:`~embedstore.labels.keys.candidate_maps` of ``recordings``.
    base_dir : Path or None
        Folder relative paths are relative to.

    Returns
    -------
    (rule, hits, n_matched)
        The rule, for each row the one matching recording id in a list (or None), and how many rows matched.
    """
    rules: list[tuple[str, list[list[str] | None]]] = [
        ("recording_id", [maps["recording_id"].get(v) for v in values])
    ]
    if "path" in maps:
        rules.append(("path", [maps["path"].get(resolve_path(v, base_dir)) for v in values]))
    if "file_name" in maps:
        rules.append(("file_name", [maps["file_name"].get(file_name(v)) for v in values]))
        rules.append(("stem", [maps["stem"].get(file_stem(v)) for v in values]))
    if col in recordings.columns and col != "recording_id":
        m = column_map(recordings, col)
        rules.append((col, [m.get(v) for v in values]))
    best: tuple[str | None, list[list[str] | None], int] = (None, [], 0)
    for rule, hits in rules:
        clean = [h if h is not None and len(h) == 1 else None for h in hits]
        n = sum(h is not None for h in clean)
        if n > best[2]:
            best = (rule, clean, n)
    return best


def _one_row_per_key(lab: pd.DataFrame, key: str, *, what: str, ignore: Iterable[str] = ()) -> pd.DataFrame:
    """Rows sharing a key: identical ones (apart from the ``ignore`` columns) count once; rows that differ are an
    error (which would count?). Rows are numbered from 1 in the messages."""
    lab = lab.reset_index(drop=True)
    has_key = lab[key].notna() & (lab[key].astype(str) != "")
    same = lab[[c for c in lab.columns if c not in set(ignore)]].astype(str).duplicated(keep="first")
    lab = lab[~(has_key & same)]
    clash = lab[has_key[lab.index] & lab[key].duplicated(keep=False)]
    if len(clash):
        k = clash[key].iloc[0]
        a, b = (int(i) + 1 for i in clash.index[clash[key] == k][:2])
        raise ConfigError(
            f"label rows {a} and {b} both label {what} {k!r} with different values",
            hint="keep one label row per recording (or per value of --on)",
        )
    return lab


def _join_on_shared_column(recordings: pd.DataFrame, labels: pd.DataFrame, on: str) -> LabelJoin:
    lab = labels.copy()
    lab[on] = normalise_keys(lab[on])
    lab = _one_row_per_key(lab, on, what=on)
    rec = recordings.drop(columns=[c for c in lab.columns if c in recordings.columns and c != on])
    rec[on] = normalise_keys(rec[on])
    frame = rec.merge(lab, on=on, how="inner")
    unmatched = sorted(set(lab[on]) - set(rec[on]))
    if frame.empty:
        raise ConfigError(
            f"no label row matched a recording on {on!r}",
            hint=f"label values look like {list(lab[on][:3])}, the store's like {list(rec[on][:3])}",
        )
    return LabelJoin(frame.reset_index(drop=True), on, on, len(labels), unmatched)


def join_labels(
    recordings: pd.DataFrame,
    labels: pd.DataFrame | str | os.PathLike,
    *,
    on: str | None = None,
    base_dir: str | os.PathLike | None = None,
) -> LabelJoin:
    """Attach label columns to recordings.

    Parameters
    ----------
    recordings : pandas.DataFrame
        The store's recordings table (``Store.recordings()``): needs ``recording_id``; ``path`` and ``file_name``
        enable path / file-name matching, other columns enable metadata matching.
    labels : pandas.DataFrame, str or os.PathLike
        The label table, or its file (read with :func:`embedstore.tables.read_table`).
    on : str, optional
        Join column. If both tables hold it, rows are merged on equal values (many recordings may share one label
        row, e.g. ``on="piece_id"``). Otherwise it names the label column to match by id / path / file name.
        Default: try :data:`~embedstore.tables.KEY_COLUMNS` and keep the column and rule matching the most rows.
    base_dir : str or os.PathLike, optional
        Folder that relative paths in the label table are relative to (default: the label file's folder).

    Returns
    -------
    LabelJoin
        ``frame`` has one row per labelled recording; label columns replace recordings columns of the same name.

    Raises
    ------
    ConfigError
        When the store is empty, ``on`` is not a label column, no row matches, or two rows label one recording.
    """
    import pandas as pd

    if not isinstance(labels, pd.DataFrame):
        base_dir = Path(labels).resolve().parent if base_dir is None else base_dir
        labels = read_table(labels, what="label file")
    base = Path(base_dir).resolve() if base_dir is not None else None
    if recordings.empty:
        raise ConfigError(
            "the store has no recordings to label", hint="index audio first with `embedstore index`"
        )
    recordings = recordings.copy()
    recordings["recording_id"] = recordings["recording_id"].astype(str)
    shared = on is not None and on in labels.columns and on in recordings.columns
    if shared and on not in ("path", "recording_id"):
        return _join_on_shared_column(recordings, labels, str(on))

    maps = candidate_maps(recordings)
    if on is not None:
        if on not in labels.columns:
            raise ConfigError(
                f"label file has no column {on!r}", hint="columns: " + ", ".join(map(str, labels.columns))
            )
        cols = [on]
    else:
        cols = [c for c in KEY_COLUMNS if c in labels.columns]
        cols += [
            c
            for c in labels.columns
            if c not in cols and c in recordings.columns and is_text_column(labels[c])
        ]
    best: tuple[str | None, str | None, list[list[str] | None], int] = (None, None, [], 0)
    for c in cols:
        rule, hits, n = match_column(normalise_keys(labels[c]), c, recordings, maps, base)
        if n > best[3]:
            best = (c, rule, hits, n)
    col, rule, hits, n = best
    if not n or col is None or rule is None:
        tried = ", ".join(map(str, cols)) or "(no id/path/file column)"
        raise ConfigError(
            "no label row matched a recording of the store",
            hint=f"tried label columns: {tried}; join on recording_id, a path, a file name, or "
            "a metadata column of the store with --on",
        )
    lab = labels.copy()
    lab["recording_id"] = [h[0] if h else None for h in hits]
    lab = _one_row_per_key(lab, "recording_id", what="recording", ignore=(col,))
    unmatched = [str(v) for v, h in zip(normalise_keys(labels[col]), hits) if h is None]
    lab = lab[lab["recording_id"].notna()]
    keep_rec = recordings.drop(
        columns=[c for c in lab.columns if c in recordings.columns and c != "recording_id"]
    )
    frame = keep_rec.merge(lab, on="recording_id", how="inner")
    return LabelJoin(frame.reset_index(drop=True), col, rule, len(labels), unmatched)
