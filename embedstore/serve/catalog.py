"""The store's recordings as the web page shows them: display names, text search, metadata filters.

Task
    List and find recordings by what a person types (part of a title, piece, performer, composer or file name)
    and by a metadata filter (``where``, SQL over the recordings table, validated by the store exactly as the
    CLI's ``--where`` is). Look recordings up by id only, never by path.

Conventions
    - A recording is shown as a JSON object: ``recording_id``, ``file_name``, ``duration_s`` and the display
      fields ``title``, ``piece``, ``performer``, ``composer`` (each taken from the first metadata column that
      has it, see :data:`DISPLAY_FIELDS`), plus ``metadata`` (short scalar metadata values, for hovers).
    - Stored file paths never leave the server (the page plays audio by recording id).
    - The table is re-read only when its LanceDB version changes (checked at most every :data:`RECHECK_S`
      seconds), so a store indexed while the server runs is picked up within a second.
"""

from __future__ import annotations

import copy
import math
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embedstore.store import Store

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

#: Display field -> metadata columns that can provide it, in order of preference.
DISPLAY_FIELDS: dict[str, tuple[str, ...]] = {
    "title": ("title", "name", "clip_id"),
    "piece": ("piece_id", "piece", "work"),
    "performer": ("performer_code", "performer", "artist", "pianist"),
    "composer": ("composer",),
}
#: Columns never sent to the page (file locations and bookkeeping).
HIDDEN_COLUMNS = ("path", "audio", "content_hash", "added_at", "notes", "midi", "annotations")
#: Longest metadata string value sent in ``metadata`` (longer values, e.g. JSON lists of beats, are left out).
MAX_VALUE_CHARS = 120
#: A recording id as the store makes them (content-hash prefixes) or as users may have set them.
RECORDING_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,128}")
#: Seconds between two checks of a table's version by the server's caches (recordings, spaces, window vectors):
#: a store indexed while the server runs shows up after this.
RECHECK_S = 1.0
_SEARCHED_NAME_PARTS = (
    "title",
    "name",
    "piece",
    "work",
    "performer",
    "artist",
    "pianist",
    "composer",
    "clip",
)


def _plain(value: Any) -> Any:
    """A JSON-safe scalar (numpy scalars unwrapped, NaN -> None)."""
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        try:
            value = value.item()
        except (ValueError, AttributeError):
            return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def valid_recording_id(recording_id: str) -> bool:
    """Whether ``recording_id`` has the shape of a recording id (letters, digits, ``_`` and ``-`` only)."""
    return bool(RECORDING_ID_PATTERN.fullmatch(recording_id))


@dataclass(frozen=True)
class _Snapshot:
    version: int
    frame: pd.DataFrame
    ids: list[str]
    rows: list[dict]
    shown: list[dict]
    text: list[str]
    index: dict[str, int]


