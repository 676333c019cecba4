"""The indexing driver: :func:`index_paths` runs the stages of :mod:`embedstore.pipeline.stages` over a collection.

One run, under the store's write lock (:mod:`embedstore.store.lock`), after repairing what a crash left
(:mod:`embedstore.store.verify`): **prepare**, **batches** on the local or the Ray engine, **finish**; the stages
of a run are in :mod:`embedstore.pipeline.run`.

Resumable and incremental: recordings are identified by content hash; a re-run adds nothing; a changed file is
re-indexed and its old vectors removed; rows of a run killed mid-batch (no completion marker) are removed when the
next run starts, so nothing is duplicated or lost.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from embedstore import config
from embedstore.encoders import Encoder, get_encoder
from embedstore.errors import ConfigError, check_choice
from embedstore.metadata import MetadataIndex
from embedstore.pipeline.discover import discover_inputs
from embedstore.pipeline.readers import DECODE_IN, DecodeIn
from embedstore.pipeline.report import IndexReport, ProgressBar, StageTimer
from embedstore.pipeline.run import finish_run, run_batches, run_batches_ray, start_run
from embedstore.store import CORE_RECORDING_COLUMNS, Store
from embedstore.store.lock import write_lock

Engine = Literal["local", "ray"]
ENGINES = ("local", "ray")


def resolve_encoder(encoder: str | Encoder, **encoder_kwargs: Any) -> Encoder:
    """An encoder from a registry name or ``hf:/path`` (built with ``encoder_kwargs``), or the encoder itself."""
    return get_encoder(encoder, **encoder_kwargs) if isinstance(encoder, str) else encoder


def index_paths(
    paths: str | Path | Sequence[str | Path],
    store: Store | str | Path,
    encoder: str | Encoder,
    *,
    window_s: float = config.DEFAULT_WINDOW_S,
    hop_s: float = config.DEFAULT_HOP_S,
    metadata: str | Path | None = None,
    poolings: Sequence[str] = ("mean", "max"),
    batch_files: int = 16,
    batch_windows: int = 32,
    workers: int | None = None,
    max_duration_s: float = config.DEFAULT_MAX_DURATION_S,
    progress: bool = False,
    optimize: bool = True,
    encoder_kwargs: dict | None = None,
    stop_after_batches: int | None = None,
    frames: bool | None = None,
    prune: bool = False,
    engine: Engine = "local",
    ray_address: str | None = None,
    decode: DecodeIn = "threads",
) -> IndexReport:
    """Index audio files into a store (resumable, incremental).

    Parameters
    ----------
    paths : str, Path or sequence of them
        Folders (searched recursively for audio files) and/or files.
    store : Store, str or Path
        The store or its URI (created when missing).
    encoder : str or Encoder
        Registry name, ``hf:/path`` or an :class:`~embedstore.encoders.Encoder`.
    window_s, hop_s : float
        Analysis window and hop, seconds.
    metadata : str or Path, optional
        CSV/JSON sidecar joined to files by path, file name or stem.
    poolings : sequence of str
        Recording-level poolings stored besides the window vectors (``mean``, ``max``).
    batch_files : int
        Files per reader/writer batch.
    batch_windows : int
        Windows per encoder forward pass.
    workers : int, optional
        Decoding threads or processes (default: min(4, cpu count)).
    max_duration_s : float
        Longer files are rejected as ``too_long``.
    progress : bool
        Draw a progress bar.
    optimize : bool
        Compact the tables after a run that wrote something.
    encoder_kwargs : dict, optional
        Passed to the encoder factory (e.g. ``model_path``, ``dtype``).
    stop_after_batches : int, optional
        Stop after that many written batches (for tests of resumption).
    frames : bool, optional
        Also store each recording's frame sequence (CENS chroma, onset strength, loudness at 10 frames/s, about
        1 MB per hour; :func:`embedstore.alignment.features.index_sequence`) in the setup's sequence space, for
        frame-accurate passage search and interpretation curves. Default: on for the ``chroma`` encoder. Applies to
        the recordings this run encodes.
    prune : bool
        Remove recordings whose file is gone (they are reported either way, see :attr:`IndexReport.missing`).
    engine : {"local", "ray"}
        ``local``: threads in this process. ``ray``: decode in Ray tasks and encode in a Ray actor pool
        (:mod:`embedstore.pipeline.ray_engine`, needs the ``ray`` extra); the driver still writes, so the store is
        the same.
    decode : {"threads", "processes"}
        Local engine: decode in threads of this process, or in ``workers`` worker processes (no shared GIL; a
        start-up cost of about a second, see ``bench/results/index.md``).
    ray_address : str, optional
        With ``engine="ray"``: a running cluster (``auto``, ``ray://host:10001``); default: the Ray session
        already open in this process, else a new local one.

    Returns
    -------
    IndexReport
    """
    t_start = time.perf_counter()
    check_choice("engine", engine, ENGINES)
    check_choice("decode", decode, DECODE_IN)
    if window_s <= 0 or hop_s <= 0:
        raise ConfigError(f"window and hop must be > 0 (got window={window_s}, hop={hop_s})")
    timer = StageTimer()
    with timer("load_encoder"):
        enc = resolve_encoder(encoder, **(encoder_kwargs or {}))
    if window_s < enc.min_window_s:
        raise ConfigError(f"window {window_s} s is shorter than {enc.name}'s minimum {enc.min_window_s} s")
    st = store if isinstance(store, Store) else Store(store)
    files, not_files = discover_inputs(paths)
    meta_index = (
        MetadataIndex.from_file(metadata, reserved=CORE_RECORDING_COLUMNS) if metadata is not None else None
    )
    with write_lock(st.uri):
        return _index_locked(
            st,
            enc,
            files,
            not_files,
            meta_index,
            timer,
            t_start,
            window_s=window_s,
            hop_s=hop_s,
            poolings=poolings,
            max_duration_s=max_duration_s,
            frames=(enc.name in config.FRAMES_BY_DEFAULT) if frames is None else bool(frames),
            batch_files=batch_files,
            batch_windows=batch_windows,
            workers=workers,
            stop_after_batches=stop_after_batches,
            progress=progress,
            optimize=optimize,
            prune=prune,
            engine=engine,
            encoder_spec=(encoder, encoder_kwargs),
            ray_address=ray_address,
            decode=decode,
        )


def _index_locked(
    st: Store,
    enc: Encoder,
    files: list[Path],
    not_files: list[tuple[str, str]],
    meta_index: MetadataIndex | None,
    timer: StageTimer,
    t_start: float,
    *,
    window_s: float,
    hop_s: float,
    poolings: Sequence[str],
    max_duration_s: float,
    frames: bool,
    batch_files: int,
    batch_windows: int,
    workers: int | None,
    stop_after_batches: int | None,
    progress: bool,
    optimize: bool,
    prune: bool,
    engine: Engine,
    encoder_spec: tuple[str | Encoder, dict | None],
    ray_address: str | None,
    decode: DecodeIn,
) -> IndexReport:
    """:func:`index_paths` under the store's write lock."""
    with timer("prepare"):
        run = start_run(
            st,
            enc,
            window_s=window_s,
            hop_s=hop_s,
            poolings=poolings,
            metadata=meta_index,
            timer=timer,
            frames=frames,
        )
    run.report.files_seen = len(files) + len(not_files)
    run.report.not_files = list(not_files)
    read_options = dict(
        sample_rate=enc.sample_rate,
        window_s=window_s,
        hop_s=hop_s,
        indexed=run.indexed,
        max_duration_s=max_duration_s,
        metadata=meta_index,
    )
    bar = ProgressBar(len(files), enabled=progress, label=f"indexing with {run.key}")
    try:
        if engine == "ray":
            run_batches_ray(
                run,
                files,
                read_options,
                encoder=encoder_spec,
                batch_files=batch_files,
                batch_windows=batch_windows,
                ray_address=ray_address,
                stop_after_batches=stop_after_batches,
                bar=bar,
            )
        else:
            run_batches(
                run,
                files,
                read_options,
                batch_files=batch_files,
                batch_windows=batch_windows,
                workers=workers or min(4, os.cpu_count() or 2),
                stop_after_batches=stop_after_batches,
                bar=bar,
                decode=decode,
            )
    finally:
        bar.close()
    finish_run(run, optimize=optimize, prune=prune, complete=stop_after_batches is None)
    timer.seconds["total"] = time.perf_counter() - t_start
    run.report.timings = dict(timer.seconds)
    return run.report


# ---------------------------------------------------------------------------------------------- one run
