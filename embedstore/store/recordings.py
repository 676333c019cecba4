"""Recordings (the ``recordings`` table) and their completion markers (the ``indexed`` table).

``recordings`` has one row per indexed recording: the core columns (:data:`~embedstore.store.schema.
CORE_RECORDING_COLUMNS`) and the user's metadata columns, as real columns so that ``where`` filters such as
``composer = 'Chopin'`` run in LanceDB. New metadata columns widen the table.

``indexed`` holds a marker ``(setup_key, recording_id, content_hash, n_windows, indexed_at)`` written *after* all of a
recording's vectors. A recording without a marker is not indexed with that setup; :meth:`RecordingCatalog.
clean_partial` removes its partial rows when a run resumes (e.g. after ``kill -9``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from embedstore.errors import StoreError
from embedstore.store.schema import CORE_RECORDING_COLUMNS, sql_in, sql_quote
from embedstore.store.spaces import SpaceCatalog
from embedstore.store.tables import DELETE_BATCH
from embedstore.utils import crash_point

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

RECORDINGS_TABLE = "recordings"
MARKERS_TABLE = "indexed"


class RecordingCatalog(SpaceCatalog):
    """Recordings of a store and which setups have completely indexed them."""

    # ------------------------------------------------------------------ recordings
    def recordings(self, where: str | None = None) -> pd.DataFrame:
        """The recordings table as a DataFrame, optionally filtered with a LanceDB SQL ``where``.

        A bad filter is a :class:`StoreError` with a hint; an empty store gives an empty frame with the core
        columns.
        """
        import pandas as pd

        try:
            tab = self.read_table(RECORDINGS_TABLE, where=where)
        except Exception as e:  # noqa: BLE001
            if where:
                raise StoreError(
                    f"bad filter {where!r}: {str(e).splitlines()[0]}",
                    hint="use SQL like \"composer = 'Chopin' AND performer_code != 'Day'\"; "
                    "quote odd column names with backticks",
                ) from e
            raise
        if tab is None:
            return pd.DataFrame(columns=list(CORE_RECORDING_COLUMNS))
        return tab.to_pandas()

    def recording_ids(self, where: str | None = None) -> list[str]:
        """Ids of the recordings (optionally filtered), in table order."""
        return list(self.recordings(where)["recording_id"])

    def recording(self, key: str) -> dict:
        """Look a recording up by id, path, file name or file stem; returns its row.

        No match or several matches is a :class:`StoreError`.
        """
        df = self.recordings()
        if df.empty:
            raise StoreError(f"no recording {key!r}: the store is empty")
        for col, val in (
            ("recording_id", key),
            ("path", str(Path(key).resolve()) if key else key),
            ("file_name", Path(key).name),
        ):
            hit = df[df[col] == val]
            if len(hit) == 1:
                return hit.iloc[0].to_dict()
        stems = df["file_name"].map(lambda s: Path(s).stem)
        hit = df[stems == key]
        if len(hit) == 1:
            return hit.iloc[0].to_dict()
        if len(hit) > 1:
            raise StoreError(f"{key!r} matches {len(hit)} recordings", hint="use the recording_id")
        raise StoreError(
            f"no recording {key!r} in {self.uri}", hint="list them with `embedstore info --store ...`"
        )

    def upsert_recordings(self, rows: list[dict], *, replaces: Sequence[str] = ()) -> None:
        """Insert or replace recordings by ``recording_id`` in one commit; new metadata columns widen the table.

        Parameters
        ----------
        rows : list of dict
            Recording rows (:data:`~embedstore.store.schema.CORE_RECORDING_COLUMNS` and metadata).
        replaces : sequence of str
            Ids of recordings these rows replace (the old content of a changed file): their rows are removed in the
            same commit, so a reader sees either the old recording or the new one, never both and never neither.
        """
        import pandas as pd
        import pyarrow as pa

        if not rows:
            return
        new = pd.DataFrame(rows)
        if self.has_table(RECORDINGS_TABLE):
            t = self.table(RECORDINGS_TABLE)
            names = [f.name for f in t.schema]
            tab = None
            if set(new.columns) <= set(names):
                try:  # align dtypes with the existing schema
                    tab = pa.Table.from_pandas(
                        new.reindex(columns=names), schema=t.schema, preserve_index=False
                    )
                except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                    tab = None  # e.g. a column that was empty so far (null-typed) gets values: rewrite
            if tab is not None:
                crash_point("before_recordings")
                merge = t.merge_insert("recording_id").when_matched_update_all().when_not_matched_insert_all()
                if len(replaces):
                    merge = merge.when_not_matched_by_source_delete(sql_in("recording_id", replaces))
                merge.execute(tab)
                crash_point("after_recordings")
                return
        old = self.recordings()
        if not old.empty:
            old = old[~old["recording_id"].isin(set(new["recording_id"]) | set(replaces))]
            # columns empty so far take the type of their first values
            old = old.drop(columns=[c for c in old.columns if c in new.columns and old[c].isna().all()])
        merged = pd.concat([old, new], ignore_index=True) if not old.empty else new
        crash_point("before_recordings")
        self.replace_table(
            RECORDINGS_TABLE, pa.Table.from_pandas(_arrow_friendly(merged), preserve_index=False)
        )
        crash_point("after_recordings")

    def update_metadata(self, updates: list[dict]) -> int:
        """Refresh metadata columns of stored recordings (e.g. a re-run with a new or changed sidecar).

        Parameters
        ----------
        updates : list of dict
            ``{"recording_id": ..., column: value, ...}``; unknown recording ids are ignored.

        Returns
        -------
        int
            How many recordings changed.
        """
        recs = self.recordings()
        if recs.empty:
            return 0
        by_id = {r["recording_id"]: r for r in recs.to_dict("records")}
        rows = []
        for u in updates:
            base = by_id.get(u["recording_id"])
            if base is None:
                continue
            merged = {**base, **{k: v for k, v in u.items() if k != "recording_id"}}
            if any(not _same_value(base.get(k), v) for k, v in u.items()):
                rows.append(merged)
        self.upsert_recordings(rows)
        return len(rows)

    def delete_recordings(self, recording_ids: Sequence[str], *, keep_row: bool = False) -> None:
        """Remove recordings with all their vectors and completion markers.

        The recording's row goes first (one commit: readers stop seeing it), then its markers, then its vectors;
        a crash in between leaves markers or vectors without a recording, which the next run removes
        (:func:`embedstore.store.verify.repair_store`).

        Parameters
        ----------
        recording_ids : sequence of str
        keep_row : bool
            The rows are gone already (replaced in :meth:`upsert_recordings`): remove only markers and vectors.
        """
        if not len(recording_ids):
            return
        ids = sorted(set(recording_ids))
        for i in range(0, len(ids), DELETE_BATCH):
            cond = sql_in("recording_id", ids[i : i + DELETE_BATCH])
            if not keep_row:
                self.delete_rows(RECORDINGS_TABLE, cond)
            crash_point("before_delete_markers")
            self.delete_rows(MARKERS_TABLE, cond)
            crash_point("before_delete_vectors")
            for sp in self.spaces(include_sequences=True):
                self.delete_rows(sp.table_name, cond)
            crash_point("after_delete_old")

    # ------------------------------------------------------------------ completion markers
    def indexed(self, setup: str) -> dict[str, str]:
        """Recordings completely indexed with a setup: content hash -> recording id."""
        tab = self.read_table(MARKERS_TABLE, where=f"setup_key = {sql_quote(setup)}")
        if tab is None:
            return {}
        return dict(zip(tab.column("content_hash").to_pylist(), tab.column("recording_id").to_pylist()))

    def clean_partial(self, setup: str) -> int:
        """Remove rows of recordings whose indexing did not finish (no marker, e.g. after ``kill -9``).

        Returns
        -------
        int
            How many recordings had partial rows.
        """
        done = set(self.indexed(setup).values())
        removed: set[str] = set()
        for sp in self.spaces(setup_key=setup, include_sequences=True):
            tab = self.read_table(sp.table_name, columns=["recording_id"])
            if tab is None:
                continue
            stray = sorted(set(tab.column("recording_id").to_pylist()) - done)
            for i in range(0, len(stray), DELETE_BATCH):
                self.delete_rows(sp.table_name, sql_in("recording_id", stray[i : i + DELETE_BATCH]))
            removed |= set(stray)
        return len(removed)


def _same_value(a: object, b: object) -> bool:
    """Equal, or both missing (None/NaN): a metadata refresh that changes nothing writes nothing."""

    def missing(v: object) -> bool:
        return v is None or (isinstance(v, float) and np.isnan(v))

    if missing(a) or missing(b):
        return missing(a) and missing(b)
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return str(a) == str(b)


def _arrow_friendly(df: pd.DataFrame) -> pd.DataFrame:
    """A copy whose object columns of mixed types become strings (lists/dicts as JSON); NaN-only columns stay."""
    import pandas as pd

    df = df.copy()
    for c in df.columns:
        if df[c].dtype == object:
            types = {type(v) for v in df[c].dropna()}
            if len(types) > 1 or (types and not types <= {str}):
                df[c] = df[c].map(
                    lambda v: (
                        None
                        if v is None or (isinstance(v, float) and np.isnan(v))
                        else (json.dumps(v) if isinstance(v, list | dict) else str(v))
                    )
                )
    return pd.DataFrame(df)
