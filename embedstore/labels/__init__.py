"""Label files: read them and join them to the recordings of a store.

A label file is a table (CSV, TSV, JSON records, JSON lines or Parquet, read by
:func:`embedstore.tables.read_table`; a JSON object of records puts its keys in a column ``id``) with one row per
recording (or per piece, with ``on="piece_id"``). Rows are joined to recordings by one of

- ``recording_id`` (the store's content-derived id),
- a path column (``path``, ``audio``, ``file``...; relative paths are resolved against the label file's folder),
- a file name or file stem (``file_name``, ``id``, ``clip_id``... compared with the recording's file name/stem),
- a metadata column that the store's recordings table holds too (e.g. ``clip_id`` from the indexing manifest).

With ``on=None`` every candidate column and match rule is tried and the one matching the most rows wins.

Modules
    - :mod:`~embedstore.labels.keys`     resolving keys (ids, paths, file names, metadata values) to recordings
    - :mod:`~embedstore.labels.join`     :func:`join_labels`: label table + recordings -> labelled recordings
    - :mod:`~embedstore.labels.targets`  target columns, technique labels (PLD layout), grouping aliases
    - :mod:`~embedstore.labels.pairs`    ranking pairs read from a table or derived from ratings
"""

from __future__ import annotations

from embedstore.labels.join import LabelJoin, join_labels
from embedstore.labels.keys import resolve_keys
from embedstore.labels.pairs import derive_pairs, read_pairs
from embedstore.labels.targets import (
    GROUP_ALIASES,
    PLD_TECHNIQUES,
    expand_targets,
    group_column,
    technique_matrix,
)
from embedstore.tables import KEY_COLUMNS, read_table

__all__ = [
    "KEY_COLUMNS",
    "GROUP_ALIASES",
    "PLD_TECHNIQUES",
    "LabelJoin",
    "read_table",
    "join_labels",
    "resolve_keys",
    "group_column",
    "expand_targets",
    "technique_matrix",
    "read_pairs",
    "derive_pairs",
]
