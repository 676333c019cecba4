"""Frame sequences stored per recording: the table of a setup's *sequence space*.

A sequence space (level ``"sequence"``, id ``<setup key>.L0.frames``) holds one row per recording: ``row_key``
(:func:`~embedstore.store.schema.row_key` with window index ``-2``), ``recording_id``, ``n_frames``, ``dim``,
``frame_rate`` and ``data``, the frames as little-endian float16 bytes, row-major ``(n_frames, dim)``. It is
declared in ``spaces`` with its provenance like any space (and in the table's schema metadata), it is written with
the setup's vectors before the completion markers (so ``clean_partial`` and ``delete_recordings`` treat it like the
others), and nearest-neighbour search never sees it (``find_space`` serves the window and recording levels only).
What the frames are is the provenance's business (see :func:`embedstore.alignment.features.index_sequence`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from embedstore.errors import StoreError
from embedstore.store.schema import SEQUENCE_LEVEL, Space, row_key

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

__all__ = ["SEQUENCE_LEVEL", "SEQUENCE_WINDOW_INDEX", "sequence_space", "sequence_table"]

#: ``window_index`` used for the row key of a recording's sequence.
SEQUENCE_WINDOW_INDEX = -2


def sequence_space(setup: str, encoder: str, *, dim: int, frame_rate: float, provenance: dict) -> Space:
    """The sequence space of an encoder setup (frames of ``dim`` values at ``frame_rate`` frames/s)."""
    prov = {**provenance, "level": SEQUENCE_LEVEL, "frame_rate": float(frame_rate), "dim": int(dim)}
    return Space(
        setup_key=setup,
        encoder=encoder,
        layer=0,
        layer_name="frames",
        level=SEQUENCE_LEVEL,
        pooling="none",
        window_s=1.0 / float(frame_rate),
        hop_s=1.0 / float(frame_rate),
        dim=int(dim),
        provenance=prov,
    )


def sequence_table(space: Space, recording_ids: Sequence[str], arrays: Sequence[np.ndarray]) -> pa.Table:
    """The Arrow rows of some recordings' sequences (float16 bytes), checked against the space."""
    import pyarrow as pa

    if space.level != SEQUENCE_LEVEL:
        raise StoreError(f"{space.space_id} is not a sequence space")
    data, n = [], []
    for rid, a in zip(recording_ids, arrays):
        a = np.asarray(a)
        if a.ndim != 2 or a.shape[1] != space.dim or not np.all(np.isfinite(a)):
            raise StoreError(
                f"frames of {rid} ({a.shape}) do not fit {space.space_id} (dim {space.dim}, finite)"
            )
        data.append(np.ascontiguousarray(a, dtype="<f2").tobytes())
        n.append(len(a))
    schema = pa.schema(
        [
            pa.field("row_key", pa.int64()),
            pa.field("recording_id", pa.string()),
            pa.field("n_frames", pa.int32()),
            pa.field("dim", pa.int32()),
            pa.field("frame_rate", pa.float32()),
            pa.field("data", pa.large_binary()),
        ],
        metadata={
            b"embedstore.provenance": json.dumps(space.provenance, sort_keys=True).encode(),
            b"embedstore.space_id": space.space_id.encode(),
        },
    )
    rate = float(space.provenance.get("frame_rate", 1.0 / space.hop_s))
    return pa.Table.from_arrays(
        [
            pa.array([row_key(r, SEQUENCE_WINDOW_INDEX) for r in recording_ids], pa.int64()),
            pa.array(list(recording_ids), pa.string()),
            pa.array(n, pa.int32()),
            pa.array([space.dim] * len(n), pa.int32()),
            pa.array([rate] * len(n), pa.float32()),
            pa.array(data, pa.large_binary()),
        ],
        schema=schema,
    )


def frames_from_row(data: bytes, n_frames: int, dim: int) -> np.ndarray:
    """Decode a stored sequence: ``(n_frames, dim)`` float16."""
    return np.frombuffer(data, dtype="<f2").reshape(int(n_frames), int(dim))
