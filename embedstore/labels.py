"""Label files: read them and join them to the recordings of a store.

A label file is a table (CSV, TSV, JSON records, JSON lines or Parquet) with one row per recording (or per piece,
with ``on="piece_id"``). Rows are joined to recordings by one of

- ``recording_id`` (the store's content-derived id),
- a path column (``path``, ``audio``, ``file``...; relative paths are resolved against the label file's folder),
- a file name or file stem (``file_name``, ``id``, ``clip_id``... compared with the recording's file name/stem),
- a metadata column that the store's recordings table holds too (e.g. ``clip_id`` from the indexing manifest).

With ``on=None`` every candidate column and match rule is tried and the one matching the most rows wins.

Technique labels may come in the PLD layout (Piano technique dataset of the PianoJudges benchmark): one-hot 0/1
columns, one per technique (``Scales``, ``Arpeggios``, ``Ornaments``, ``Repeatednotes``, ``Doublenotes``,
``Octave``, ``Staccato``), optionally with a ``technique`` text column such as ``Arpeggios|Staccato``. The label
set is whatever the file holds.

Ranking pairs are a table with two recording columns and a preference column (see :func:`read_pairs`), or are
derived from a rating column within a passage (:func:`derive_pairs`).
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from embedstore.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

#: The seven technique classes of the seed paper's PLD data, in its column order.
PLD_TECHNIQUES = ("Scales", "Arpeggios", "Ornaments", "Repeatednotes", "Doublenotes", "Octave", "Staccato")

#: Label columns tried, in order, as join keys when ``on`` is not given.
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

GROUP_ALIASES = {"piece": "piece_id", "performer": "performer_code", "recording": "recording_id"}

_PAIR_A = ("a", "recording_a", "item_a", "a_id", "first", "left")
_PAIR_B = ("b", "recording_b", "item_b", "b_id", "second", "right")
_PAIR_PREF = ("a_better", "label", "y", "winner", "better", "preferred", "preference")


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a label table: ``.csv``, ``.tsv``, ``.json`` (records, or ``{key: {col: value}}``), ``.jsonl``,
    ``.parquet``. Identifier-like columns are read as strings."""
    import pandas as pd

    p = Path(path)
    if not p.exists():
        raise ConfigError(f"label file not found: {p}")
    suf = p.suffix.lower()
    try:
        if suf in (".csv", ".txt"):
            df = pd.read_csv(
                p, dtype={c: str for c in KEY_COLUMNS + ("performer_code", "piece_id", "segment_id")}
            )
        elif suf == ".tsv":
            df = pd.read_csv(p, sep="\t", dtype={c: str for c in KEY_COLUMNS})
        elif suf == ".jsonl":
            df = pd.read_json(p, lines=True)
        elif suf == ".json":
            data = json.loads(p.read_text())
            if isinstance(data, dict):
                df = pd.DataFrame(
                    [{"id": str(k), **(v if isinstance(v, dict) else {"value": v})} for k, v in data.items()]
                )
            else:
                df = pd.DataFrame(data)
        elif suf == ".parquet":
            df = pd.read_parquet(p)
        else:
            raise ConfigError(
                f"unsupported label file type {suf!r}; valid: .csv, .tsv, .json, .jsonl, .parquet"
            )
    except ConfigError:
        raise
    except Exception as e:  # noqa: BLE001
        raise ConfigError(f"cannot read label file {p}: {e}") from e
    if df.empty:
        raise ConfigError(f"label file {p} has no rows")
    return df


def group_column(group_by: str) -> str:
    """Resolve ``piece``/``performer``/``recording`` aliases to column names."""
    return GROUP_ALIASES.get(group_by, group_by)


@dataclass
class LabelJoin:
    """The result of joining a label table to the store's recordings."""

    frame: pd.DataFrame  # one row per matched recording: recordings columns, label columns override
    key: str  # label column used for the join
    matched_by: str  # "recording_id", "path", "file_name", "stem" or the metadata column's name
    n_label_rows: int
    unmatched: list[str] = field(default_factory=list)  # label keys that found no recording
    duplicates: list[str] = field(default_factory=list)  # recordings labelled more than once (first kept)

    def summary(self) -> str:
        s = (
            f"{len(self.frame)} recordings labelled from {self.n_label_rows} label rows "
            f"(column {self.key!r} matched by {self.matched_by})"
        )
        if self.unmatched:
            s += f"; {len(self.unmatched)} label rows matched no recording (e.g. {self.unmatched[0]!r})"
        return s


def _is_text(s) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s))


