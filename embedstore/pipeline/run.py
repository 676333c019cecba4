"""One indexing run of :func:`embedstore.pipeline.driver.index_paths`, stage by stage.

- :func:`start_run`: declare the setup's spaces (and the sequence space), read what is indexed already;
- :func:`run_batches` (local engine) / :func:`run_batches_ray` (Ray engine): files in batches of ``batch_files``;
  readers decode the next batch while the current one is encoded and a writer thread writes the previous one
  (one LanceDB append per table per batch); each batch is sorted into new files, skips, duplicates and rejects,
  and an encoder failure is isolated to its file;
- :func:`finish_run`: refresh metadata of unchanged files from a new sidecar, reconcile with the folder (prune),
  compact the tables.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Generator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from embedstore.alignment.features import SEQUENCE_COLUMNS, STORED_RATE, sequence_provenance
from embedstore.encoders import Encoder
from embedstore.metadata import MetadataIndex
from embedstore.pipeline.folder import agree_with_folder
from embedstore.pipeline.ray_engine import ray_session, stream_batches
from embedstore.pipeline.readers import DecodeIn, Readers
from embedstore.pipeline.report import IndexReport, ProgressBar, StageTimer
from embedstore.pipeline.stages import Decoded, Rejected, Skipped, write_batch
from embedstore.pipeline.stages import encode_isolating_failures as _encode_isolating_failures
from embedstore.store import EncodedRecording, Space, Store, sequence_space, setup_key
from embedstore.store.verify import PARTIAL_KINDS, repair_store, verify_store
from embedstore.utils import crash_point

ReadResult = Decoded | Rejected | Skipped


@dataclass
class Run:
    """State of one indexing run, shared by the steps below."""

    store: Store
    encoder: Encoder
    key: str
    spaces: list[Space]
    report: IndexReport
    indexed: dict[str, str]
    path_to_id: dict[str, str]
    metadata: MetadataIndex | None
    timer: StageTimer
    seen_hashes: dict[str, str] = field(default_factory=dict)
    #: path -> content hash of every input read by this run (the folder as it is now)
    seen_paths: dict[str, str] = field(default_factory=dict)
    #: recording id -> its stored path
    id_to_path: dict[str, str] = field(default_factory=dict)
    wrote: bool = False
    meta_updates: list[dict] = field(default_factory=list)
    frames: bool = False


def start_run(
    st: Store,
    enc: Encoder,
    *,
    window_s: float,
    hop_s: float,
    poolings: Sequence[str],
    metadata: MetadataIndex | None,
    timer: StageTimer,
    frames: bool = False,
) -> Run:
    """Declare the setup's spaces, clean what an interrupted run left, read what is indexed already."""
    key = setup_key(enc.name, window_s, hop_s)
    spaces = st.register_setup(enc, window_s=window_s, hop_s=hop_s, poolings=poolings)
    if frames:
        seq = sequence_space(
            key, enc.name, dim=len(SEQUENCE_COLUMNS), frame_rate=STORED_RATE, provenance=sequence_provenance()
        )
        st.register_spaces([seq])
        spaces = [*spaces, seq]
    report = IndexReport(setup_key=key, encoder=enc.name)
    found = verify_store(st)
    if not found.ok:
        report.cleaned_partial = len(
            {r for p in found.problems if p.kind in PARTIAL_KINDS for r in p.recording_ids}
        )
        report.repaired = repair_store(st)
    recs = st.recordings()
    return Run(
        store=st,
        encoder=enc,
        key=key,
        spaces=spaces,
        report=report,
        indexed=st.indexed(key),
        path_to_id=dict(zip(recs["path"], recs["recording_id"])) if len(recs) else {},
        metadata=metadata,
        timer=timer,
        frames=frames,
        id_to_path=dict(zip(recs["recording_id"], recs["path"])) if len(recs) else {},
    )