class Catalog:
    """The recordings of a store, cached per version of the recordings table (thread-safe).

    Parameters
    ----------
    store : Store
        An open store; only read.
    """

    def __init__(self, store: Store):
        self.store = store
        self._lock = threading.Lock()
        self._snap: _Snapshot | None = None
        self._checked = 0.0

    # ------------------------------------------------------------------ the table
    def version(self) -> int:
        """Current version of the recordings table (-1 when the store has no recordings yet)."""
        if not self.store.has_table("recordings"):
            return -1
        return self.store.table_version("recordings")

    def _snapshot(self) -> _Snapshot:
        snap = self._snap
        if snap is not None and time.monotonic() - self._checked < RECHECK_S:
            return snap
        v = self.version()
        self._checked = time.monotonic()
        with self._lock:
            if self._snap is None or self._snap.version != v:
                df = self.store.recordings()
                if len(df):
                    df = df.sort_values(["file_name", "recording_id"], kind="stable").reset_index(drop=True)
                rows = df.to_dict(orient="records")
                cols = self.searchable_columns(df)
                ids = [str(r["recording_id"]) for r in rows]
                self._snap = _Snapshot(
                    version=v,
                    frame=df,
                    ids=ids,
                    rows=rows,
                    shown=[self.describe(r) for r in rows],
                    text=[" ".join(str(r.get(c, "")) for c in cols).lower() for r in rows],
                    index={rid: i for i, rid in enumerate(ids)},
                )
            return self._snap

    def frame(self) -> pd.DataFrame:
        """All recordings (a DataFrame sorted by file name), re-read when the table changed."""
        return self._snapshot().frame

    def get(self, recording_id: str) -> dict | None:
        """The stored row of a recording id (exact match only), or ``None``."""
        snap = self._snapshot()
        i = snap.index.get(recording_id)
        return None if i is None else dict(snap.rows[i])

    def shown(self, recording_id: str) -> dict | None:
        """:meth:`describe` of a recording id (computed once per table version), or ``None``."""
        snap = self._snapshot()
        i = snap.index.get(recording_id)
        return None if i is None else copy.deepcopy(snap.shown[i])

    def audio_path(self, recording_id: str) -> Path | None:
        """The stored audio file of a recording id, or ``None`` (unknown id, or the file is gone)."""
        if not valid_recording_id(recording_id):
            return None
        row = self.get(recording_id)
        if row is None or not isinstance(row.get("path"), str):
            return None
        p = Path(row["path"])
        return p if p.is_file() else None

    # ------------------------------------------------------------------ display
    def describe(self, row: dict) -> dict:
        """The JSON shown for one recording (display fields and short metadata; no file path)."""
        out: dict[str, Any] = {
            "recording_id": str(row.get("recording_id")),
            "file_name": row.get("file_name"),
            "duration_s": _plain(row.get("duration_s")),
        }
        for name, cols in DISPLAY_FIELDS.items():
            out[name] = next((str(row[c]) for c in cols if _plain(row.get(c)) not in (None, "")), None)
        if not out["title"]:
            out["title"] = Path(str(row.get("file_name") or out["recording_id"])).stem
        meta = {}
        for k, v in row.items():
            v = _plain(v)
            if k in HIDDEN_COLUMNS or k in out or v is None:
                continue
            if isinstance(v, str) and len(v) > MAX_VALUE_CHARS:
                continue
            if isinstance(v, str | int | float | bool):
                meta[k] = v
        out["metadata"] = meta
        return out

    def searchable_columns(self, df: pd.DataFrame) -> list[str]:
        """Text columns a typed query is matched against (file name, titles, pieces, performers...)."""
        cols = ["file_name"]
        for c in df.columns:
            name = str(c).lower()
            if c in HIDDEN_COLUMNS or c in cols:
                continue
            if any(part in name for part in _SEARCHED_NAME_PARTS):
                cols.append(c)
        return cols

    # ------------------------------------------------------------------ finding
    def find(self, q: str = "", *, where: str | None = None, limit: int = 50) -> tuple[list[dict], int]:
        """Recordings whose names contain every word of ``q`` (case-insensitive) and that pass ``where``.

        Parameters
        ----------
        q : words typed by a person; each must occur in one of :meth:`searchable_columns`
        where : SQL filter over the recordings table (validated by :meth:`Store.recordings`; a bad filter
            raises :class:`~embedstore.errors.StoreError`)
        limit : at most this many recordings are returned

        Returns
        -------
        recordings : list of dict (see :meth:`describe`)
        total : number of matching recordings before the limit
        """
        snap = self._snapshot()
        allowed = set(self.store.recordings(where)["recording_id"]) if where else None
        words = [w for w in q.lower().split() if w]
        hits = [
            i
            for i, rid in enumerate(snap.ids)
            if (allowed is None or rid in allowed) and all(w in snap.text[i] for w in words)
        ]
        return [copy.deepcopy(snap.shown[i]) for i in hits[: max(0, int(limit))]], len(hits)
