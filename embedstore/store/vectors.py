"""Vectors of each space (the ``emb__<space>`` tables): write them crash-safely, read them back.

A vectors table has ``row_key`` (stable int64, :func:`~embedstore.store.schema.row_key`), ``recording_id``,
``window_index`` (-1 for pooled recording vectors), ``start_s``, ``end_s`` and ``vector`` (float32, raw: search
normalises for cosine). Its schema metadata holds the provenance JSON too, so a table copied alone still says what
it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from embedstore.errors import StoreError
from embedstore.store.pooling import pool_windows
from embedstore.store.recordings import MARKERS_TABLE, RecordingCatalog
from embedstore.store.schema import (
    EmbeddingSet,
    EncodedRecording,
    Space,
    row_key,
    sql_in,
    utc_now,
    vector_schema,
)
from embedstore.store.sequences import SEQUENCE_LEVEL, frames_from_row, sequence_table
from embedstore.utils import crash_point

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


class VectorTables(RecordingCatalog):
    """Writing and loading the vectors of a store's spaces."""

    # ------------------------------------------------------------------ writing
    def write_vectors(
        self,
        space: Space,
        recording_ids: Sequence[str] | np.ndarray,
        window_index: Sequence[int] | np.ndarray,
        start_s: Sequence[float] | np.ndarray,
        end_s: Sequence[float] | np.ndarray,
        vectors: np.ndarray,
    ) -> None:
        """Append vectors to a space (declared if new); one LanceDB version per call.

        Parameters
        ----------
        space : Space
        recording_ids : (n,) str
        window_index : (n,) int, ``-1`` for pooled recording vectors
        start_s, end_s : (n,) float, window bounds in seconds
        vectors : (n, space.dim) float, finite (anything else is a :class:`StoreError`)
        """
        import pyarrow as pa

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != space.dim:
            raise StoreError(
                f"vectors of shape {vectors.shape} do not fit space {space.space_id} (dim {space.dim})"
            )
        if not np.all(np.isfinite(vectors)):
            raise StoreError(f"non-finite vectors for space {space.space_id}")
        self.register_spaces([space])
        keys = np.array([row_key(r, int(w)) for r, w in zip(recording_ids, window_index)], dtype=np.int64)
        tab = pa.Table.from_arrays(
            [
                pa.array(keys, pa.int64()),
                pa.array(list(recording_ids), pa.string()),
                pa.array(np.asarray(window_index, dtype=np.int32)),
                pa.array(np.asarray(start_s, dtype=np.float32)),
                pa.array(np.asarray(end_s, dtype=np.float32)),
                pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), space.dim),
            ],
            schema=vector_schema(space),
        )
        self.add_rows(space.table_name, tab, schema=tab.schema)

    def write_encoded(
        self, spaces: Sequence[Space], batch: Sequence[EncodedRecording], *, replaces: Sequence[str] = ()
    ) -> None:
        """The writer stage: vectors of every space first, then the recordings, then the completion markers.

        A crash at any point leaves at most rows without a marker (and a recording without a marker), which the
        next run removes (:func:`embedstore.store.verify.repair_store`), so nothing is duplicated or half-indexed.
        The order, and what each crash leaves, is in ``docs/write-protocol.md``.

        Parameters
        ----------
        spaces : sequence of Space
            The spaces of one setup (:meth:`register_setup`).
        batch : sequence of EncodedRecording
        replaces : sequence of str
            Ids of recordings whose file now holds the batch's content (changed files): their recordings rows are
            replaced in the same commit as the new rows are added; their markers and vectors are removed after
            (:meth:`delete_recordings` with ``keep_row=True``).
        """
        if not batch:
            return
        sk = spaces[0].setup_key
        crash_point("before_vectors")
        for i, sp in enumerate(spaces):
            if i == 1:
                crash_point("between_spaces")
            if sp.level == SEQUENCE_LEVEL:
                have = [(e.record["recording_id"], e.frames) for e in batch if e.frames is not None]
                tab = sequence_table(sp, [r for r, _ in have], [f for _, f in have])
                self.add_rows(sp.table_name, tab, schema=tab.schema)
                continue
            rids: list[str] = []
            widx: list[int] = []
            st: list[np.ndarray] = []
            en: list[np.ndarray] = []
            vecs: list[np.ndarray] = []
            for enc in batch:
                rid = enc.record["recording_id"]
                if sp.level == "window":
                    n = enc.window_vectors.shape[1]
                    rids += [rid] * n
                    widx += list(range(n))
                    st.append(enc.starts_s)
                    en.append(enc.ends_s)
                    vecs.append(enc.window_vectors[sp.layer])
                else:
                    pooled = pool_windows(enc.window_vectors, enc.weights, sp.pooling)[sp.layer]
                    rids.append(rid)
                    widx.append(-1)
                    st.append(np.array([0.0]))
                    en.append(np.array([float(enc.record.get("duration_s", enc.ends_s[-1]))]))
                    vecs.append(pooled[None, :])
            self.write_vectors(sp, rids, widx, np.concatenate(st), np.concatenate(en), np.concatenate(vecs))
        crash_point("after_vectors")
        self.upsert_recordings([enc.record for enc in batch], replaces=replaces)
        crash_point("before_markers")
        self.add_rows(
            MARKERS_TABLE,
            [
                {
                    "setup_key": sk,
                    "recording_id": e.record["recording_id"],
                    "content_hash": e.record["content_hash"],
                    "n_windows": int(e.window_vectors.shape[1]),
                    "indexed_at": utc_now(),
                }
                for e in batch
            ],
        )
        crash_point("after_markers")

    # ------------------------------------------------------------------ frame sequences
    def sequence_space(self, setup: str) -> Space | None:
        """The sequence space of a setup (:mod:`embedstore.store.sequences`), or ``None`` when it stores none."""
        spaces = self.spaces(setup_key=setup, include_sequences=True)
        return next((s for s in spaces if s.level == SEQUENCE_LEVEL), None)

    def load_sequences(
        self, space: Space, recording_ids: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        """Stored frame sequences, recording id -> ``(n_frames, dim)`` float16 (recordings without one are absent).

        One read for any number of recordings.
        """
        where = None if recording_ids is None else sql_in("recording_id", list(recording_ids))
        if recording_ids is not None and not len(recording_ids):
            return {}
        tab = self.read_table(space.table_name, where=where)
        if tab is None:
            return {}
        cols = [tab.column(c).to_pylist() for c in ("recording_id", "data", "n_frames", "dim")]
        return {r: frames_from_row(d, n, k) for r, d, n, k in zip(*cols)}

    # ------------------------------------------------------------------ reading
    def load(
        self,
        space: Space | str,
        *,
        where: str | None = None,
        recording_ids: Sequence[str] | None = None,
        with_metadata: bool = True,
    ) -> EmbeddingSet:
        """Vectors of a space, optionally restricted by a recordings filter or a list of recording ids.

        Parameters
        ----------
        space : Space or str
            The space or its id.
        where : str, optional
            SQL filter over the recordings table.
        recording_ids : sequence of str, optional
            Keep only these recordings (combined with ``where``).
        with_metadata : bool
            Attach the recordings' rows (``EmbeddingSet.metadata``).

        Returns
        -------
        EmbeddingSet
            Rows sorted by (recording_id, window_index), so results are reproducible.
        """
        import pandas as pd

        sp = self.space(space) if isinstance(space, str) else space
        allowed: list[str] | None = None
        rec = None
        if where:
            rec = self.recordings(where)
            allowed = list(rec["recording_id"])
        if recording_ids is not None:
            wanted = set(recording_ids)
            allowed = list(recording_ids) if allowed is None else [r for r in allowed if r in wanted]
        tab = self.read_table(sp.table_name)
        if tab is None:
            raise StoreError(f"space {sp.space_id} has no vectors yet")
        df = tab.to_pandas()
        if allowed is not None:
            df = df[df["recording_id"].isin(set(allowed))]
        df = df.sort_values(["recording_id", "window_index"], kind="stable").reset_index(drop=True)
        vec = (
            np.stack(df["vector"].to_numpy()).astype(np.float32)
            if len(df)
            else np.zeros((0, sp.dim), np.float32)
        )
        meta = None
        if with_metadata:
            rec = self.recordings() if rec is None else rec
            meta = pd.DataFrame({"recording_id": df["recording_id"]}).merge(
                rec, on="recording_id", how="left"
            )
        return EmbeddingSet(
            space=sp,
            keys=df["row_key"].to_numpy(np.int64),
            recording_ids=df["recording_id"].to_numpy(object),
            window_index=df["window_index"].to_numpy(np.int32),
            start_s=df["start_s"].to_numpy(np.float32),
            end_s=df["end_s"].to_numpy(np.float32),
            vectors=vec,
            metadata=meta,
        )

    def load_layers(
        self,
        setup: str,
        *,
        level: str = "recording",
        pooling: str = "mean",
        layers: Sequence[int] | None = None,
        where: str | None = None,
    ) -> tuple[np.ndarray, np.ndarray, pd.DataFrame, list[Space]]:
        """All (or some) layers of a setup at once, for probes and layer sweeps.

        Parameters
        ----------
        setup : str
            Setup key.
        level : str
            ``"recording"`` or ``"window"``.
        pooling : str
            Pooling of the recording-level spaces.
        layers : sequence of int, optional
            Layer indexes (default: all).
        where : str, optional
            SQL filter over the recordings table.

        Returns
        -------
        recording_ids : np.ndarray
            (n,) object.
        X : np.ndarray
            (n_layers, n, dim) float32; at window level n is the number of windows, rows aligned across layers.
        metadata : pandas.DataFrame
            n rows: the recordings columns plus ``window_index``, ``start_s``, ``end_s``.
        spaces : list of Space
            The space of each returned layer.
        """
        sps = [
            s
            for s in self.spaces(setup_key=setup)
            if s.level == level and (level == "window" or s.pooling == pooling)
        ]
        if not sps:
            raise StoreError(
                f"no {level}-level spaces for setup {setup!r}",
                hint="setups in the store: " + ", ".join(self.setups()),
            )
        if layers is not None:
            want = {int(x) for x in layers}
            sps = [s for s in sps if s.layer in want]
        sets = [self.load(s, where=where, with_metadata=False) for s in sps]
        ref = sets[0]
        for s in sets[1:]:
            if not np.array_equal(s.keys, ref.keys):
                raise StoreError(
                    f"layers of setup {setup} are out of step",
                    hint="re-run `embedstore index` on the same files with the same encoder, window and hop "
                    "(it removes rows of unfinished recordings), or index into a new --store",
                )
        X = np.stack([s.vectors for s in sets])
        full = self.load(sps[0], where=where, with_metadata=True)
        assert full.metadata is not None  # with_metadata=True
        meta = full.metadata.copy()
        meta["window_index"] = full.window_index
        meta["start_s"] = full.start_s
        meta["end_s"] = full.end_s
        return ref.recording_ids, X, meta, sps
