"""The embedding store: LanceDB tables on disk (or any URI LanceDB accepts, e.g. ``s3://``).

Tables
------
``recordings``
    One row per indexed recording: ``recording_id`` (content-derived, 16 hex), ``path`` (absolute), ``file_name``,
    ``content_hash`` (sha256 of the file bytes), ``duration_s``, ``sample_rate`` (of the file), ``channels``,
    ``added_at`` and the user's metadata columns (from a CSV/JSON sidecar), as real columns so that
    ``where`` filters such as ``composer = 'Chopin'`` run in LanceDB.
``spaces``
    One row per embedding space: (encoder setup, layer, level, pooling) with the full provenance as JSON.
``indexed``
    Completion markers ``(setup_key, recording_id, content_hash)``, written *after* all of a recording's vectors.
    A recording without a marker is not indexed; its partial rows are removed when a run resumes.
``rejects``
    Files that could not be indexed: ``path``, ``reason`` (a code), ``message``, ``setup_key``, ``at``.
``emb__<space>``
    The vectors of one space: ``row_key`` (stable int64), ``recording_id``, ``window_index`` (-1 for pooled
    recording vectors), ``start_s``, ``end_s``, ``vector`` (float32, raw; search normalises for cosine).
    The table's schema metadata holds the provenance JSON too, so a table copied alone still says what it is.

Conventions
-----------
An encoder *setup* is (encoder, window, hop); its key is e.g. ``chroma-w10-h5``. A *space* is one layer of a setup at
one level: ``window`` (one vector per window) or ``recording`` (windows pooled with ``mean`` or ``max``).
Space ids look like ``chroma-w10-h5.L0.window`` and ``mert-v1-95m-w10-h5.L7.recording-mean``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from embedstore.errors import ConfigError, ProvenanceError, StoreError, check_choice

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

Level = Literal["window", "recording"]
Pooling = Literal["none", "mean", "max"]
LEVELS = ("window", "recording")
POOLINGS = ("mean", "max")

CORE_RECORDING_COLUMNS = (
    "recording_id",
    "path",
    "file_name",
    "content_hash",
    "duration_s",
    "sample_rate",
    "channels",
    "added_at",
)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _slug(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")
    return s or "x"


def _num(x: float) -> str:
    return f"{x:g}".replace(".", "p")


def setup_key(encoder: str, window_s: float, hop_s: float) -> str:
    """Key of an encoder setup, e.g. ``setup_key("chroma", 10, 5) == "chroma-w10-h5"``."""
    return f"{_slug(encoder)}-w{_num(window_s)}-h{_num(hop_s)}"


def row_key(recording_id: str, window_index: int) -> int:
    """Stable non-negative int64 key of a row (same across compaction, deletes and rebuilds)."""
    h = hashlib.blake2b(f"{recording_id}:{window_index}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "little") & 0x7FFF_FFFF_FFFF_FFFF


def recording_id_from_hash(content_hash: str) -> str:
    return content_hash[:16]


@dataclass(frozen=True)
class Space:
    """One embedding space: a layer of an encoder setup at one level (and pooling)."""

    setup_key: str
    encoder: str
    layer: int
    layer_name: str
    level: str
    pooling: str
    window_s: float
    hop_s: float
    dim: int
    provenance: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def space_id(self) -> str:
        lvl = "window" if self.level == "window" else f"recording-{self.pooling}"
        return f"{self.setup_key}.L{self.layer}.{lvl}"

    @property
    def table_name(self) -> str:
        return "emb__" + self.space_id.replace(".", "__")

    def to_row(self) -> dict:
        d = asdict(self)
        d["provenance"] = json.dumps(self.provenance, sort_keys=True)
        d["space_id"] = self.space_id
        d["table_name"] = self.table_name
        d["created_at"] = _now()
        return d

    @classmethod
    def from_row(cls, row: dict) -> Space:
        prov = row.get("provenance") or "{}"
        return cls(
            setup_key=row["setup_key"],
            encoder=row["encoder"],
            layer=int(row["layer"]),
            layer_name=row["layer_name"],
            level=row["level"],
            pooling=row["pooling"],
            window_s=float(row["window_s"]),
            hop_s=float(row["hop_s"]),
            dim=int(row["dim"]),
            provenance=json.loads(prov) if isinstance(prov, str) else dict(prov),
        )


@dataclass
class EncodedRecording:
    """The output of the encoder stage for one recording (input of the writer stage)."""

    record: dict  # recordings-table row (core columns + metadata)
    window_vectors: np.ndarray  # (n_layers, n_windows, dim) float32
    starts_s: np.ndarray  # (n_windows,)
    ends_s: np.ndarray  # (n_windows,)
    weights: np.ndarray | None = None  # (n_windows,) share of real (unpadded) audio per window


@dataclass
class EmbeddingSet:
    """Vectors of one space with their rows' identity and the recordings' metadata (aligned by row)."""

    space: Space
    keys: np.ndarray  # (n,) int64
    recording_ids: np.ndarray  # (n,) object (str)
    window_index: np.ndarray  # (n,) int32
    start_s: np.ndarray  # (n,) float32
    end_s: np.ndarray  # (n,) float32
    vectors: np.ndarray  # (n, dim) float32
    metadata: pd.DataFrame | None = None  # (n rows) recordings columns aligned with the vectors

    def __len__(self) -> int:
        return len(self.keys)


def _pool(vectors: np.ndarray, weights: np.ndarray | None, pooling: str) -> np.ndarray:
    """Pool window vectors (n_layers, n_windows, dim) -> (n_layers, dim)."""
    if pooling == "mean":
        if weights is None or not np.any(weights > 0):
            return vectors.mean(axis=1)
        w = np.asarray(weights, dtype=np.float64)
        return (vectors * (w / w.sum())[None, :, None]).sum(axis=1).astype(np.float32)
    if pooling == "max":
        return vectors.max(axis=1)
    raise ConfigError(f"invalid pooling={pooling!r}; valid values: 'mean', 'max'")


def _sql_str(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def sql_in(column: str, values: Iterable) -> str:
    vals = list(values)
    if not vals:
        return "false"
    if isinstance(vals[0], str):
        body = ", ".join(_sql_str(v) for v in vals)
    else:
        body = ", ".join(str(int(v)) for v in vals)
    return f"{column} IN ({body})"


class Store:
    """A LanceDB-backed store of recordings and their embeddings.

    Parameters
    ----------
    uri : str or Path
        Directory of the LanceDB database (created when ``create=True``), or an object-store URI.
    create : bool
        Create the store when missing. With ``False`` a missing store is a :class:`StoreError`.
    """

    def __init__(self, uri: str | Path, *, create: bool = True):
        import lancedb

        self.uri = str(uri)
        is_remote = "://" in self.uri
        if not is_remote:
            p = Path(self.uri)
            if not p.exists():
                if not create:
                    raise StoreError(
                        f"no store at {self.uri}",
                        hint="build one with `embedstore index <folder> --store " + self.uri + "`",
                    )
                p.mkdir(parents=True, exist_ok=True)
            elif not p.is_dir():
                raise StoreError(f"{self.uri} is not a store directory")
            self.uri = str(p.resolve())
        try:
            self.db = lancedb.connect(self.uri)
        except Exception as e:  # noqa: BLE001
            raise StoreError(f"cannot open store {self.uri}: {e}") from e
        self._tables: dict[str, Any] = {}

    # ------------------------------------------------------------------ low level
    def table_names(self) -> list[str]:
        res = self.db.list_tables()
        names = getattr(res, "tables", res)
        page = getattr(res, "page_token", None)
        names = list(names)
        while page:
            res = self.db.list_tables(page_token=page)
            names += list(res.tables)
            page = res.page_token
        return names

    def has_table(self, name: str) -> bool:
        return name in self.table_names()

    def table(self, name: str):
        if name not in self._tables:
            try:
                self._tables[name] = self.db.open_table(name)
            except Exception as e:  # noqa: BLE001
                raise StoreError(f"store {self.uri} has no table {name!r}") from e
        return self._tables[name]

    def _read(self, name: str, *, where: str | None = None, columns: Sequence[str] | None = None):
        """Read a table (or a filtered subset) as an Arrow table; an absent table reads as ``None``."""
        if not self.has_table(name):
            return None
        t = self.table(name)
        t.checkout_latest()
        if where is None and columns is None:
            return t.to_arrow()
        q = t.search()
        if where:
            q = q.where(where)
        if columns:
            q = q.select(list(columns))
        n = t.count_rows()
        return q.limit(max(n, 1)).to_arrow()

    def _add(self, name: str, data, *, schema=None):
        import pyarrow as pa

        if not isinstance(data, pa.Table):
            data = pa.Table.from_pylist(list(data), schema=schema)
        if data.num_rows == 0:
            return
        if self.has_table(name):
            self.table(name).add(data)
        else:
            self._tables[name] = self.db.create_table(name, data=data, schema=schema)

    def _delete(self, name: str, where: str) -> None:
        if self.has_table(name):
            self.table(name).delete(where)

    # ------------------------------------------------------------------ recordings
    def recordings(self, where: str | None = None) -> pd.DataFrame:
        """The recordings table as a DataFrame (optionally filtered with a LanceDB SQL ``where``)."""
        import pandas as pd

        try:
            tab = self._read("recordings", where=where)
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
        return list(self.recordings(where)["recording_id"])

    def recording(self, key: str) -> dict:
        """Look a recording up by id, path, file name or file stem."""
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

    def upsert_recordings(self, rows: list[dict]) -> None:
        """Insert or replace recordings by ``recording_id``. New metadata columns widen the table."""
        import pandas as pd
        import pyarrow as pa

        if not rows:
            return
        new = pd.DataFrame(rows)
        old = self.recordings()
        if not old.empty:
            old = old[~old["recording_id"].isin(new["recording_id"])]
        same_cols = (not old.empty) and set(new.columns) <= set(old.columns)
        if self.has_table("recordings") and same_cols:
            t = self.table("recordings")
            # align dtypes with the existing schema
            tab = pa.Table.from_pandas(
                new.reindex(columns=[f.name for f in t.schema]), schema=t.schema, preserve_index=False
            )
            t.delete(sql_in("recording_id", new["recording_id"]))
            t.add(tab)
            return
        merged = pd.concat([old, new], ignore_index=True) if not old.empty else new
        merged = _clean_frame(merged)
        tab = pa.Table.from_pandas(merged, preserve_index=False)
        self._tables.pop("recordings", None)
        self.db.create_table("recordings", data=tab, mode="overwrite")

    def delete_recordings(self, recording_ids: Sequence[str]) -> None:
        """Remove recordings with all their vectors and markers."""
        if not recording_ids:
            return
        cond = sql_in("recording_id", recording_ids)
        for sp in self.spaces():
            self._delete(sp.table_name, cond)
        self._delete("indexed", cond)
        self._delete("recordings", cond)

    # ------------------------------------------------------------------ spaces
    def spaces(self, *, setup_key: str | None = None) -> list[Space]:
        tab = self._read("spaces")
        if tab is None:
            return []
        out = [Space.from_row(r) for r in tab.to_pylist()]
        if setup_key:
            out = [s for s in out if s.setup_key == setup_key]
        return sorted(out, key=lambda s: (s.setup_key, s.layer, s.level, s.pooling))

    def setups(self) -> dict[str, dict]:
        """Encoder setups in the store: key -> {encoder, window_s, hop_s, layers, poolings, provenance}."""
        out: dict[str, dict] = {}
        for s in self.spaces():
            d = out.setdefault(
                s.setup_key,
                {
                    "encoder": s.encoder,
                    "window_s": s.window_s,
                    "hop_s": s.hop_s,
                    "layers": [],
                    "layer_names": [],
                    "poolings": [],
                    "dim": s.dim,
                    "provenance": s.provenance,
                },
            )
            if s.layer not in d["layers"]:
                d["layers"].append(s.layer)
                d["layer_names"].append(s.layer_name)
            if s.level == "recording" and s.pooling not in d["poolings"]:
                d["poolings"].append(s.pooling)
        return out

    def register_spaces(self, spaces: Sequence[Space]) -> None:
        """Declare spaces (idempotent). A space that exists with other provenance is a ProvenanceError."""
        existing = {s.space_id: s for s in self.spaces()}
        new = []
        for s in spaces:
            old = existing.get(s.space_id)
            if old is None:
                new.append(s)
                continue
            a = {k: v for k, v in old.provenance.items() if k != "embedstore_version"}
            b = {k: v for k, v in s.provenance.items() if k != "embedstore_version"}
            if a != b:
                diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
                raise ProvenanceError(
                    f"space {s.space_id} exists with other provenance (differs in: {', '.join(diff)})",
                    hint="index into a new store, or use another window/hop so the setups do not collide",
                )
        if new:
            self._add("spaces", [s.to_row() for s in new])

    def register_setup(
        self, encoder, *, window_s: float, hop_s: float, poolings: Sequence[str] = ("mean",)
    ) -> list[Space]:
        """Declare the spaces an encoder setup writes: every layer at window level and pooled per recording."""
        for p in poolings:
            check_choice("pooling", p, POOLINGS)
        key = setup_key(encoder.name, window_s, hop_s)
        prov = dict(encoder.provenance())
        prov.update(window_s=float(window_s), hop_s=float(hop_s))
        spaces = []
        for li, lname in enumerate(encoder.layer_names):
            common = dict(
                setup_key=key,
                encoder=encoder.name,
                layer=li,
                layer_name=lname,
                window_s=float(window_s),
                hop_s=float(hop_s),
                dim=int(encoder.dim),
            )
            spaces.append(
                Space(
                    level="window",
                    pooling="none",
                    provenance={**prov, "layer": li, "level": "window", "pooling": "none"},
                    **common,
                )
            )
            for p in poolings:
                spaces.append(
                    Space(
                        level="recording",
                        pooling=p,
                        provenance={**prov, "layer": li, "level": "recording", "pooling": p},
                        **common,
                    )
                )
        self.register_spaces(spaces)
        return spaces

    def find_space(
        self,
        *,
        encoder: str | None = None,
        setup: str | None = None,
        layer: int | str | None = None,
        level: str = "recording",
        pooling: str = "mean",
        window_s: float | None = None,
        hop_s: float | None = None,
    ) -> Space:
        """Pick one space; ambiguity or absence is an error that lists what the store holds."""
        check_choice("level", level, LEVELS)
        cands = self.spaces()
        if not cands:
            raise StoreError(f"store {self.uri} holds no embeddings yet", hint="run `embedstore index` first")
        allc = cands
        if setup:
            cands = [s for s in cands if s.setup_key == setup]
        if encoder:
            cands = [s for s in cands if s.encoder == encoder or s.setup_key == encoder]
        if window_s is not None:
            cands = [s for s in cands if abs(s.window_s - window_s) < 1e-9]
        if hop_s is not None:
            cands = [s for s in cands if abs(s.hop_s - hop_s) < 1e-9]
        cands = [s for s in cands if s.level == level and (level == "window" or s.pooling == pooling)]
        setups = sorted({s.setup_key for s in cands})
        if len(setups) > 1:
            raise StoreError(
                f"several encoder setups match: {', '.join(setups)}",
                hint="choose one with --encoder <setup key>",
            )
        if layer is None or layer == "last":
            layers = sorted({s.layer for s in cands})
            layer = layers[-1] if layers else 0
        elif isinstance(layer, str) and not layer.lstrip("-").isdigit():
            named = [s for s in cands if s.layer_name == layer]
            layer = named[0].layer if named else layer
        for s in cands:
            if s.layer == int(layer):
                return s
        have = sorted({s.space_id for s in allc})
        raise StoreError(
            f"no space for encoder={encoder or setup} layer={layer} level={level} pooling={pooling}",
            hint="the store holds: " + ", ".join(have[:12]) + (" ..." if len(have) > 12 else ""),
        )

    def drop_space(self, space: Space | str) -> None:
        """Remove a space: its vectors table, its row in ``spaces`` and its cached search indexes."""
        import shutil

        sp = self.space(space) if isinstance(space, str) else space
        if self.has_table(sp.table_name):
            self.db.drop_table(sp.table_name)
        self._tables.pop(sp.table_name, None)
        self._delete("spaces", sql_in("space_id", [sp.space_id]))
        if "://" not in self.uri:
            shutil.rmtree(Path(self.uri) / "_indexes" / sp.space_id, ignore_errors=True)

    def space(self, space_id: str) -> Space:
        for s in self.spaces():
            if s.space_id == space_id:
                return s
        raise StoreError(f"no space {space_id!r} in {self.uri}")

    # ------------------------------------------------------------------ writing vectors
    def _vector_schema(self, space: Space):
        import pyarrow as pa

        return pa.schema(
            [
                pa.field("row_key", pa.int64()),
                pa.field("recording_id", pa.string()),
                pa.field("window_index", pa.int32()),
                pa.field("start_s", pa.float32()),
                pa.field("end_s", pa.float32()),
                pa.field("vector", pa.list_(pa.float32(), space.dim)),
            ],
            metadata={
                b"embedstore.provenance": json.dumps(space.provenance, sort_keys=True).encode(),
                b"embedstore.space_id": space.space_id.encode(),
            },
        )

    def _vector_table(self, space: Space, recording_ids, window_index, start_s, end_s, vectors):
        import pyarrow as pa

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != space.dim:
            raise StoreError(
                f"vectors of shape {vectors.shape} do not fit space {space.space_id} (dim {space.dim})"
            )
        if not np.all(np.isfinite(vectors)):
            raise StoreError(f"non-finite vectors for space {space.space_id}")
        keys = np.array([row_key(r, int(w)) for r, w in zip(recording_ids, window_index)], dtype=np.int64)
        schema = self._vector_schema(space)
        return pa.Table.from_arrays(
            [
                pa.array(keys, pa.int64()),
                pa.array(list(recording_ids), pa.string()),
                pa.array(np.asarray(window_index, dtype=np.int32)),
                pa.array(np.asarray(start_s, dtype=np.float32)),
                pa.array(np.asarray(end_s, dtype=np.float32)),
                pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), space.dim),
            ],
            schema=schema,
        )

    def write_vectors(self, space: Space, recording_ids, window_index, start_s, end_s, vectors) -> None:
        """Append vectors to a space (batched: one LanceDB version per call)."""
        self.register_spaces([space])
        tab = self._vector_table(space, recording_ids, window_index, start_s, end_s, vectors)
        self._add(space.table_name, tab, schema=tab.schema)

    def write_encoded(self, spaces: Sequence[Space], batch: Sequence[EncodedRecording]) -> None:
        """Writer stage: vectors of every space first, then recordings, then completion markers (crash-safe)."""
        if not batch:
            return
        sk = spaces[0].setup_key
        for sp in spaces:
            rids, widx, st, en, vecs = [], [], [], [], []
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
                    pooled = _pool(enc.window_vectors, enc.weights, sp.pooling)[sp.layer]
                    rids.append(rid)
                    widx.append(-1)
                    st.append(np.array([0.0]))
                    en.append(np.array([float(enc.record.get("duration_s", enc.ends_s[-1]))]))
                    vecs.append(pooled[None, :])
            self.write_vectors(sp, rids, widx, np.concatenate(st), np.concatenate(en), np.concatenate(vecs))
        self.upsert_recordings([enc.record for enc in batch])
        self._add(
            "indexed",
            [
                {
                    "setup_key": sk,
                    "recording_id": e.record["recording_id"],
                    "content_hash": e.record["content_hash"],
                    "n_windows": int(e.window_vectors.shape[1]),
                    "indexed_at": _now(),
                }
                for e in batch
            ],
        )

    # ------------------------------------------------------------------ resumability
    def indexed(self, setup: str) -> dict[str, str]:
        """content_hash -> recording_id of recordings completely indexed with a setup."""
        tab = self._read("indexed", where=f"setup_key = {_sql_str(setup)}")
        if tab is None:
            return {}
        return dict(zip(tab.column("content_hash").to_pylist(), tab.column("recording_id").to_pylist()))

    def clean_partial(self, setup: str) -> int:
        """Remove rows of recordings whose indexing did not finish (e.g. after kill -9). Returns how many."""
        done = set(self.indexed(setup).values())
        removed: set[str] = set()
        for sp in self.spaces(setup_key=setup):
            if not self.has_table(sp.table_name):
                continue
            present = set(
                self._read(sp.table_name, columns=["recording_id"]).column("recording_id").to_pylist()
            )
            stray = sorted(present - done)
            if stray:
                for i in range(0, len(stray), 500):
                    self._delete(sp.table_name, sql_in("recording_id", stray[i : i + 500]))
                removed |= set(stray)
        return len(removed)

    def verify_setup(self, setup: str) -> list[str]:
        """Problems found in a setup's tables (duplicate keys, rows without markers); empty when healthy."""
        problems = []
        done = set(self.indexed(setup).values())
        for sp in self.spaces(setup_key=setup):
            if not self.has_table(sp.table_name):
                continue
            tab = self._read(sp.table_name, columns=["row_key", "recording_id"])
            keys = tab.column("row_key").to_numpy()
            if len(np.unique(keys)) != len(keys):
                problems.append(f"{sp.space_id}: {len(keys) - len(np.unique(keys))} duplicate rows")
            stray = set(tab.column("recording_id").to_pylist()) - done
            if stray:
                problems.append(f"{sp.space_id}: {len(stray)} recordings without completion marker")
        return problems

    # ------------------------------------------------------------------ rejects
    def add_rejects(self, rows: Sequence[dict]) -> None:
        if not rows:
            return
        import pyarrow as pa

        schema = pa.schema(
            [
                ("path", pa.string()),
                ("file_name", pa.string()),
                ("reason", pa.string()),
                ("message", pa.string()),
                ("setup_key", pa.string()),
                ("content_hash", pa.string()),
                ("at", pa.string()),
            ]
        )
        norm = [
            {
                "path": str(r["path"]),
                "file_name": Path(str(r["path"])).name,
                "reason": r["reason"],
                "message": r.get("message", ""),
                "setup_key": r.get("setup_key", ""),
                "content_hash": r.get("content_hash", ""),
                "at": r.get("at") or _now(),
            }
            for r in rows
        ]
        # one row per (path, setup): a newer verdict replaces an older one
        if self.has_table("rejects"):
            for r in norm:
                self._delete(
                    "rejects", f"path = {_sql_str(r['path'])} AND setup_key = {_sql_str(r['setup_key'])}"
                )
        self._add("rejects", pa.Table.from_pylist(norm, schema=schema), schema=schema)

    def clear_rejects(self, paths: Sequence[str], setup: str) -> None:
        if self.has_table("rejects") and paths:
            for i in range(0, len(paths), 500):
                self._delete(
                    "rejects",
                    sql_in("path", [str(p) for p in paths[i : i + 500]])
                    + f" AND setup_key = {_sql_str(setup)}",
                )

    def rejects(self) -> pd.DataFrame:
        import pandas as pd

        tab = self._read("rejects")
        if tab is None:
            return pd.DataFrame(
                columns=["path", "file_name", "reason", "message", "setup_key", "content_hash", "at"]
            )
        return tab.to_pandas().sort_values(["reason", "path"]).reset_index(drop=True)

    # ------------------------------------------------------------------ reading vectors
    def load(
        self,
        space: Space | str,
        *,
        where: str | None = None,
        recording_ids: Sequence[str] | None = None,
        with_metadata: bool = True,
    ) -> EmbeddingSet:
        """Vectors of a space, optionally restricted by a recordings filter or a list of recording ids.

        Rows come back sorted by (recording_id, window_index) so results are reproducible.
        """
        import pandas as pd

        sp = self.space(space) if isinstance(space, str) else space
        allowed: list[str] | None = None
        rec = None
        if where:
            rec = self.recordings(where)
            allowed = list(rec["recording_id"])
        if recording_ids is not None:
            allowed = (
                list(recording_ids) if allowed is None else [r for r in allowed if r in set(recording_ids)]
            )
        tab = self._read(sp.table_name)
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
        """All (or some) layers of a setup at once, for probes and sweeps.

        Returns
        -------
        recording_ids : (n,) object
        X : (n_layers, n, dim) float32 (window level: n = number of windows, rows aligned across layers)
        metadata : DataFrame with n rows (recordings columns, plus window_index/start_s/end_s)
        spaces : the Space of each returned layer
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
            want = set(int(x) for x in layers)
            sps = [s for s in sps if s.layer in want]
        sets = [self.load(s, where=where, with_metadata=False) for s in sps]
        ref = sets[0]
        for s in sets[1:]:
            if not np.array_equal(s.keys, ref.keys):
                raise StoreError(
                    f"layers of setup {setup} are out of step; re-index or run `embedstore repair`"
                )
        X = np.stack([s.vectors for s in sets])
        full = self.load(sps[0], where=where, with_metadata=True)
        meta = full.metadata.copy()
        meta["window_index"] = full.window_index
        meta["start_s"] = full.start_s
        meta["end_s"] = full.end_s
        return ref.recording_ids, X, meta, sps

    # ------------------------------------------------------------------ maintenance
    def table_version(self, name: str) -> int:
        t = self.table(name)
        t.checkout_latest()
        return int(t.version)

    def optimize(self) -> None:
        """Compact fragments and prune old versions (after large or many writes)."""
        for name in self.table_names():
            try:
                self.table(name).optimize(cleanup_older_than=_dt.timedelta(hours=1))
            except Exception:  # noqa: BLE001,S110 - optimisation is best effort
                try:
                    self.table(name).optimize()
                except Exception:  # noqa: BLE001
                    pass

    def info(self) -> dict:
        """A summary: recordings, setups (encoders, layers, windows), versions, rejects."""
        rec = self.recordings()
        rej = self.rejects()
        setups = self.setups()
        out_setups = []
        for key, s in setups.items():
            n_done = len(self.indexed(key))
            spaces = self.spaces(setup_key=key)
            win = [sp for sp in spaces if sp.level == "window"]
            n_windows = (
                self.table(win[0].table_name).count_rows() if win and self.has_table(win[0].table_name) else 0
            )
            out_setups.append(
                {
                    "setup": key,
                    "encoder": s["encoder"],
                    "model_id": s["provenance"].get("model_id", ""),
                    "revision": s["provenance"].get("revision", ""),
                    "window_s": s["window_s"],
                    "hop_s": s["hop_s"],
                    "dim": s["dim"],
                    "layers": len(s["layers"]),
                    "layer_names": s["layer_names"],
                    "poolings": s["poolings"],
                    "recordings": n_done,
                    "windows": n_windows,
                }
            )
        versions = {}
        for name in self.table_names():
            try:
                versions[name] = self.table_version(name)
            except StoreError:
                pass
        meta_cols = [c for c in rec.columns if c not in CORE_RECORDING_COLUMNS]
        return {
            "store": self.uri,
            "recordings": int(len(rec)),
            "total_duration_s": float(rec["duration_s"].sum()) if len(rec) else 0.0,
            "metadata_columns": meta_cols,
            "setups": out_setups,
            "rejects": int(len(rej)),
            "reject_reasons": rej["reason"].value_counts().to_dict() if len(rej) else {},
            "table_versions": versions,
        }


def _clean_frame(df):
    """Make a DataFrame Arrow-friendly: object columns of mixed types become strings, NaN-only stay float."""
    import pandas as pd

    df = df.copy()
    for c in df.columns:
        if df[c].dtype == object:
            non_null = df[c].dropna()
            types = {type(v) for v in non_null}
            if len(types) > 1 or (types and not types <= {str}):
                df[c] = df[c].map(
                    lambda v: (
                        None
                        if v is None or (isinstance(v, float) and np.isnan(v))
                        else (json.dumps(v) if isinstance(v, list | dict) else str(v))
                    )
                )
    return pd.DataFrame(df)


def open_store(uri: str | Path, *, create: bool = False) -> Store:
    """Open an existing store (``create=False``: a missing store is a clear error)."""
    return Store(uri, create=create)
