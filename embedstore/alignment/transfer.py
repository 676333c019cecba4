"""Annotation transfer: carry beats, downbeats, bar numbers or any timed labels through a time map.

Task
    An annotated reference recording and a :class:`~embedstore.alignment.timemap.TimeMap` from it to another
    performance give that performance's annotations: every time is mapped, every label kept.

Formats (read by :func:`read_annotations`, written back in the same format by :func:`write_annotations`)
    - CSV/TSV with a header: the time column is the first of ``time, time_s, start, start_s, onset, onset_s,
      beat, beats, seconds, t`` (case-insensitive); an end column (``end, end_s, offset, offset_s, stop``) is
      mapped too; every other column (labels, bar numbers, beat positions) is carried unchanged.
    - Headerless text: one time per line; ``time<sep>label`` (e.g. MIREX beat files, ``0.52 1``); or Audacity
      labels ``start<TAB>end<TAB>label`` (ASAP's annotation files).
    - JSON: a list of times, or an object whose values are lists of times (e.g. ``{"beats": [...],
      "downbeats": [...]}``).

Times outside the map's valid range (music the other performance does not share) are dropped by default
(``outside="drop"``) or mapped with the map's mean slope (``outside="extrapolate"``).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from embedstore.alignment.timemap import TimeMap
from embedstore.errors import ConfigError, check_choice
from embedstore.utils import dumps

__all__ = ["Annotations", "read_annotations", "write_annotations", "transfer_times", "transfer_annotations"]

TIME_COLUMNS = ("time", "time_s", "start", "start_s", "onset", "onset_s", "beat", "beats", "seconds", "t")
END_COLUMNS = ("end", "end_s", "offset", "offset_s", "stop")
OUTSIDE = ("drop", "extrapolate")


@dataclass
class Annotations:
    """Timed annotations of one recording.

    Attributes
    ----------
    fmt : str
        ``"csv"`` (with header), ``"text"`` (headerless), ``"audacity"`` or ``"json"``.
    rows : list of list of str
        The table's cells (without the header), as read; for JSON, ``[[key, time], ...]``.
    header : list of str
        Column names (``csv``) or an empty list.
    time_col : int
        Index of the time column.
    end_col : int or None
        Index of the end-time column, if any.
    delimiter : str
    """

    fmt: str
    rows: list
    header: list = field(default_factory=list)
    time_col: int = 0
    end_col: int | None = None
    delimiter: str = ","

    @property
    def times(self) -> np.ndarray:
        """The annotation times, seconds, shape (n,)."""
        return np.array([float(r[self.time_col]) for r in self.rows], dtype=np.float64)

    def labelled(self, label: str) -> np.ndarray:
        """Times of the rows whose cells other than time/end start with ``label`` (e.g. ``"db"``), seconds."""
        keep = []
        for r in self.rows:
            others = [c for k, c in enumerate(r) if k not in (self.time_col, self.end_col)]
            if any(str(c).split(",")[0] == label for c in others):
                keep.append(float(r[self.time_col]))
        return np.array(keep, dtype=np.float64)

    def __len__(self) -> int:
        return len(self.rows)


def _is_number(s: str) -> bool:
    try:
        float(s)
    except (TypeError, ValueError):
        return False
    return True


def read_annotations(path: str | Path) -> Annotations:
    """Read timed annotations (see the module docstring for the formats).

    Raises
    ------
    ConfigError
        When no time column can be found or a time is not a number.
    """
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"no annotation file {p}")
    text = p.read_text()
    if p.suffix.lower() == ".json":
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{p} is not JSON: {e}") from e
        if isinstance(obj, list):
            rows = [["", str(float(t))] for t in obj]
        elif isinstance(obj, dict):
            rows = [[str(k), str(float(t))] for k, v in obj.items() if isinstance(v, list) for t in v]
        else:
            raise ConfigError(f"{p}: expected a list of times or an object of lists")
        return Annotations("json", rows, time_col=1)
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise ConfigError(f"{p} holds no annotations")
    delim = "\t" if "\t" in lines[0] else ("," if "," in lines[0] else None)
    if delim is None:
        rows = [ln.split() for ln in lines]
        delim = " "
    else:
        rows = list(csv.reader(lines, delimiter=delim))
    first = rows[0]
    if not _is_number(first[0]):  # a header
        header = [c.strip() for c in first]
        low = [c.lower() for c in header]
        tcol = next((low.index(c) for c in TIME_COLUMNS if c in low), None)
        if tcol is None:
            raise ConfigError(
                f"{p}: no time column in {header}", hint="name it one of: " + ", ".join(TIME_COLUMNS)
            )
        ecol = next((low.index(c) for c in END_COLUMNS if c in low), None)
        ann = Annotations("csv", rows[1:], header, tcol, ecol, delim)
    else:
        three = all(len(r) >= 3 and _is_number(r[1]) and float(r[1]) >= float(r[0]) for r in rows)
        ann = Annotations("audacity" if three else "text", rows, [], 0, 1 if three else None, delim)
    bad = [r for r in ann.rows if len(r) <= ann.time_col or not _is_number(r[ann.time_col])]
    if bad:
        raise ConfigError(f"{p}: a time is not a number in row {bad[0]}")
    return ann


def write_annotations(ann: Annotations, path: str | Path) -> Path:
    """Write annotations in their own format (JSON lists are grouped by key again)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if ann.fmt == "json":
        keys = list(dict.fromkeys(r[0] for r in ann.rows))
        if keys == [""]:
            obj: object = [float(r[1]) for r in ann.rows]
        else:
            obj = {k: [float(r[1]) for r in ann.rows if r[0] == k] for k in keys}
        p.write_text(dumps(obj) + "\n")
        return p
    with p.open("w", newline="") as f:
        if ann.delimiter == " ":
            for r in ann.rows:
                f.write(" ".join(r) + "\n")
        else:
            w = csv.writer(f, delimiter=ann.delimiter, lineterminator="\n")
            if ann.header:
                w.writerow(ann.header)
            w.writerows(ann.rows)
    return p