def run_batches(
    run: Run,
    files: list[Path],
    read_options: dict,
    *,
    batch_files: int,
    batch_windows: int,
    workers: int,
    stop_after_batches: int | None,
    bar: ProgressBar,
    decode: DecodeIn = "threads",
) -> None:
    """Read, encode and write the files batch by batch, the three stages overlapping."""
    batches = [files[i : i + batch_files] for i in range(0, len(files), batch_files)]
    with (
        Readers(decode, workers, read_options) as readers,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="writer") as writer,
    ):
        pending: Future | None = None
        with contextlib.closing(_read_ahead(readers, batches, run.timer)) as read_results:
            for n_done, results in enumerate(read_results, 1):
                good, rejects = _sort_results(run, results)
                with run.timer("encode"):
                    encoded, failed, warning = _encode_isolating_failures(
                        good, run.encoder, batch_windows=batch_windows, frames=run.frames
                    )
                if warning:
                    run.report.warnings.append(warning)
                run.report.rejected += failed
                rejects += failed
                _wait(pending, run.timer)
                stale = _account(run, encoded)
                pending = writer.submit(_write, run, encoded, rejects, stale)
                bar.advance(len(results))
                if stop_after_batches is not None and n_done >= stop_after_batches:
                    break
        _wait(pending, run.timer)


def run_batches_ray(
    run: Run,
    files: list[Path],
    read_options: dict,
    *,
    encoder: tuple[str | Encoder, dict | None],
    batch_files: int,
    batch_windows: int,
    ray_address: str | None,
    stop_after_batches: int | None,
    bar: ProgressBar,
) -> None:
    """Ray engine: files are read and encoded on the cluster (:func:`.ray_engine.stream_batches`); each batch is
    sorted, accounted and written here exactly as the local engine does."""
    spec = encoder[0] if isinstance(encoder[0], str) else run.encoder
    worker_s: dict[str, float] = {}
    with ray_session(ray_address):
        stream = stream_batches(
            files,
            read_options,
            encoder=spec,
            encoder_kwargs=encoder[1],
            provenance=run.encoder.provenance(),
            batch_files=batch_files,
            batch_windows=batch_windows,
            frames=run.frames,
            timings=worker_s,
            warnings=run.report.warnings,
        )
        t_wait = time.perf_counter()
        for n_done, (results, outputs) in enumerate(stream, 1):
            run.timer.add("wait_ray", time.perf_counter() - t_wait)
            good, rejects = _sort_results(run, results)
            encoded = [o for d in good if isinstance(o := outputs[d.path], EncodedRecording)]
            failed = [o for d in good if isinstance(o := outputs[d.path], Rejected)]
            run.report.rejected += failed
            _write(run, encoded, rejects + failed, _account(run, encoded))
            bar.advance(len(results))
            if stop_after_batches is not None and n_done >= stop_after_batches:
                break
            t_wait = time.perf_counter()
    for k, v in worker_s.items():
        run.timer.add(k, v)


def _read_ahead(
    pool: Readers, batches: list[list[Path]], timer: StageTimer
) -> Generator[list[ReadResult], None, None]:
    """The read results of each batch in turn, the next batch decoding while the caller works on this one.

    Closing the generator early cancels the reads not started yet.
    """
    futures = [[pool.submit(p) for p in batches[0]]] if batches else []
    try:
        for bi in range(len(batches)):
            if bi + 1 < len(batches):
                futures.append([pool.submit(p) for p in batches[bi + 1]])
            t_wait = time.perf_counter()
            results = []
            for f in futures[bi]:
                r, dt = f.result()
                timer.add("read", dt)
                results.append(r)
            timer.add("wait_read", time.perf_counter() - t_wait)
            futures[bi] = []
            yield results
    finally:
        for fl in futures:
            for f in fl:
                f.cancel()


def _reject_row(r: Rejected, key: str) -> dict:
    """The ``rejects`` table row of a rejected file."""
    return {
        "path": r.path,
        "reason": r.reason,
        "message": r.message,
        "setup_key": key,
        "content_hash": r.content_hash,
    }


