"""User metadata sidecars (CSV, JSON list, JSON lines) joined to recordings by path, file name or stem.

Join order for each audio file: (1) a path column (``path``, ``audio``, ``file``, ``filename``, ``file_name``)
resolved relative to the sidecar's folder equals the file's absolute path; (2) the same column's file name equals
the file's name; (3) an id column (``clip_id``, ``id``, ``recording``, ``name``) equals the file's stem.
Columns that clash with the store's own recording columns are renamed ``meta_<name>``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

from embedstore.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

PATH_COLUMNS = ("path", "audio", "file", "filename", "file_name", "audio_path")
ID_COLUMNS = ("clip_id", "id", "recording", "name", "segment", "recording_id")


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV / TSV / JSON / JSONL sidecar into a DataFrame (strings kept as strings)."""
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"metadata file not found: {p}")
    suf = p.suffix.lower()
    try:
        if suf in (".csv", ".tsv", ".txt"):
            return pd.read_csv(p, sep="\t" if suf == ".tsv" else ",")
        if suf == ".jsonl":
            return pd.read_json(p, lines=True)
        if suf == ".json":
            data = json.loads(p.read_text())
            if isinstance(data, dict):  # {name: {col: value}} mapping
                data = [{"name": k, **(v if isinstance(v, dict) else {"value": v})} for k, v in data.items()]
            return pd.DataFrame(data)
    except (ValueError, OSError) as e:
        raise ConfigError(f"cannot read metadata {p}: {e}") from e
    raise ConfigError(f"unsupported metadata format {suf!r}; valid: .csv, .tsv, .json, .jsonl")


def _clean(v):
    if v is None:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if hasattr(v, "item"):
        return v.item()
    return v


class MetadataIndex:
    """Lookup of metadata rows for audio files."""

    def __init__(self, df: pd.DataFrame, base_dir: Path, *, reserved=()):
        self.df = df
        self.base_dir = Path(base_dir)
        rename = {c: f"meta_{c}" for c in df.columns if c in set(reserved)}
        self.columns = [rename.get(c, c) for c in df.columns]
        self._rename = rename
        self.by_path: dict[str, int] = {}
        self.by_name: dict[str, int] = {}
        self.by_stem: dict[str, int] = {}
        pcol = next((c for c in PATH_COLUMNS if c in df.columns), None)
        icol = next((c for c in ID_COLUMNS if c in df.columns), None)
        for i, row in enumerate(df.itertuples(index=False)):
            r = dict(zip(df.columns, row))
            if pcol and isinstance(r[pcol], str):
                p = Path(r[pcol])
                full = p if p.is_absolute() else (self.base_dir / p)
                self.by_path[str(full.resolve())] = i
                self.by_name.setdefault(p.name, i)
                self.by_stem.setdefault(p.stem, i)
            if icol and r[icol] is not None:
                self.by_stem.setdefault(str(r[icol]), i)
        if pcol is None and icol is None:
            raise ConfigError(
                "metadata has no column to join on",
                hint=f"add one of {', '.join(PATH_COLUMNS + ID_COLUMNS)}",
            )

    @classmethod
    def from_file(cls, path: str | Path, *, reserved=()) -> MetadataIndex:
        return cls(read_table(path), Path(path).resolve().parent, reserved=reserved)

    def lookup(self, audio_path: str | Path) -> dict | None:
        p = Path(audio_path)
        i = self.by_path.get(str(p.resolve()))
        if i is None:
            i = self.by_name.get(p.name)
        if i is None:
            i = self.by_stem.get(p.stem)
        if i is None:
            return None
        row = self.df.iloc[i].to_dict()
        return {self._rename.get(k, k): _clean(v) for k, v in row.items()}