def _norm(values) -> np.ndarray:
    return np.array(
        ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip() for v in values],
        dtype=object,
    )


def _stem(v: str) -> str:
    name = v.replace("\\", "/").rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[0] if "." in name else name


def _candidate_maps(recordings: pd.DataFrame, base_dir: Path | None) -> dict[str, dict[str, list[str]]]:
    """For each match rule, a map from normalised key to recording ids."""
    maps: dict[str, dict[str, list[str]]] = {}

    def add(rule: str, keys, ids):
        m = maps.setdefault(rule, {})
        for k, rid in zip(keys, ids):
            if k:
                m.setdefault(k, []).append(rid)

    ids = list(recordings["recording_id"].astype(str))
    add("recording_id", ids, ids)
    if "path" in recordings:
        add("path", _norm(recordings["path"]), ids)
    if "file_name" in recordings:
        names = _norm(recordings["file_name"])
        add("file_name", names, ids)
        add("stem", [_stem(n) for n in names], ids)
    return maps


def _match_column(values: np.ndarray, col: str, recordings: pd.DataFrame, maps, base_dir: Path | None):
    """Best rule for one label column: (rule, list of matched recording ids or None per row, n_matched)."""
    best = (None, None, 0)
    rules: list[tuple[str, list]] = []
    rules.append(("recording_id", [maps["recording_id"].get(v) for v in values]))
    if "path" in maps:

        def resolve(v: str) -> str:
            if not v:
                return v
            p = Path(v)
            if not p.is_absolute() and base_dir is not None:
                p = base_dir / p
            try:
                return str(p.resolve())
            except OSError:
                return str(p)

        rules.append(("path", [maps["path"].get(resolve(v)) for v in values]))
    if "file_name" in maps:
        rules.append(
            ("file_name", [maps["file_name"].get(v.replace("\\", "/").rsplit("/", 1)[-1]) for v in values])
        )
        rules.append(("stem", [maps["stem"].get(_stem(v)) for v in values]))
    if col in recordings.columns and col != "recording_id":
        m: dict[str, list[str]] = {}
        for k, rid in zip(_norm(recordings[col]), recordings["recording_id"].astype(str)):
            if k:
                m.setdefault(k, []).append(rid)
        rules.append((col, [m.get(v) for v in values]))
    for rule, hits in rules:
        # auto mode: only unambiguous (one recording per key) matches count
        clean = [h if h is not None and len(h) == 1 else None for h in hits]
        n = sum(h is not None for h in clean)
        if n > best[2]:
            best = (rule, clean, n)
    return best


