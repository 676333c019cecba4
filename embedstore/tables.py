"""Read a table file into a DataFrame: the one reader of metadata sidecars and label files.

Formats (by suffix, case-insensitive): ``.csv`` / ``.txt`` (comma-separated), ``.tsv`` (tab-separated), ``.json``
(a list of records, or an object mapping a key to a record), ``.jsonl`` (one record per line) and ``.parquet``.

Rules, the same for every caller (a file that breaks one gets a :class:`~embedstore.errors.ConfigError` naming
the file and, where it can, the row or column):

- **File**: it must be an existing regular file with one of the suffixes above.
- **Encoding**: text formats are UTF-8; a leading byte-order mark is dropped. Other bytes are an error (save the
  file as UTF-8).
- **Delimiter**: the header line decides. A ``.csv``/``.txt`` file whose header holds no comma but exactly one of
  tab, ``;`` or ``|`` is split on that (spreadsheet exports); likewise a ``.tsv`` whose header holds no tab. A
  header holding none of them is one column; one holding several but not the suffix's is ambiguous (error).
- **Columns**: names must be unique (in a JSON object too). A column with a blank name is dropped when it holds
  no value (a trailing delimiter) and is an error otherwise (e.g. a pandas index written without ``index=False``).
- **Rows**: a table without rows is an error; a CSV row with more fields than the header is an error.
- **Identifier columns** (:data:`IDENTIFIER_COLUMNS`: ids, paths, file names, piece / performer / segment ids) are
  text in every format, read verbatim: ``001`` keeps its zeros and ``NA`` or ``None`` is an id like any other;
  only an empty cell (or JSON ``null``) is missing. A JSON or Parquet whole-number id becomes its digits; any
  other non-text id is an error.
- **Missing values**: empty cells, JSON ``null`` and keys absent from a record (sparse records) are missing
  (NaN / None); in other CSV columns pandas' usual markers (``NA``, ``n/a``, ``null``...) are missing too.
- **Types**: CSV columns are typed by pandas (numbers where every value is a number, else text). A JSON column must
  hold one kind of value: numbers, text, booleans or nested lists/objects (besides missing values); a column mixing
  kinds (``1`` and ``"x"``) is an error, so a value is never silently turned into text or dropped.
- **JSON layout**: an object of records puts each key in the column ``key_column`` (a non-object value goes in a
  column ``value``); a record that holds ``key_column`` with another value is an error.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embedstore.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "TABLE_SUFFIXES",
    "PATH_COLUMNS",
    "ID_COLUMNS",
    "KEY_COLUMNS",
    "GROUP_COLUMNS",
    "IDENTIFIER_COLUMNS",
    "read_table",
]

#: Suffixes :func:`read_table` reads.
TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".json", ".jsonl", ".parquet")

#: Columns naming a recording's file (metadata joins on the first present, in this order).
PATH_COLUMNS = ("path", "audio", "file", "filename", "file_name", "audio_path")
#: Columns naming a recording by an id (metadata joins on the first present when no path matches).
ID_COLUMNS = ("clip_id", "id", "recording", "name", "segment", "recording_id")
#: Label-file columns tried, in order, as join keys (see :func:`embedstore.labels.join_labels`).
KEY_COLUMNS = (
    "recording_id",
    "path",
    "audio",
    "file",
    "filepath",
    "file_path",
    "audio_path",
    "filename",
    "file_name",
    "clip_id",
    "id",
    "name",
    "stem",
    "track_id",
)
#: Columns grouping recordings for leakage-safe splits.
GROUP_COLUMNS = ("piece_id", "performer_code", "segment_id")
#: Columns read as text in every format.
IDENTIFIER_COLUMNS: frozenset[str] = frozenset(PATH_COLUMNS + ID_COLUMNS + KEY_COLUMNS + GROUP_COLUMNS)

_DELIMITERS = (",", "\t", ";", "|")
_SHOWN = {",": "','", "\t": "tab", ";": "';'", "|": "'|'"}


@dataclass(frozen=True)
class _Source:
    """The file being read, what it is (for messages) and its extra identifier columns."""

    path: Path
    what: str
    text_columns: frozenset[str] = frozenset()

    def fail(self, problem: str, hint: str | None = None) -> ConfigError:
        return ConfigError(f"cannot read {self.what} {self.path}: {problem}", hint=hint)

    def is_identifier(self, column: object) -> bool:
        return column in IDENTIFIER_COLUMNS or str(column).lower() in self.text_columns


def _text(src: _Source) -> str:
    data = src.path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise src.fail(
            f"not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start})",
            hint="save the file with UTF-8 encoding",
        ) from None


def _delimiter(header: str, suffix: str, src: _Source) -> str:
    default = "\t" if suffix == ".tsv" else ","
    if default in header:
        return default
    found = [d for d in _DELIMITERS if d in header]
    if not found:
        return default
    if len(found) > 1:
        shown = " and ".join(_SHOWN[d] for d in found)
        raise src.fail(
            f"the header holds no {_SHOWN[default]} but both {shown}: which separates the columns?",
            hint="export the table again with one separator",
        )
    return found[0]


def _check_names(names: list[str], src: _Source) -> None:
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise src.fail(f"duplicate column names: {', '.join(map(repr, dup))}", hint="name every column once")


def _read_csv(src: _Source, suffix: str) -> pd.DataFrame:
    import pandas as pd

    text = _text(src)
    if not text.strip():
        raise src.fail("the file is empty", hint="export the table again")
    header = text.splitlines()[0]
    sep = _delimiter(header, suffix, src)
    names = next(csv.reader([header], delimiter=sep))
    _check_names([n for n in names if n.strip()], src)
    idents = [n for n in names if src.is_identifier(n)]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            df = pd.read_csv(io.StringIO(text), sep=sep, index_col=False, dtype={c: str for c in idents})
            if idents:  # identifiers verbatim: only an empty cell is missing
                raw = pd.read_csv(
                    io.StringIO(text),
                    sep=sep,
                    index_col=False,
                    usecols=idents,
                    dtype=str,
                    keep_default_na=False,
                    na_values=[""],
                )
                for c in idents:
                    df[c] = raw[c]
    except pd.errors.ParserWarning:
        raise src.fail(
            f"the rows have more fields than the header's {len(names)}", hint="name every column"
        ) from None
    except ValueError as e:  # pandas' ParserError: "... C error: Expected 2 fields in line 3, saw 3"
        problem = str(e).strip().rpartition("error: ")[2] or type(e).__name__
        raise src.fail(problem, hint="give every row the header's number of fields") from None
    blank = [i for i, n in enumerate(names) if not n.strip()]
    if blank:
        cols = [df.columns[i] for i in blank]
        filled = [i + 1 for i, c in zip(blank, cols) if df[c].notna().any()]
        if filled:
            raise src.fail(
                f"column {filled[0]} has values but no name",
                hint="name every column (a pandas index? write it with index=False)",
            )
        df = df.drop(columns=cols)
    return df


def _no_duplicate_keys(src: _Source, where: str = "") -> Any:
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        dup = sorted({k for k in keys if keys.count(k) > 1})
        if dup:
            raise src.fail(f"duplicate key {dup[0]!r} in one JSON object{where}", hint="keep one")
        return dict(pairs)

    return hook


def _json_records(src: _Source, key_column: str, jsonl: bool) -> list[dict[str, Any]]:
    text = _text(src)
    if jsonl:
        records = []
        for i, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line, object_pairs_hook=_no_duplicate_keys(src, f" (line {i})"))
            except json.JSONDecodeError as e:
                raise src.fail(f"line {i} is not JSON ({e.msg})") from None
            if not isinstance(rec, dict):
                raise src.fail(f"line {i} is not a JSON object")
            records.append(rec)
        return records
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys(src))
    except json.JSONDecodeError as e:
        raise src.fail(f"not JSON ({e.msg} at line {e.lineno})") from None
    if isinstance(data, dict):
        records = []
        for k, v in data.items():
            rec = dict(v) if isinstance(v, dict) else {"value": v}
            if key_column in rec and str(rec[key_column]) != str(k):
                raise src.fail(
                    f"record {k!r} holds {key_column}={rec[key_column]!r}",
                    hint=f"drop {key_column} from the records or make it equal to their keys",
                )
            records.append({key_column: str(k), **{c: x for c, x in rec.items() if c != key_column}})
        return records
    if isinstance(data, list) and all(isinstance(r, dict) for r in data):
        return data
    raise src.fail(
        "expected a list of records or an object of records",
        hint=f'write [{{"{key_column}": ..., "column": ...}}, ...] or {{"key": {{"column": ...}}, ...}}',
    )


def _kind(v: Any) -> str | None:
    if v is None or (isinstance(v, float | np.floating) and math.isnan(v)):
        return None
    if isinstance(v, bool | np.bool_):
        return "boolean"
    if isinstance(v, int | float | np.integer | np.floating):
        return "number"
    if isinstance(v, str):
        return "text"
    return "list/object"


def _identifier(v: Any, col: str, row: int, src: _Source) -> str | None:
    kind = _kind(v)
    if kind is None or kind == "text":
        return v if kind else None
    if kind == "number" and float(v).is_integer():
        return str(int(v))
    raise src.fail(f"row {row}: {col}={v!r} is not an identifier", hint=f"write {col} values as text")


def _check_kinds(records: list[dict[str, Any]], src: _Source) -> None:
    first: dict[str, tuple[str, int]] = {}
    for i, rec in enumerate(records, start=1):
        for c, v in rec.items():
            if src.is_identifier(c):
                rec[c] = _identifier(v, c, i, src)
                continue
            kind = _kind(v)
            if kind is None:
                continue
            seen = first.setdefault(c, (kind, i))
            if seen[0] != kind:
                raise src.fail(
                    f"column {c!r} mixes {seen[0]} (row {seen[1]}) and {kind} (row {i}: {v!r})",
                    hint="give each column values of one kind",
                )


def _read_parquet(src: _Source) -> pd.DataFrame:
    import pandas as pd

    try:
        df = pd.read_parquet(src.path)
    except Exception as e:  # noqa: BLE001 - pyarrow raises many types for damaged files
        raise src.fail(str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__) from None
    _check_names([str(c) for c in df.columns], src)
    for c in df.columns:
        if src.is_identifier(c) and pd.api.types.is_numeric_dtype(df[c]):
            df[c] = pd.Series([_identifier(v, c, i, src) for i, v in enumerate(df[c], 1)], dtype=object)
    return df


def read_table(
    path: str | os.PathLike,
    *,
    what: str = "table",
    key_column: str = "id",
    text_columns: Iterable[str] = (),
) -> pd.DataFrame:
    """Read a CSV / TSV / JSON / JSON-lines / Parquet table by the rules of this module.

    Parameters
    ----------
    path : str or os.PathLike
    what : str
        What the file is, for messages (``'metadata file'``, ``'label file'``...).
    key_column : str
        Column receiving the keys of a JSON object of records.
    text_columns : iterable of str
        More columns (names compared case-insensitively) read as identifiers, besides
        :data:`IDENTIFIER_COLUMNS`.

    Returns
    -------
    pandas.DataFrame
        One row per record, at least one row; identifier columns as text (``object`` dtype, missing = NaN or
        None).

    Raises
    ------
    ConfigError
        For a missing file, an unknown suffix, or a file breaking one of the rules.
    """
    import pandas as pd

    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{what} not found: {p}", hint="check the path")
    if not p.is_file():
        raise ConfigError(f"{what} is not a file: {p}")
    suffix = p.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ConfigError(
            f"unsupported {what} type {suffix or p.name!r}: {p}; valid: {', '.join(TABLE_SUFFIXES)}",
            hint="convert it to CSV",
        )
    src = _Source(p, what, frozenset(c.lower() for c in text_columns))
    if suffix == ".parquet":
        df = _read_parquet(src)
    elif suffix in (".json", ".jsonl"):
        records = _json_records(src, key_column, jsonl=suffix == ".jsonl")
        _check_kinds(records, src)
        df = pd.DataFrame(records)
    else:
        df = _read_csv(src, suffix)
    if df.empty:
        raise ConfigError(f"{what} {p} has no rows", hint="add one row per recording")
    return df
