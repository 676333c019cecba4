"""Ranking pairs: read from a pairs table (:func:`read_pairs`) or derived from ratings (:func:`derive_pairs`).

A pairs table has a column for recording A (``a``, ``recording_a``, ``first``...), one for recording B (``b``,
``recording_b``, ``second``...) and a preference column (``a_better`` / ``label`` / ``y``: 1 or true when A is
better, 0/-1/false when B is; or ``winner`` / ``better``: ``a``/``b`` or the better recording's key). Column names
are compared case-insensitively; the recording columns and ``winner``-like columns are read as text.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embedstore.errors import ConfigError
from embedstore.labels.keys import normalise_keys, resolve_keys
from embedstore.tables import read_table

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["PAIR_A_COLUMNS", "PAIR_B_COLUMNS", "PREFERENCE_COLUMNS", "read_pairs", "derive_pairs"]

#: Column names of recording A, recording B and the preference, tried in order.
PAIR_A_COLUMNS = ("a", "recording_a", "item_a", "a_id", "first", "left")
PAIR_B_COLUMNS = ("b", "recording_b", "item_b", "b_id", "second", "right")
PREFERENCE_COLUMNS = ("a_better", "label", "y", "winner", "better", "preferred", "preference")
_KEY_PREFERENCES = ("winner", "better", "preferred", "preference")  # may hold a recording's key

_A_WINS = ("a", "1", "1.0", "true", "yes", "left", "first")
_B_WINS = ("b", "0", "0.0", "-1", "-1.0", "false", "no", "right", "second")


def _pick(columns: Iterable[Any], names: Sequence[str], what: str) -> str:
    low = {str(c).lower(): c for c in columns}
    for n in names:
        if n in low:
            return low[n]
    raise ConfigError(f"pairs file has no {what} column", hint="valid names: " + ", ".join(names))


def _parse_pref(values: Iterable[Any], a_keys: Sequence[str], b_keys: Sequence[str]) -> np.ndarray:
    out = []
    for v, a, b in zip(values, a_keys, b_keys):
        s = str(v).strip()
        low = s.lower()
        if low in _A_WINS:
            out.append(True)
        elif low in _B_WINS:
            out.append(False)
        elif s in (a, b):
            out.append(s == a)
        else:
            raise ConfigError(
                f"cannot read preference {v!r}",
                hint="use a/b, 1/0 (or -1), true/false, or the id of the better recording",
            )
    return np.array(out, dtype=bool)


def read_pairs(
    pairs: pd.DataFrame | str | os.PathLike,
    recordings: pd.DataFrame,
    *,
    base_dir: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Read a pairs table and resolve both sides to recording ids.

    Recordings are matched like :func:`~embedstore.labels.join_labels` does (id, path, file name, stem, metadata
    column; see :func:`~embedstore.labels.keys.resolve_keys`).

    Parameters
    ----------
    pairs : pandas.DataFrame, str or os.PathLike
        The pairs table, or its file (read with :func:`embedstore.tables.read_table`).
    recordings : pandas.DataFrame
        The store's recordings table.
    base_dir : str or os.PathLike, optional
        Folder relative paths are relative to (default: the pairs file's folder).

    Returns
    -------
    pandas.DataFrame
        Columns ``a``, ``b`` (recording ids) and ``a_better`` (bool); unmatched pairs and pairs of a recording
        with itself are dropped (their count is in ``frame.attrs["dropped"]``).

    Raises
    ------
    ConfigError
        For a missing column, an unreadable preference, or when no pair matches two recordings.
    """
    import pandas as pd

    if not isinstance(pairs, pd.DataFrame):
        base_dir = Path(pairs).resolve().parent if base_dir is None else base_dir
        pairs = read_table(
            pairs, what="pairs file", text_columns=PAIR_A_COLUMNS + PAIR_B_COLUMNS + _KEY_PREFERENCES
        )
    ca = _pick(pairs.columns, PAIR_A_COLUMNS, "recording A")
    cb = _pick(pairs.columns, PAIR_B_COLUMNS, "recording B")
    cp = _pick(pairs.columns, PREFERENCE_COLUMNS, "preference")
    a_keys, b_keys = normalise_keys(pairs[ca]), normalise_keys(pairs[cb])
    pref = _parse_pref(pairs[cp], list(a_keys), list(b_keys))
    base = Path(base_dir).resolve() if base_dir else None
    resolved = [resolve_keys(side, recordings, base_dir=base) for side in (a_keys, b_keys)]
    df = pd.DataFrame({"a": resolved[0], "b": resolved[1], "a_better": pref})
    ok = df["a"].notna() & df["b"].notna() & (df["a"] != df["b"])
    out = df[ok].reset_index(drop=True)
    out.attrs["dropped"] = int((~ok).sum())
    if out.empty:
        raise ConfigError(
            "no pair matched two recordings of the store",
            hint="pairs name recordings by recording_id, path, file name or a metadata column",
        )
    return out


def derive_pairs(
    frame: pd.DataFrame,
    column: str,
    *,
    within: str = "segment_id",
    min_diff: float = 0.0,
    higher_is_better: bool = True,
) -> pd.DataFrame:
    """Ranking pairs from rating differences between recordings of the same passage.

    Parameters
    ----------
    frame : pandas.DataFrame
        With ``recording_id``, ``column`` and ``within``.
    column : str
        Rating column (e.g. ``Interpretation_Unsatisfactory/doubtful_Convincing``); non-numeric ratings are
        skipped.
    within : str
        Only recordings sharing this column's value are paired (the same passage played by different
        performers); rows with an empty value are skipped.
    min_diff : float
        Pairs whose ratings differ by no more than this (rating units) are skipped; ties always are.
    higher_is_better : bool
        The preference direction of the rating.

    Returns
    -------
    pandas.DataFrame
        ``a``, ``b``, ``a_better`` (bool), ``diff`` (rating A - rating B), ``within``. Pairs are oriented by
        recording id, so ``a_better`` is not constant.

    Raises
    ------
    ConfigError
        For a missing column, or when no two recordings of a passage differ.
    """
    import pandas as pd

    for c in ("recording_id", column, within):
        if c not in frame.columns:
            raise ConfigError(
                f"cannot derive pairs: no column {c!r}",
                hint="columns: " + ", ".join(map(str, frame.columns[:40])),
            )
    df = frame[["recording_id", column, within]].copy()
    df[column] = pd.to_numeric(df[column], errors="coerce")
    df = df.dropna()
    rows = []
    for key, g in df.groupby(within, sort=True):
        g = g.sort_values("recording_id")
        ids = g["recording_id"].astype(str).to_numpy()
        vals = g[column].to_numpy(float)
        for i in range(len(ids)):
            for j in range(i + 1, len(ids)):
                d = vals[i] - vals[j]
                if abs(d) <= min_diff or d == 0:
                    continue
                better = (d > 0) if higher_is_better else (d < 0)
                rows.append(
                    {"a": ids[i], "b": ids[j], "a_better": bool(better), "diff": float(d), "within": str(key)}
                )
    out = pd.DataFrame(rows, columns=["a", "b", "a_better", "diff", "within"])
    if out.empty:
        raise ConfigError(f"no pairs: no two recordings of the same {within!r} differ in {column!r}")
    return out
