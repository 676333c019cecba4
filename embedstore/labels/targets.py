"""Which label columns are targets and groups: name patterns, technique labels, grouping aliases.

Technique labels may come in the PLD layout (Piano technique dataset of the PianoJudges benchmark): one-hot 0/1
columns, one per technique (``Scales``, ``Arpeggios``, ``Ornaments``, ``Repeatednotes``, ``Doublenotes``,
``Octave``, ``Staccato``), optionally with a ``technique`` text column such as ``Arpeggios|Staccato``. The label
set is whatever the file holds.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from embedstore.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "PLD_TECHNIQUES",
    "GROUP_ALIASES",
    "group_column",
    "expand_targets",
    "is_binary",
    "technique_matrix",
]

#: The seven technique classes of the seed paper's PLD data, in its column order.
PLD_TECHNIQUES = ("Scales", "Arpeggios", "Ornaments", "Repeatednotes", "Doublenotes", "Octave", "Staccato")

#: Short names of the grouping columns of leakage-safe splits.
GROUP_ALIASES = {"piece": "piece_id", "performer": "performer_code", "recording": "recording_id"}


def group_column(group_by: str) -> str:
    """The column a grouping name stands for (``piece`` -> ``piece_id``, ``performer`` -> ``performer_code``,
    ``recording`` -> ``recording_id``; any other name is a column itself)."""
    return GROUP_ALIASES.get(group_by, group_by)


def expand_targets(columns: Iterable[object], spec: str | list[str] | None) -> list[str]:
    """Target column names from names or fnmatch patterns.

    Parameters
    ----------
    columns : iterable
        The table's column names.
    spec : str, list of str or None
        A comma-separated string or a list of names or patterns (``Timbre_*``).

    Returns
    -------
    list of str
        Matching columns in the order named, each once; empty for ``None``.

    Raises
    ------
    ConfigError
        For a name or pattern matching no column (the hint lists the columns).
    """
    if spec is None:
        return []
    items = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s and s.strip()]
    cols = [str(c) for c in columns]
    out: list[str] = []
    for it in items:
        hits = [it] if it in cols else [c for c in cols if fnmatch.fnmatchcase(c, it)]
        if not hits:
            raise ConfigError(f"no label column {it!r}", hint="columns: " + ", ".join(cols[:40]))
        out += [h for h in hits if h not in out]
    return out


def is_binary(s: pd.Series) -> bool:
    """Whether every value of a column is 0 or 1 (as numbers or numeric text; a missing value is not)."""
    import pandas as pd

    v = pd.to_numeric(s, errors="coerce")
    if v.isna().any():
        return False
    return bool(np.isin(v.to_numpy(), (0, 1)).all())


def technique_matrix(
    frame: pd.DataFrame, *, classes: str | list[str] | None = None, column: str = "technique", sep: str = "|"
) -> tuple[np.ndarray, list[str]]:
    """Multi-hot technique labels from one-hot columns (PLD layout) or a ``technique`` text column.

    Parameters
    ----------
    frame : pandas.DataFrame
        n rows.
    classes : str, list of str or None
        Names or patterns of the one-hot columns; default: the PLD technique columns present in ``frame``, else
        the label set found in ``column``.
    column : str
        Text column with the techniques of each row, separated by ``sep``, ``,`` or ``;``.
    sep : str

    Returns
    -------
    Y : np.ndarray, shape (n, k), int8
        1 where a row has the class.
    names : list of str
        The k class names.

    Raises
    ------
    ConfigError
        For named columns that are not 0/1, or when no technique label is found.
    """
    import pandas as pd

    if classes is not None:
        names = expand_targets(frame.columns, classes)
        bad = [c for c in names if not is_binary(frame[c])]
        if bad:
            raise ConfigError(f"technique columns must hold 0/1 values: {', '.join(bad)}")
        return frame[names].apply(pd.to_numeric).to_numpy(np.int8), names
    pld = [c for c in PLD_TECHNIQUES if c in frame.columns and is_binary(frame[c])]
    if pld:
        return frame[pld].apply(pd.to_numeric).to_numpy(np.int8), pld
    if column in frame.columns:
        texts = frame[column].fillna("").astype(str)
        seps = [sep, ",", ";"]

        def split(t: str) -> list[str]:
            parts = [t]
            for s in seps:
                parts = [q for p in parts for q in p.split(s)]
            return [p.strip() for p in parts if p.strip()]

        lists = [split(t) for t in texts]
        found = sorted({x for row in lists for x in row})
        if found:
            Y = np.array([[int(n in row) for n in found] for row in lists], dtype=np.int8)
            return Y, found
    raise ConfigError(
        "no technique labels found",
        hint="give one-hot 0/1 columns with --target Scales,Arpeggios,... (PLD layout) or a "
        f"{column!r} column such as 'Arpeggios|Staccato'",
    )