def transfer_times(
    times: ArrayLike, time_map: TimeMap, *, outside: Literal["drop", "extrapolate"] = "drop"
) -> tuple[np.ndarray, np.ndarray]:
    """Map times of the reference to the other performance.

    Parameters
    ----------
    times : array of float, shape (n,)
        Seconds in the reference.
    time_map : TimeMap
        Reference -> other performance.
    outside : {"drop", "extrapolate"}
        Times outside the map's valid range: drop them, or map them with the map's mean slope.

    Returns
    -------
    mapped : np.ndarray, shape (k,)
        Seconds in the other performance (``k = n`` with ``"extrapolate"``).
    kept : np.ndarray, shape (n,), bool
        Which input times were mapped.
    """
    check_choice("outside", outside, OUTSIDE)
    t = np.asarray(times, dtype=np.float64)
    if outside == "extrapolate":
        return time_map(t, outside="extrapolate"), np.ones(len(t), bool)
    lo, hi = time_map.valid_a
    kept = (t >= lo - 1e-9) & (t <= hi + 1e-9)
    return time_map(t[kept], outside="clip"), kept


def _fmt_time(x: float) -> str:
    return f"{x:.4f}"


def transfer_annotations(
    ann: Annotations, time_map: TimeMap, *, outside: Literal["drop", "extrapolate"] = "drop"
) -> tuple[Annotations, int]:
    """Map every time (and end time) of an annotation table; labels and other columns are kept.

    Returns
    -------
    Annotations
        Same format; rows whose time falls outside the map's range dropped (``outside="drop"``).
    n_dropped : int
    """
    mapped, kept = transfer_times(ann.times, time_map, outside=outside)
    rows = []
    for r, t in zip([r for r, k in zip(ann.rows, kept) if k], mapped):
        r2 = list(r)
        r2[ann.time_col] = _fmt_time(float(t))
        if ann.end_col is not None and ann.end_col < len(r) and _is_number(r[ann.end_col]):
            r2[ann.end_col] = _fmt_time(float(time_map([float(r[ann.end_col])], outside="extrapolate")[0]))
        rows.append(r2)
    out = Annotations(ann.fmt, rows, list(ann.header), ann.time_col, ann.end_col, ann.delimiter)
    return out, int((~kept).sum())
