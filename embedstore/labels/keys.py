"""Resolving the keys of a label or pairs file to the store's recordings.

A key names a recording by its ``recording_id``, its path (relative paths resolved against a base folder), its
file name, its file stem, or the value of a metadata column the recordings table holds (e.g. ``clip_id``). Keys
are compared as stripped text; a key matching several recordings matches none.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "normalise_keys",
    "file_name",
    "file_stem",
    "is_text_column",
    "resolve_path",
    "candidate_maps",
    "column_map",
    "resolve_keys",
]

#: rule -> normalised key -> recording ids
KeyMaps = dict[str, dict[str, list[str]]]


def normalise_keys(values: Iterable[Any]) -> np.ndarray:
    """Keys as stripped text; missing values (None, NaN) as ``''``.

    Parameters
    ----------
    values : iterable

    Returns
    -------
    np.ndarray, shape (n,), object
    """
    return np.array(
        ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip() for v in values],
        dtype=object,
    )


def file_name(key: str) -> str:
    """The last component of a path written with ``/`` or ``\\``."""
    return key.replace("\\", "/").rsplit("/", 1)[-1]


def file_stem(key: str) -> str:
    """The file name without its last suffix."""
    name = file_name(key)
    return name.rsplit(".", 1)[0] if "." in name else name


def is_text_column(s: pd.Series) -> bool:
    """Whether a column holds text (object or string dtype)."""
    import pandas as pd

    return bool(pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s))


def resolve_path(key: str, base_dir: Path | None) -> str:
    """A path key as an absolute path (relative to ``base_dir``); ``''`` stays ``''``."""
    if not key:
        return key
    p = Path(key)
    if not p.is_absolute() and base_dir is not None:
        p = base_dir / p
    try:
        return str(p.resolve())
    except OSError:
        return str(p)


def _add(m: dict[str, list[str]], keys: Iterable[str], ids: Iterable[str]) -> dict[str, list[str]]:
    for k, rid in zip(keys, ids):
        if k:
            m.setdefault(k, []).append(rid)
    return m


def column_map(recordings: pd.DataFrame, column: str) -> dict[str, list[str]]:
    """Normalised values of one recordings column -> the ids of the recordings holding them."""
    return _add({}, normalise_keys(recordings[column]), recordings["recording_id"].astype(str))


def candidate_maps(recordings: pd.DataFrame) -> KeyMaps:
    """For each match rule (``recording_id``, ``path``, ``file_name``, ``stem``), a map from key to recording ids.

    Parameters
    ----------
    recordings : pandas.DataFrame
        Needs ``recording_id``; ``path`` and ``file_name`` add their rules.

    Returns
    -------
    dict
        Rule -> normalised key -> recording ids.
    """
    ids = list(recordings["recording_id"].astype(str))
    maps: KeyMaps = {"recording_id": _add({}, ids, ids)}
    if "path" in recordings:
        maps["path"] = column_map(recordings, "path")
    if "file_name" in recordings:
        names = normalise_keys(recordings["file_name"])
        maps["file_name"] = _add({}, names, ids)
        maps["stem"] = _add({}, [file_stem(n) for n in names], ids)
    return maps


def resolve_keys(
    keys: Iterable[Any], recordings: pd.DataFrame, *, base_dir: str | os.PathLike | None = None
) -> list[str | None]:
    """Resolve each key on its own to a recording id.

    Rules, in order: recording id, path (relative to ``base_dir``), file name, file stem, then any text
    metadata column of ``recordings`` (e.g. ``clip_id``).

    Parameters
    ----------
    keys : iterable
    recordings : pandas.DataFrame
        The store's recordings table (needs ``recording_id``).
    base_dir : str or os.PathLike, optional
        Folder relative paths are relative to.

    Returns
    -------
    list of str or None
        The recording id of each key; ``None`` when no single recording matches.
    """
    recordings = recordings.assign(recording_id=recordings["recording_id"].astype(str))
    base = Path(base_dir).resolve() if base_dir is not None else None
    maps = candidate_maps(recordings)
    meta = [
        column_map(recordings, str(c))
        for c in recordings.columns
        if c not in ("recording_id", "path", "file_name") and is_text_column(recordings[c])
    ]
    out: list[str | None] = []
    for v in normalise_keys(keys):
        hit = None
        if v:
            for rule, key in (
                ("recording_id", v),
                ("path", resolve_path(v, base)),
                ("file_name", file_name(v)),
                ("stem", file_stem(v)),
            ):
                h = maps.get(rule, {}).get(key)
                if h and len(h) == 1:
                    hit = h[0]
                    break
            if hit is None:
                for m in meta:
                    h = m.get(v)
                    if h and len(h) == 1:
                        hit = h[0]
                        break
        out.append(hit)
    return out
