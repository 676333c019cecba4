"""What the store holds: keys, spaces, the rows of the writer stage and of a loaded space, and the Arrow schema of a
vectors table.

Conventions
-----------
An encoder *setup* is (encoder, window, hop); its key is e.g. ``chroma-w10-h5``. A *space* is one layer of a setup at
one level: ``window`` (one vector per window) or ``recording`` (windows pooled with ``mean`` or ``max``, see
:mod:`embedstore.store.pooling`). Space ids look like ``chroma-w10-h5.L0.window`` and
``mert-v1-95m-w10-h5.L7.recording-mean``; the vectors of a space live in the table ``emb__<space id with "__" for
".">``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import pyarrow as pa

Level = Literal["window", "recording"]
Pooling = Literal["none", "mean", "max"]
#: Levels of a space: one vector per window, or one pooled vector per recording.
LEVELS = ("window", "recording")
#: Level of a setup's sequence space (frame sequences per recording, :mod:`embedstore.store.sequences`).
SEQUENCE_LEVEL = "sequence"
#: Recording-level poolings of window vectors.
POOLINGS = ("mean", "max")

#: Columns every row of the ``recordings`` table has; the user's metadata columns come after them.
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
#: Columns of the ``rejects`` table.
REJECT_COLUMNS = ("path", "file_name", "reason", "message", "setup_key", "content_hash", "at")
#: Columns of the ``indexed`` table (completion markers).
MARKER_COLUMNS = ("setup_key", "recording_id", "content_hash", "n_windows", "indexed_at")
#: Prefix of the vectors tables.
VECTOR_TABLE_PREFIX = "emb__"


def utc_now() -> str:
    """The current UTC time as an ISO 8601 string to the second (the store's timestamps)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def slug(text: str) -> str:
    """``text`` reduced to ``[A-Za-z0-9_-]`` (runs of other characters become one ``-``); ``"x"`` when empty.

    Used for setup keys and other names that end up in table and folder names.
    """
    s = re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")
    return s or "x"


def _num(x: float) -> str:
    return f"{x:g}".replace(".", "p")


def setup_key(encoder: str, window_s: float, hop_s: float) -> str:
    """Key of an encoder setup.

    Parameters
    ----------
    encoder : str
        Encoder name.
    window_s, hop_s : float
        Analysis window and hop, seconds.

    Returns
    -------
    str
        e.g. ``setup_key("chroma", 10, 5) == "chroma-w10-h5"`` and ``setup_key("mfcc", 2.5, 1) == "mfcc-w2p5-h1"``.
    """
    return f"{slug(encoder)}-w{_num(window_s)}-h{_num(hop_s)}"


def row_key(recording_id: str, window_index: int) -> int:
    """Stable non-negative int64 key of a vector row (same across compaction, deletes and rebuilds).

    Parameters
    ----------
    recording_id : str
    window_index : int
        Window number, ``-1`` for a pooled recording vector.

    Returns
    -------
    int
        In ``[0, 2**63)``: the first 8 bytes of a BLAKE2b digest of ``"<recording_id>:<window_index>"``.
    """
    h = hashlib.blake2b(f"{recording_id}:{window_index}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "little") & 0x7FFF_FFFF_FFFF_FFFF


def recording_id_from_hash(content_hash: str) -> str:
    """The recording id of a file: the first 16 hex digits of its content hash (sha256 of the bytes)."""
    return content_hash[:16]


def sql_quote(value: object) -> str:
    """A SQL string literal for LanceDB filters (single quotes doubled)."""
    return "'" + str(value).replace("'", "''") + "'"


def sql_in(column: str, values: Any) -> str:
    """A SQL ``column IN (...)`` filter; strings are quoted, anything else is written as an integer.

    An empty ``values`` gives ``"false"`` (matches nothing).
    """
    vals = list(values)
    if not vals:
        return "false"
    if isinstance(vals[0], str):
        body = ", ".join(sql_quote(v) for v in vals)
    else:
        body = ", ".join(str(int(v)) for v in vals)
    return f"{column} IN ({body})"


@dataclass(frozen=True)
class Space:
    """One embedding space: a layer of an encoder setup at one level (and pooling).

    Attributes
    ----------
    setup_key : str
        Key of the encoder setup (:func:`setup_key`).
    encoder : str
        Encoder name.
    layer : int
        Layer index (0 = first).
    layer_name : str
        Name of the layer given by the encoder.
    level : str
        ``"window"`` or ``"recording"``.
    pooling : str
        ``"none"`` at window level, ``"mean"`` or ``"max"`` at recording level.
    window_s, hop_s : float
        Analysis window and hop, seconds.
    dim : int
        Vector dimension.
    provenance : dict
        Everything needed to embed a query the same way (encoder, model id, revision, sample rate, params,
        window, hop, layer, level, pooling...). Not part of equality.
    """

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
        """``<setup key>.L<layer>.window``, ``<setup key>.L<layer>.recording-<pooling>`` or, for the frame
        sequences of a setup (level ``"sequence"``, :mod:`embedstore.store.sequences`), ``<setup key>.L0.frames``."""
        lvl = {"window": "window", "sequence": "frames"}.get(self.level, f"recording-{self.pooling}")
        return f"{self.setup_key}.L{self.layer}.{lvl}"

    @property
    def table_name(self) -> str:
        """Name of the LanceDB table holding this space's vectors."""
        return VECTOR_TABLE_PREFIX + self.space_id.replace(".", "__")

    def to_row(self) -> dict:
        """The row of the ``spaces`` table (provenance as sorted JSON, plus ids and a timestamp)."""
        d = asdict(self)
        d["provenance"] = json.dumps(self.provenance, sort_keys=True)
        d["space_id"] = self.space_id
        d["table_name"] = self.table_name
        d["created_at"] = utc_now()
        return d

    @classmethod
    def from_row(cls, row: dict) -> Space:
        """Inverse of :meth:`to_row`."""
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
    """The output of the encoder stage for one recording (the input of the writer stage).

    Attributes
    ----------
    record : dict
        The ``recordings`` row: the core columns (:data:`CORE_RECORDING_COLUMNS`) and the metadata.
    window_vectors : np.ndarray
        (n_layers, n_windows, dim) float32.
    starts_s, ends_s : np.ndarray
        (n_windows,) window bounds, seconds from the start of the recording.
    weights : np.ndarray or None
        (n_windows,) share of real (unpadded) audio in each window, used by mean pooling.
    frames : np.ndarray or None
        (n_frames, dim) frame sequence for the setup's sequence space, when it has one.
    """

    record: dict
    window_vectors: np.ndarray
    starts_s: np.ndarray
    ends_s: np.ndarray
    weights: np.ndarray | None = None
    frames: np.ndarray | None = None


@dataclass
class EmbeddingSet:
    """Vectors of one space with their rows' identity and the recordings' metadata, aligned by row.

    Attributes
    ----------
    space : Space
    keys : np.ndarray
        (n,) int64 row keys (:func:`row_key`).
    recording_ids : np.ndarray
        (n,) object (str).
    window_index : np.ndarray
        (n,) int32; ``-1`` for pooled recording vectors.
    start_s, end_s : np.ndarray
        (n,) float32 window bounds, seconds (``0`` and the duration for pooled vectors).
    vectors : np.ndarray
        (n, dim) float32, raw (not normalised).
    metadata : pandas.DataFrame or None
        n rows: the ``recordings`` columns of each row's recording.
    """

    space: Space
    keys: np.ndarray
    recording_ids: np.ndarray
    window_index: np.ndarray
    start_s: np.ndarray
    end_s: np.ndarray
    vectors: np.ndarray
    metadata: pd.DataFrame | None = None
    _positions: dict[int, int] | None = field(default=None, init=False, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.keys)

    def key_positions(self) -> dict[int, int]:
        """Row key -> row number (computed once per set)."""
        if self._positions is None:
            self._positions = {int(k): i for i, k in enumerate(self.keys)}
        return self._positions


def vector_schema(space: Space) -> pa.Schema:
    """Arrow schema of a space's vectors table; its metadata carries the provenance JSON and the space id.

    Columns: ``row_key`` int64, ``recording_id`` string, ``window_index`` int32, ``start_s``/``end_s`` float32
    (seconds), ``vector`` fixed-size list of ``dim`` float32.
    """
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


def reject_schema() -> pa.Schema:
    """Arrow schema of the ``rejects`` table (every column a string, see :data:`REJECT_COLUMNS`)."""
    import pyarrow as pa

    return pa.schema([(c, pa.string()) for c in REJECT_COLUMNS])