def join_labels(
    recordings: pd.DataFrame,
    labels: pd.DataFrame | str | Path,
    *,
    on: str | None = None,
    base_dir: str | Path | None = None,
) -> LabelJoin:
    """Attach label columns to recordings.

    Parameters
    ----------
    recordings : DataFrame
        The store's recordings table (``Store.recordings()``): needs ``recording_id``; ``path`` and ``file_name``
        enable path / file-name matching, other columns enable metadata matching.
    labels : DataFrame or path
        The label table (see :func:`read_table`).
    on : str, optional
        Join column. If both tables hold it, rows are merged on equal values (many recordings may share one label
        row, e.g. ``on="piece_id"``). Otherwise it names the label column to match by id / path / file name.
        Default: try :data:`KEY_COLUMNS` and keep the column and rule matching the most rows.
    base_dir : path, optional
        Folder that relative paths in the label table are relative to (default: the label file's folder).

    Returns
    -------
    LabelJoin
        ``frame`` has one row per labelled recording; label columns replace recordings columns of the same name.
    """
    import pandas as pd

    if not isinstance(labels, pd.DataFrame):
        base_dir = Path(labels).resolve().parent if base_dir is None else base_dir
        labels = read_table(labels)
    base = Path(base_dir).resolve() if base_dir is not None else None
    if recordings.empty:
        raise ConfigError(
            "the store has no recordings to label", hint="index audio first with `embedstore index`"
        )
    recordings = recordings.copy()
    recordings["recording_id"] = recordings["recording_id"].astype(str)

    if (
        on is not None
        and on in labels.columns
        and on in recordings.columns
        and on not in ("path", "recording_id")
    ):
        lab = labels.copy()
        lab[on] = _norm(lab[on])
        dup = lab[lab.duplicated(on, keep="first")][on].tolist()
        lab = lab.drop_duplicates(on, keep="first")
        rec = recordings.drop(columns=[c for c in lab.columns if c in recordings.columns and c != on])
        rec[on] = _norm(rec[on])
        frame = rec.merge(lab, on=on, how="inner")
        unmatched = sorted(set(lab[on]) - set(rec[on]))
        if frame.empty:
            raise ConfigError(
                f"no label row matched a recording on {on!r}",
                hint=f"label values look like {list(lab[on][:3])}, the store's like {list(rec[on][:3])}",
            )
        return LabelJoin(frame.reset_index(drop=True), on, on, len(labels), unmatched, dup)

    maps = _candidate_maps(recordings, base)
    if on is not None:
        if on not in labels.columns:
            raise ConfigError(
                f"label file has no column {on!r}", hint="columns: " + ", ".join(map(str, labels.columns))
            )
        cols = [on]
    else:
        cols = [c for c in KEY_COLUMNS if c in labels.columns]
        cols += [
            c for c in labels.columns if c not in cols and c in recordings.columns and _is_text(labels[c])
        ]
    best = (None, None, None, 0)
    for c in cols:
        rule, hits, n = _match_column(_norm(labels[c]), c, recordings, maps, base)
        if n > best[3]:
            best = (c, rule, hits, n)
    col, rule, hits, n = best
    if not n:
        tried = ", ".join(map(str, cols)) or "(no id/path/file column)"
        raise ConfigError(
            "no label row matched a recording of the store",
            hint=f"tried label columns: {tried}; join on recording_id, a path, a file name, or "
            "a metadata column of the store with --on",
        )
    lab = labels.copy()
    lab["recording_id"] = [h[0] if h else None for h in hits]
    unmatched = [str(v) for v, h in zip(_norm(labels[col]), hits) if h is None]
    lab = lab[lab["recording_id"].notna()]
    dup = lab[lab.duplicated("recording_id", keep="first")]["recording_id"].tolist()
    lab = lab.drop_duplicates("recording_id", keep="first")
    keep_rec = recordings.drop(
        columns=[c for c in lab.columns if c in recordings.columns and c != "recording_id"]
    )
    frame = keep_rec.merge(lab, on="recording_id", how="inner")
    return LabelJoin(frame.reset_index(drop=True), col, rule, len(labels), unmatched, dup)


# ---------------------------------------------------------------------------------------------- targets
def expand_targets(columns, spec: str | list[str] | None) -> list[str]:
    """Target column names from a comma-separated list / list of names or fnmatch patterns (``Timbre_*``)."""
    if spec is None:
        return []
    items = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s and s.strip()]
    cols = [str(c) for c in columns]
    out: list[str] = []
    for it in items:
        if it in cols:
            hits = [it]
        else:
            hits = [c for c in cols if fnmatch.fnmatchcase(c, it)]
        if not hits:
            raise ConfigError(f"no label column {it!r}", hint="columns: " + ", ".join(cols[:40]))
        out += [h for h in hits if h not in out]
    return out


