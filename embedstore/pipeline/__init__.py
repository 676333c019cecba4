"""Indexing pipeline: reader -> encoder -> writer, resumable and incremental.

- ``discover``  which files a run reads (:func:`discover`)
- ``stages``    the three stages as plain batch-in / batch-out functions (:func:`read_batch`, :func:`encode_batch`,
  :func:`write_batch`), reusable by a distributed engine
- ``driver``    :func:`index_paths`: runs the stages over a collection with overlapping threads, resumes after a
  crash, re-indexes changed files
- ``ray_engine`` the same stages as a Ray Data pipeline (``index_paths(..., engine="ray")``): decode in Ray tasks,
  encode in an actor pool, commit through the driver
- ``report``    :class:`IndexReport` (counts, rejects, per-stage timings)

Embedding a *query* file exactly as a stored setup was indexed lives in :mod:`embedstore.query`.
"""

from embedstore.pipeline.discover import discover, iter_files
from embedstore.pipeline.driver import index_paths, resolve_encoder
from embedstore.pipeline.report import IndexReport, ProgressBar, StageTimer
from embedstore.pipeline.stages import (
    Decoded,
    Rejected,
    Skipped,
    embed_windows,
    encode_batch,
    read_batch,
    read_one,
    recording_row,
    write_batch,
)

__all__ = [
    "Decoded",
    "IndexReport",
    "ProgressBar",
    "Rejected",
    "Skipped",
    "StageTimer",
    "discover",
    "embed_windows",
    "encode_batch",
    "index_paths",
    "iter_files",
    "read_batch",
    "read_one",
    "recording_row",
    "resolve_encoder",
    "write_batch",
]