def _sort_results(run: Run, results: list[ReadResult]) -> tuple[list[Decoded], list[Rejected]]:
    """Split a batch's read results into files to encode and rejects; count skips and duplicates."""
    good: list[Decoded] = []
    rejects: list[Rejected] = []
    for r in results:
        if r.content_hash:
            run.seen_paths[r.path] = r.content_hash
        if isinstance(r, Rejected):
            run.report.rejected.append(r)
            rejects.append(r)
        elif isinstance(r, Skipped):
            owner = run.id_to_path.get(r.recording_id)
            if owner and owner != r.path and Path(owner).exists():
                run.report.duplicates.append((r.path, owner))  # stored under another path that still holds it
                continue
            run.report.skipped.append(r.path)
            m = run.metadata.lookup(r.path) if run.metadata is not None else None
            if m:
                run.meta_updates.append({"recording_id": r.recording_id, **m})
        elif r.content_hash in run.seen_hashes:
            run.report.duplicates.append((r.path, run.seen_hashes[r.content_hash]))
        else:
            run.seen_hashes[r.content_hash] = r.path
            good.append(r)
    return good, rejects


def _account(run: Run, encoded: list[EncodedRecording]) -> list[str]:
    """Count the encoded files in the report; return ids of recordings whose file now has other content."""
    replaced_ids = []
    for e in encoded:
        rid, path = e.record["recording_id"], e.record["path"]
        old = run.path_to_id.get(path)
        if old and old != rid:
            replaced_ids.append(old)
            run.report.replaced.append(path)
        run.report.added.append(path)
        run.report.windows += e.window_vectors.shape[1]
        run.report.audio_s += float(e.record["duration_s"])
        run.path_to_id[path] = rid
    still_used = set(run.path_to_id.values())
    return [r for r in replaced_ids if r not in still_used]


def _write(run: Run, encoded: list[EncodedRecording], rejects: list[Rejected], stale: list[str]) -> None:
    """Writer thread: the batch's vectors, recordings (replacing those of changed files in the same commit) and
    markers; then the markers and vectors of the replaced recordings; then the batch's rejects."""
    t0 = time.perf_counter()
    write_batch(run.store, run.spaces, encoded, replaces=stale)
    if stale:
        crash_point("before_delete_old")
        run.store.delete_recordings(stale, keep_row=True)
    if encoded:
        run.store.clear_rejects([e.record["path"] for e in encoded], run.key)
    crash_point("before_rejects")
    n_rejects = run.store.add_rejects([_reject_row(r, run.key) for r in rejects])
    crash_point("after_rejects")
    if encoded or stale or n_rejects:
        run.wrote = True
    run.timer.add("write", time.perf_counter() - t0)


def _wait(pending: Future | None, timer: StageTimer) -> None:
    """Wait for the previous batch's write (re-raising its error)."""
    if pending is not None:
        t0 = time.perf_counter()
        pending.result()
        timer.add("wait_write", time.perf_counter() - t0)


def finish_run(run: Run, *, optimize: bool, prune: bool = False, complete: bool = True) -> None:
    """Refresh metadata of already-indexed files from the sidecar; bring the store in line with the folder (moves,
    overwrites, missing files); compact the tables after writes (a failure is a warning in the report)."""
    if run.meta_updates:
        with run.timer("write"):
            run.wrote |= run.store.update_metadata(run.meta_updates) > 0
    if complete:
        with run.timer("write"):
            run.wrote |= agree_with_folder(run.store, run.seen_paths, run.report, prune=prune)
    if run.metadata is not None and run.metadata.ambiguous_hits:
        names = sorted(run.metadata.ambiguous_hits)
        run.report.warnings.append(
            f"metadata: {len(names)} files matched several sidecar rows by file name or stem, the first row was "
            f"used ({', '.join(names[:5])}); give full paths in the sidecar to join them exactly"
        )
    if optimize and run.wrote:
        with run.timer("optimize"):
            run.report.warnings += run.store.optimize()
