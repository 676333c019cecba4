"""User metadata sidecars (CSV, TSV, JSON, JSON lines, Parquet) joined to recordings by path, file name or stem.

The file is read by :func:`embedstore.tables.read_table` (its rules: UTF-8, unique column names, identifiers kept
as text, at least one row...); a JSON object of records puts its keys in a column ``name``.

Join order for each audio file: (1) a path column (:data:`~embedstore.tables.PATH_COLUMNS`: ``path``, ``audio``,
``file``...) resolved relative to the sidecar's folder equals the file's absolute path; (2) the same column's file
name equals the file's name; (3) the file's stem equals the path column's stem or an id column's value
(:data:`~embedstore.tables.ID_COLUMNS`: ``clip_id``, ``id``, ``recording``, ``name``...). Two rows for the same path
or id count once when they agree and are an error when they differ (which would a recording get?). Columns that clash with the store's own recording columns
are renamed ``meta_<name>``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embedstore.errors import ConfigError
from embedstore.tables import ID_COLUMNS, PATH_COLUMNS, read_table

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["PATH_COLUMNS", "ID_COLUMNS", "MetadataIndex", "read_metadata"]


def read_metadata(path: str | os.PathLike) -> pd.DataFrame:
    """Read a metadata sidecar (see :func:`embedstore.tables.read_table`; JSON object keys go in ``name``).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    pandas.DataFrame
        One row per recording described.

    Raises
    ------
    ConfigError
        For a file :func:`~embedstore.tables.read_table` refuses.
    """
    return read_table(path, what="metadata file", key_column="name")


def _clean(v: Any) -> Any:
    """A cell as a plain Python value; missing values (NaN) as ``None``."""
    if v is None:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if hasattr(v, "item"):
        v = v.item()
        return None if isinstance(v, float) and math.isnan(v) else v
    return v


class MetadataIndex:
    """Lookup of metadata rows for audio files.

    Parameters
    ----------
    df : pandas.DataFrame
        The sidecar's rows.
    base_dir : str or os.PathLike
        Folder that relative paths in the path column are relative to (the sidecar's folder).
    reserved : iterable of str
        Column names of the store's own; sidecar columns of these names are renamed ``meta_<name>``.

    Raises
    ------
    ConfigError
        When no column can be joined on, or two differing rows name the same path or id.
    """

    def __init__(
        self, df: pd.DataFrame, base_dir: str | os.PathLike, *, reserved: Iterable[str] = ()
    ) -> None:
        self.df = df
        self.base_dir = Path(base_dir)
        reserved_set = set(reserved)
        rename = {c: f"meta_{c}" for c in df.columns if c in reserved_set}
        self.columns = [rename.get(c, c) for c in df.columns]
        self._rename = rename
        self.by_path: dict[str, int] = {}
        self.by_name: dict[str, int] = {}
        self.by_stem: dict[str, int] = {}
        self._ambiguous: set[str] = set()
        #: File names/stems that matched several sidecar rows when looked up (the first row was used).
        self.ambiguous_hits: set[str] = set()
        pcol = next((c for c in PATH_COLUMNS if c in df.columns), None)
        icol = next((c for c in ID_COLUMNS if c in df.columns), None)
        if pcol is None and icol is None:
            raise ConfigError(
                "metadata has no column to join on",
                hint=f"add one of {', '.join(PATH_COLUMNS + ID_COLUMNS)}",
            )
        ids: dict[str, int] = {}
        for i, row in enumerate(df.itertuples(index=False)):
            r = dict(zip(df.columns, row))
            if pcol and isinstance(r[pcol], str):
                p = Path(r[pcol])
                full = str((p if p.is_absolute() else (self.base_dir / p)).resolve())
                self._unique(self.by_path, full, i, pcol)
                for index, key in ((self.by_name, p.name), (self.by_stem, p.stem)):
                    if index.setdefault(key, i) != i:
                        self._ambiguous.add(key)
            if icol and isinstance(r[icol], str):
                self._unique(ids, r[icol], i, icol)
                self.by_stem.setdefault(r[icol], i)

    def _unique(self, index: dict[str, int], key: str, row: int, column: str) -> None:
        """Index ``key`` -> ``row``; a repeated key is fine on an identical row, an error otherwise."""
        if key not in index:
            index[key] = row
            return
        pair = self.df.iloc[[index[key], row]].astype(str)
        if not pair.duplicated().iloc[1]:
            raise ConfigError(
                f"metadata rows {index[key] + 1} and {row + 1} both describe {column}={key!r}, differently",
                hint="keep one row per recording",
            )

    @classmethod
    def from_file(cls, path: str | os.PathLike, *, reserved: Iterable[str] = ()) -> MetadataIndex:
        """Read a sidecar (:func:`read_metadata`) and index it; relative paths are relative to its folder."""
        return cls(read_metadata(path), Path(path).resolve().parent, reserved=reserved)

    def lookup(self, audio_path: str | os.PathLike) -> dict[str, Any] | None:
        """The metadata row of an audio file.

        Parameters
        ----------
        audio_path : str or os.PathLike

        Returns
        -------
        dict or None
            Column (renamed where reserved) -> plain Python value (missing values as ``None``); ``None`` when no
            row matches the file's path, name or stem.
        """
        p = Path(audio_path)
        i = self.by_path.get(str(p.resolve()))
        if i is None:
            i = self.by_name.get(p.name)
            if i is not None and p.name in self._ambiguous:
                self.ambiguous_hits.add(p.name)
        if i is None:
            i = self.by_stem.get(p.stem)
            if i is not None and p.stem in self._ambiguous:
                self.ambiguous_hits.add(p.stem)
        if i is None:
            return None
        row = self.df.iloc[i].to_dict()
        return {self._rename.get(k, k): _clean(v) for k, v in row.items()}