def _is_binary(s) -> bool:
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
    frame : DataFrame (n rows)
    classes : names or patterns of the one-hot columns; default: the PLD technique columns present in ``frame``,
        else the label set found in ``column`` (entries separated by ``sep``, ``,`` or ``;``).
    column : text column with the techniques of each row.

    Returns
    -------
    Y : (n, k) int8, names : list of k class names
    """
    import pandas as pd

    if classes is not None:
        names = expand_targets(frame.columns, classes)
        bad = [c for c in names if not _is_binary(frame[c])]
        if bad:
            raise ConfigError(f"technique columns must hold 0/1 values: {', '.join(bad)}")
        return frame[names].apply(pd.to_numeric).to_numpy(np.int8), names
    pld = [c for c in PLD_TECHNIQUES if c in frame.columns and _is_binary(frame[c])]
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
        names = sorted({x for row in lists for x in row})
        if names:
            Y = np.array([[int(n in row) for n in names] for row in lists], dtype=np.int8)
            return Y, names
    raise ConfigError(
        "no technique labels found",
        hint="give one-hot 0/1 columns with --target Scales,Arpeggios,... (PLD layout) or a "
        f"{column!r} column such as 'Arpeggios|Staccato'",
    )


# ---------------------------------------------------------------------------------------------- pairs
def _pick(columns, names, what: str) -> str:
    low = {str(c).lower(): c for c in columns}
    for n in names:
        if n in low:
            return low[n]
    raise ConfigError(f"pairs file has no {what} column", hint="valid names: " + ", ".join(names))


def _parse_pref(values, a_keys, b_keys) -> np.ndarray:
    out = []
    for v, a, b in zip(values, a_keys, b_keys):
        s = str(v).strip()
        low = s.lower()
        if low in ("a", "1", "1.0", "true", "yes", "left", "first"):
            out.append(True)
        elif low in ("b", "0", "0.0", "-1", "-1.0", "false", "no", "right", "second"):
            out.append(False)
        elif s == a:
            out.append(True)
        elif s == b:
            out.append(False)
        else:
            raise ConfigError(
                f"cannot read preference {v!r}",
                hint="use a/b, 1/0 (or -1), true/false, or the id of the better recording",
            )
    return np.array(out, dtype=bool)


def resolve_keys(keys, recordings: pd.DataFrame, *, base_dir: str | Path | None = None) -> list[str | None]:
    """Resolve each key on its own to a recording id (``None`` when no single recording matches).

    Rules, in order: recording id, path (relative to ``base_dir``), file name, file stem, then any text
    metadata column of ``recordings`` (e.g. ``clip_id``).
    """
    recordings = recordings.assign(recording_id=recordings["recording_id"].astype(str))
    base = Path(base_dir).resolve() if base_dir is not None else None
    maps = _candidate_maps(recordings, base)
    for c in recordings.columns:
        if c in ("recording_id", "path", "file_name") or not _is_text(recordings[c]):
            continue
        m: dict[str, list[str]] = {}
        for k, rid in zip(_norm(recordings[c]), recordings["recording_id"]):
            if k:
                m.setdefault(k, []).append(rid)
        maps["meta:" + str(c)] = m
    out: list[str | None] = []
    for v in _norm(keys):
        cands = [v]
        if v:
            p = Path(v)
            if not p.is_absolute() and base is not None:
                p = base / p
            try:
                cands.append(str(p.resolve()))
            except OSError:
                pass
            cands += [v.replace("\\", "/").rsplit("/", 1)[-1], _stem(v)]
        hit = None
        for rule, key in [
            ("recording_id", v),
            ("path", cands[1] if len(cands) > 1 else v),
            ("file_name", cands[-2] if len(cands) > 2 else v),
            ("stem", cands[-1]),
        ]:
            h = maps.get(rule, {}).get(key)
            if h and len(h) == 1:
                hit = h[0]
                break
        if hit is None:
            for rule, m in maps.items():
                if rule.startswith("meta:"):
                    h = m.get(v)
                    if h and len(h) == 1:
                        hit = h[0]
                        break
        out.append(hit)
    return out


def read_pairs(
    pairs: pd.DataFrame | str | Path, recordings: pd.DataFrame, *, base_dir: str | Path | None = None
) -> pd.DataFrame:
    """Read a pairs table and resolve both sides to recording ids.

    The table has a column for recording A (``a``, ``recording_a``, ``first``...), one for B (``b``,
    ``recording_b``, ``second``...) and a preference column (``a_better`` / ``label`` / ``y``: 1 or true when A
    is better, 0/-1/false when B is; or ``winner`` / ``better``: ``a``/``b`` or the better recording's key).
    Recordings are matched like :func:`join_labels` does (id, path, file name, stem, metadata column).

    Returns
    -------
    DataFrame with columns ``a``, ``b`` (recording ids) and ``a_better`` (bool); unmatched pairs are dropped
    (their count is in ``frame.attrs["dropped"]``).
    """
    import pandas as pd

    if not isinstance(pairs, pd.DataFrame):
        base_dir = Path(pairs).resolve().parent if base_dir is None else base_dir
        pairs = read_table(pairs)
    ca = _pick(pairs.columns, _PAIR_A, "recording A")
    cb = _pick(pairs.columns, _PAIR_B, "recording B")
    cp = _pick(pairs.columns, _PAIR_PREF, "preference")
    a_keys, b_keys = _norm(pairs[ca]), _norm(pairs[cb])
    pref = _parse_pref(pairs[cp], a_keys, b_keys)
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
    frame : DataFrame with ``recording_id``, ``column`` and ``within``
    column : rating column (e.g. ``Interpretation_Unsatisfactory/doubtful_Convincing``)
    within : only recordings sharing this column's value are paired (the same passage played by different
        performers); rows with an empty value are skipped
    min_diff : pairs whose ratings differ by no more than this are skipped (ties are always skipped)
    higher_is_better : the preference direction of the rating

    Returns
    -------
    DataFrame ``a``, ``b``, ``a_better`` (bool), ``diff`` (rating A - rating B), ``within``. Pairs are oriented by
    recording id, so ``a_better`` is not constant.
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
