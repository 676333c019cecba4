"""The three stages of indexing, each a plain batch-in / batch-out function.

- :func:`read_batch` (paths -> :class:`Decoded` | :class:`Rejected` | :class:`Skipped`): hash, skip what is already
  indexed, decode, validate, resample to the encoder's rate, cut windows. Never raises for bad input.
- :func:`encode_batch` (decoded items -> :class:`~embedstore.store.EncodedRecording`): the windows of many files
  are concatenated (files sorted by length) and embedded in fixed-size batches.
- :func:`write_batch` (encoded -> store): vectors first, then recordings, then completion markers.

They hold no state between calls, so the driver (:mod:`embedstore.pipeline.driver`) runs them in threads today and a
distributed engine (e.g. Ray Data ``map_batches``) can run the same functions on a cluster.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embedstore import config
from embedstore.alignment.features import index_sequence
from embedstore.audio import frame_windows, load_audio, probe_audio
from embedstore.encoders import Encoder
from embedstore.errors import AudioError, ConfigError, EmbedstoreError
from embedstore.metadata import MetadataIndex
from embedstore.store import (
    EncodedRecording,
    Space,
    Store,
    recording_id_from_hash,
    window_weights,
)
from embedstore.utils import sha256_file

#: With this environment variable set (the test suite sets it), an unexpected exception while reading a file is
#: raised instead of becoming an ``internal_error`` reject.
STRICT_ENV = "EMBEDSTORE_STRICT"


@dataclass
class Decoded:
    """Output of the reader stage for one good file.

    Attributes
    ----------
    path : str
    content_hash : str
        sha256 of the file's bytes.
    samples : np.ndarray
        (n,) float32 mono at the encoder's rate.
    sample_rate : int
        The encoder's rate, Hz.
    source_sample_rate, channels : int
        Of the file as stored.
    windows : np.ndarray
        (n_windows, window_len) float32.
    starts_s : np.ndarray
        (n_windows,) window starts, seconds.
    weights : np.ndarray
        (n_windows,) share of real audio in each window (:func:`~embedstore.store.window_weights`).
    metadata : dict
        The sidecar's row for the file (empty when none).
    """

    path: str
    content_hash: str
    samples: np.ndarray
    sample_rate: int
    source_sample_rate: int
    channels: int
    windows: np.ndarray
    starts_s: np.ndarray
    weights: np.ndarray
    metadata: dict = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        """Length of the decoded audio, seconds."""
        return len(self.samples) / self.sample_rate


@dataclass
class Rejected:
    """A file that could not be indexed: ``reason`` is a code (``corrupt``, ``silent``, ``too_long``...)."""

    path: str
    reason: str
    message: str
    content_hash: str = ""


@dataclass
class Skipped:
    """A file not indexed again: ``why`` is ``"indexed"`` (same content already in the store) or ``"duplicate"``."""

    path: str
    content_hash: str
    recording_id: str
    why: str


# ---------------------------------------------------------------------------------------------- read
def read_one(
    path: str | Path,
    *,
    sample_rate: int,
    window_s: float,
    hop_s: float,
    indexed: dict[str, str] | None = None,
    max_duration_s: float = config.DEFAULT_MAX_DURATION_S,
    metadata: MetadataIndex | None = None,
) -> Decoded | Rejected | Skipped:
    """Reader stage for one file. Never raises for bad input: returns :class:`Rejected` with a reason.

    Parameters
    ----------
    path : str or Path
    sample_rate : int
        The encoder's rate, Hz (the audio is resampled to it).
    window_s, hop_s : float
        Analysis window and hop, seconds.
    indexed : dict, optional
        content hash -> recording id of what the setup has indexed already (:meth:`Store.indexed`); such files
        come back as :class:`Skipped`.
    max_duration_s : float
        Longer files are rejected as ``too_long``.
    metadata : MetadataIndex, optional
        Sidecar rows, joined by path, file name or stem.
    """
    path = str(path)
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(path).decode("utf-8", "backslashreplace")
        return Rejected(
            shown, "bad_file_name", "the file name is not valid UTF-8: rename the file to index it"
        )
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return Rejected(path, "not_a_file", "not a regular file (a directory, FIFO or device)")
        h = sha256_file(path)
    except OSError as e:
        return Rejected(path, "unreadable", f"cannot read file: {e.strerror or e}")
    if indexed and h in indexed:
        return Skipped(path, h, indexed[h], "indexed")
    try:
        info = probe_audio(path)
        audio = load_audio(path, sample_rate=sample_rate, max_duration_s=max_duration_s)
        windows, starts = frame_windows(audio.samples, audio.sample_rate, window_s=window_s, hop_s=hop_s)
    except AudioError as e:
        return Rejected(path, e.reason, str(e), h)
    except MemoryError:
        return Rejected(path, "too_long", "file too large to decode in memory", h)
    except OSError as e:  # the disk or the file system, not the file's content
        return Rejected(path, "unreadable", f"I/O error while reading: {e.strerror or e}", h)
    except Exception as e:
        # not a bad file: a bug of ours. Tests (EMBEDSTORE_STRICT=1) fail on it; a user's long run goes on.
        if os.environ.get(STRICT_ENV):
            raise
        return Rejected(
            path,
            "internal_error",
            f"bug in embedstore while reading ({type(e).__name__}: {e}); please report it",
            h,
        )
    if len(windows) == 0:
        return Rejected(path, "too_short", "no complete analysis window", h)
    meta = (metadata.lookup(path) if metadata is not None else None) or {}
    return Decoded(
        path=path,
        content_hash=h,
        samples=audio.samples,
        sample_rate=audio.sample_rate,
        source_sample_rate=int(info.get("sample_rate") or audio.sample_rate),
        channels=int(info.get("channels") or 1),
        windows=windows,
        starts_s=starts,
        weights=window_weights(starts, window_s, audio.duration_s),
        metadata=meta,
    )


def read_batch(paths: Sequence[str | Path], **options: Any) -> list[Decoded | Rejected | Skipped]:
    """Reader stage, batch form: :func:`read_one` on every path with the same keyword ``options``."""
    return [read_one(p, **options) for p in paths]


# ---------------------------------------------------------------------------------------------- encode
def recording_row(d: Decoded) -> dict:
    """The ``recordings`` row of a decoded file: the core columns, then its metadata (core columns win)."""
    rec = {
        "recording_id": recording_id_from_hash(d.content_hash),
        "path": d.path,
        "file_name": Path(d.path).name,
        "content_hash": d.content_hash,
        "duration_s": float(d.duration_s),
        "sample_rate": int(d.source_sample_rate),
        "channels": int(d.channels),
        "added_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    for k, v in d.metadata.items():
        rec.setdefault(k, v)
    return rec


def embed_windows(encoder: Encoder, windows: np.ndarray, *, batch_windows: int = 32) -> np.ndarray:
    """Embed windows in batches of ``batch_windows``.

    Parameters
    ----------
    encoder : Encoder
    windows : np.ndarray
        (n_windows, window_len) float32 at the encoder's rate.
    batch_windows : int
        Windows per forward pass.

    Returns
    -------
    np.ndarray
        (n_layers, n_windows, dim) float32.
    """
    outs = [
        np.asarray(encoder.embed(windows[s : s + batch_windows]), dtype=np.float32)
        for s in range(0, len(windows), batch_windows)
    ]
    return np.concatenate(outs, axis=1)


def encode_batch(
    items: Sequence[Decoded], encoder: Encoder, *, batch_windows: int = 32, frames: bool = False
) -> list[EncodedRecording]:
    """Encoder stage: embed the windows of many files together, in fixed-size batches.

    Files are sorted by length so batches are filled evenly; results come back in the input order. Non-finite
    encoder output is a :class:`ConfigError`. With ``frames``, each recording also gets its frame sequence for
    the setup's sequence space (:func:`embedstore.alignment.features.index_sequence`).
    """
    if not items:
        return []
    order = sorted(range(len(items)), key=lambda i: -len(items[i].windows))
    emb = embed_windows(
        encoder, np.concatenate([items[i].windows for i in order], axis=0), batch_windows=batch_windows
    )
    if not np.all(np.isfinite(emb)):
        raise ConfigError(f"encoder {encoder.name} produced non-finite values")
    res: dict[int, EncodedRecording] = {}
    pos = 0
    window_s = items[0].windows.shape[1] / items[0].sample_rate
    for i in order:
        d = items[i]
        n = len(d.windows)
        res[i] = EncodedRecording(
            record=recording_row(d),
            window_vectors=emb[:, pos : pos + n],
            starts_s=d.starts_s.astype(np.float64),
            ends_s=(d.starts_s + window_s).astype(np.float64),
            weights=d.weights,
            frames=index_sequence(d.samples, d.sample_rate) if frames else None,
        )
        pos += n
    return [res[i] for i in range(len(items))]


def encode_isolating_failures(
    good: Sequence[Decoded], enc: Encoder, *, batch_windows: int, frames: bool = False
) -> tuple[list[EncodedRecording], list[Rejected], str]:
    """Encode a batch; when the encoder fails on it, encode file by file and reject only the failing files.

    An :class:`EmbedstoreError` (a configuration problem, e.g. non-finite output) stops the run. Failing files come
    back as :class:`Rejected` with reason ``encoder_failed``. The third value is a warning naming the batch's
    error ("" when the batch went through), so it is reported, not lost.
    """
    try:
        return encode_batch(good, enc, batch_windows=batch_windows, frames=frames), [], ""
    except EmbedstoreError:
        raise
    except Exception as e:  # noqa: BLE001 - isolate the failing file, keep the rest
        warning = (
            f"encoding a batch of {len(good)} files failed ({type(e).__name__}: {e}); retried file by file"
        )
    encoded: list[EncodedRecording] = []
    failed: list[Rejected] = []
    for d in good:
        try:
            encoded += encode_batch([d], enc, batch_windows=batch_windows, frames=frames)
        except Exception as e:  # noqa: BLE001
            failed.append(Rejected(d.path, "encoder_failed", f"{type(e).__name__}: {e}", d.content_hash))
    return encoded, failed, warning


# ---------------------------------------------------------------------------------------------- write
def write_batch(
    store: Store,
    spaces: Sequence[Space],
    encoded: Sequence[EncodedRecording],
    *,
    replaces: Sequence[str] = (),
) -> None:
    """Writer stage (see :meth:`Store.write_encoded`): vectors, then recordings, then completion markers.

    ``replaces``: ids of the recordings of changed files, whose rows the new recordings replace in one commit.
    """
    store.write_encoded(spaces, encoded, replaces=replaces)
