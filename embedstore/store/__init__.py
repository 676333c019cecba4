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

Modules
-------
- ``schema``      keys (``setup_key``, ``row_key``), :class:`Space`, :class:`EncodedRecording`,
  :class:`EmbeddingSet`, the Arrow schemas, SQL quoting
- ``pooling``     window weights and recording-level pooling (shared by indexing and query embedding)
- ``tables``      the LanceDB database: list, read, append, delete, drop
- ``spaces``      the ``spaces`` catalogue
- ``recordings``  the ``recordings`` table and the ``indexed`` completion markers
- ``vectors``     writing and loading vectors (and the frame sequences of a setup's sequence space)
- ``sequences``   the sequence space: frame sequences per recording, float16
- ``rejects``     the ``rejects`` table
- ``core``        :class:`Store` (all of the above) with ``info`` and ``verify_setup``; :func:`open_store`

Conventions
-----------
An encoder *setup* is (encoder, window, hop); its key is e.g. ``chroma-w10-h5``. A *space* is one layer of a setup at
one level: ``window`` (one vector per window) or ``recording`` (windows pooled with ``mean`` or ``max``).
Space ids look like ``chroma-w10-h5.L0.window`` and ``mert-v1-95m-w10-h5.L7.recording-mean``.
"""

from embedstore.store.core import Store, open_store
from embedstore.store.location import (
    is_remote,
    parse_storage_options,
    remote_cache_dir,
    set_default_storage_options,
    store_uri,
)
from embedstore.store.pooling import pool_windows, window_weights
from embedstore.store.schema import (
    CORE_RECORDING_COLUMNS,
    LEVELS,
    POOLINGS,
    REJECT_COLUMNS,
    EmbeddingSet,
    EncodedRecording,
    Level,
    Pooling,
    Space,
    recording_id_from_hash,
    row_key,
    setup_key,
    slug,
    sql_in,
    sql_quote,
    utc_now,
    vector_schema,
)
from embedstore.store.sequences import SEQUENCE_LEVEL, sequence_space

__all__ = [
    "CORE_RECORDING_COLUMNS",
    "LEVELS",
    "POOLINGS",
    "REJECT_COLUMNS",
    "SEQUENCE_LEVEL",
    "EmbeddingSet",
    "EncodedRecording",
    "Level",
    "Pooling",
    "Space",
    "Store",
    "is_remote",
    "open_store",
    "parse_storage_options",
    "remote_cache_dir",
    "set_default_storage_options",
    "store_uri",
    "pool_windows",
    "recording_id_from_hash",
    "row_key",
    "sequence_space",
    "setup_key",
    "slug",
    "sql_in",
    "sql_quote",
    "utc_now",
    "vector_schema",
    "window_weights",
]
