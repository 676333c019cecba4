"""Indexing pipeline: reader -> encoder -> writer.

Each stage is a plain batch-in / batch-out function, so a distributed engine (e.g. Ray Data ``map_batches``) can run
them on a cluster later:

- :func:`read_batch` (paths -> decoded items or rejects): hash, skip what is already indexed, decode, validate,
  resample to the encoder's rate, cut windows. Runs in a thread pool (libsndfile, PyAV and soxr release the GIL),
  overlapping the encoder.
- :func:`encode_batch` (decoded items -> :class:`~embedstore.store.EncodedRecording`): windows from many files are
  concatenated (files sorted by length) and embedded in fixed-size batches.
- :func:`write_batch` (encoded -> store): vectors first, then recordings, then completion markers. Runs in a
  writer thread, one LanceDB append per table per batch.

Resumable and incremental: recordings are identified by content hash; a re-run adds nothing; a changed file is
re-indexed and its old vectors removed; rows of a run killed mid-batch (no completion marker) are removed when the
next run starts, so nothing is duplicated or lost.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from embedstore import config
from embedstore.errors import AudioError, ConfigError, EmbedstoreError, StoreError
from embedstore.store import EncodedRecording, Space, Store, recording_id_from_hash, setup_key


@dataclass
class Decoded:
    """Output of the reader stage for one good file."""

    path: str
    content_hash: str
    samples: np.ndarray  # (n,) float32 at the encoder's rate
    sample_rate: int  # the encoder's rate
    source_sample_rate: int
    channels: int
    windows: np.ndarray  # (n_windows, window_len) float32
    starts_s: np.ndarray  # (n_windows,)
    weights: np.ndarray  # (n_windows,) share of real audio in each window
    metadata: dict = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


@dataclass
class Rejected:
    path: str
    reason: str
    message: str
    content_hash: str = ""


@dataclass
class Skipped:
    path: str
    content_hash: str
    recording_id: str
    why: str  # "indexed" | "duplicate"


@dataclass
class IndexReport:
    setup_key: str
    encoder: str
    files_seen: int = 0
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    cleaned_partial: int = 0
    windows: int = 0
    audio_s: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """False only when files were given and nothing at all could be indexed (or was already)."""
        return bool(self.added or self.skipped or self.duplicates) or self.files_seen == 0

    def as_dict(self) -> dict:
        return {
            "setup_key": self.setup_key,
            "encoder": self.encoder,
            "files_seen": self.files_seen,
            "added": len(self.added),
            "replaced": len(self.replaced),
            "skipped": len(self.skipped),
            "duplicates": len(self.duplicates),
            "rejected": [{"path": r.path, "reason": r.reason, "message": r.message} for r in self.rejected],
            "cleaned_partial": self.cleaned_partial,
            "windows": self.windows,
            "audio_s": round(self.audio_s, 3),
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
            "realtime_factor": round(self.audio_s / self.timings["total"], 2)
            if self.timings.get("total")
            else None,
        }


# ---------------------------------------------------------------------------------------------- discovery
def discover(paths: str | Path | Sequence[str | Path]) -> list[Path]:
    """Audio files under the given files/folders (recursive), sorted. Folders yield files with audio extensions;
    explicitly named files are always included (so a non-audio file given by name is rejected, not ignored)."""
    from embedstore.audio import is_audio_path

    if isinstance(paths, str | Path):
        paths = [paths]
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out += [
                f
                for f in sorted(p.rglob("*"))
                if f.is_file() and is_audio_path(f) and not any(part.endswith(".lance") for part in f.parts)
            ]
        elif p.exists():
            out.append(p)
        else:
            raise ConfigError(f"no such file or folder: {p}")
    seen, uniq = set(), []
    for f in out:
        r = f.resolve()
        if r not in seen:
            seen.add(r)
            uniq.append(r)
    return uniq


# ---------------------------------------------------------------------------------------------- stages
def _window_weights(starts: np.ndarray, window_s: float, duration_s: float) -> np.ndarray:
    real = np.clip(duration_s - starts, 0.0, window_s)
    return (real / window_s).astype(np.float32)


def read_one(
    path: str | Path,
    *,
    sample_rate: int,
    window_s: float,
    hop_s: float,
    indexed: dict[str, str] | None = None,
    max_duration_s: float = config.DEFAULT_MAX_DURATION_S,
    metadata=None,
) -> Decoded | Rejected | Skipped:
    """Reader stage for one file (never raises for bad input: returns :class:`Rejected`)."""
    from embedstore.audio import content_hash, frame_windows, load_audio, probe_audio

    path = str(path)
    try:
        h = content_hash(path)
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
    except Exception as e:  # noqa: BLE001 - a reader must never stop the run
        return Rejected(path, "corrupt", f"could not decode: {type(e).__name__}: {e}", h)
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
        weights=_window_weights(starts, window_s, audio.duration_s),
        metadata=meta,
    )


def read_batch(paths: Sequence[str | Path], **kwargs) -> list[Decoded | Rejected | Skipped]:
    """Reader stage, batch form (see :func:`read_one` for the options)."""
    return [read_one(p, **kwargs) for p in paths]


def _record(d: Decoded) -> dict:
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


def encode_batch(items: Sequence[Decoded], encoder, *, batch_windows: int = 32) -> list[EncodedRecording]:
    """Encoder stage: embed the windows of many files together, in fixed-size batches.

    Files are sorted by length so batches are filled evenly; results come back in the input order.
    """
    if not items:
        return []
    order = sorted(range(len(items)), key=lambda i: -len(items[i].windows))
    all_w = np.concatenate([items[i].windows for i in order], axis=0)
    outs = []
    for s in range(0, len(all_w), batch_windows):
        outs.append(np.asarray(encoder.embed(all_w[s : s + batch_windows]), dtype=np.float32))
    emb = np.concatenate(outs, axis=1)  # (L, total_windows, D)
    if not np.all(np.isfinite(emb)):
        raise ConfigError(f"encoder {encoder.name} produced non-finite values")
    res: list[EncodedRecording | None] = [None] * len(items)
    pos = 0
    window_s = items[0].windows.shape[1] / items[0].sample_rate
    for i in order:
        d = items[i]
        n = len(d.windows)
        res[i] = EncodedRecording(
            record=_record(d),
            window_vectors=emb[:, pos : pos + n],
            starts_s=d.starts_s.astype(np.float64),
            ends_s=(d.starts_s + window_s).astype(np.float64),
            weights=d.weights,
        )
        pos += n
    return res  # type: ignore[return-value]


def write_batch(store: Store, spaces: Sequence[Space], encoded: Sequence[EncodedRecording]) -> None:
    """Writer stage (see :meth:`Store.write_encoded`)."""
    store.write_encoded(spaces, encoded)


# ---------------------------------------------------------------------------------------------- driver
class _Timer:
    def __init__(self):
        self.t: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.t[name] = self.t.get(name, 0.0) + time.perf_counter() - t0

    def add(self, name: str, dt: float) -> None:
        self.t[name] = self.t.get(name, 0.0) + dt


def _chunks(seq: Sequence, n: int) -> Iterator[Sequence]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


def resolve_encoder(encoder, **encoder_kwargs):
    from embedstore.encoders import get_encoder

    return get_encoder(encoder, **encoder_kwargs) if isinstance(encoder, str) else encoder


def index_paths(
    paths: str | Path | Sequence[str | Path],
    store: Store | str | Path,
    encoder,
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
) -> IndexReport:
    """Index audio files into a store (resumable, incremental).

    Parameters
    ----------
    paths : folder(s) and/or files
    store : Store or its URI (created when missing)
    encoder : registry name, ``hf:/path`` or an :class:`~embedstore.encoders.Encoder`
    window_s, hop_s : analysis window and hop in seconds
    metadata : CSV/JSON sidecar joined to files by path, file name or stem
    poolings : recording-level poolings to store besides the window vectors
    batch_files : files per reader/writer batch
    batch_windows : windows per encoder forward pass
    workers : decoding threads (default: min(4, cpu count))
    stop_after_batches : stop early after that many written batches (for tests of resumption)

    Returns
    -------
    IndexReport
    """
    t_start = time.perf_counter()
    if window_s <= 0 or hop_s <= 0:
        raise ConfigError(f"window and hop must be > 0 (got window={window_s}, hop={hop_s})")
    timer = _Timer()
    with timer("load_encoder"):
        enc = resolve_encoder(encoder, **(encoder_kwargs or {}))
    if window_s < enc.min_window_s:
        raise ConfigError(f"window {window_s} s is shorter than {enc.name}'s minimum {enc.min_window_s} s")
    st = store if isinstance(store, Store) else Store(store)
    key = setup_key(enc.name, window_s, hop_s)
    report = IndexReport(setup_key=key, encoder=enc.name)
    files = discover(paths)
    report.files_seen = len(files)
    meta_index = None
    if metadata is not None:
        from embedstore.metadata import MetadataIndex
        from embedstore.store import CORE_RECORDING_COLUMNS

        meta_index = MetadataIndex.from_file(metadata, reserved=CORE_RECORDING_COLUMNS)

    with timer("prepare"):
        spaces = st.register_setup(enc, window_s=window_s, hop_s=hop_s, poolings=poolings)
        report.cleaned_partial = st.clean_partial(key)
        indexed = st.indexed(key)
        recs = st.recordings()
        path_to_id = dict(zip(recs["path"], recs["recording_id"])) if len(recs) else {}
        id_to_path = dict(zip(recs["recording_id"], recs["path"])) if len(recs) else {}

    workers = workers or min(4, os.cpu_count() or 2)
    read_kw = dict(
        sample_rate=enc.sample_rate,
        window_s=window_s,
        hop_s=hop_s,
        indexed=indexed,
        max_duration_s=max_duration_s,
        metadata=meta_index,
    )
    bar = _Progress(len(files), enabled=progress, label=f"indexing with {key}")
    pending_write: Future | None = None
    seen_hashes: dict[str, str] = {}
    meta_updates: list[dict] = []
    batches_written = 0

    def timed_read(p):
        t0 = time.perf_counter()
        r = read_one(p, **read_kw)
        return r, time.perf_counter() - t0

    with (
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reader") as pool,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="writer") as writer,
    ):
        # prefetch: keep the next batch decoding while the current one is encoded
        batches = list(_chunks(files, batch_files))
        futures = [[pool.submit(timed_read, p) for p in batches[0]]] if batches else []
        for bi in range(len(batches)):
            if bi + 1 < len(batches):
                futures.append([pool.submit(timed_read, p) for p in batches[bi + 1]])
            t_wait = time.perf_counter()
            results = []
            for f in futures[bi]:
                r, dt = f.result()
                timer.add("read", dt)
                results.append(r)
            timer.add("wait_read", time.perf_counter() - t_wait)
            futures[bi] = []
            good: list[Decoded] = []
            rejects = []
            for r in results:
                if isinstance(r, Rejected):
                    report.rejected.append(r)
                    rejects.append(
                        {
                            "path": r.path,
                            "reason": r.reason,
                            "message": r.message,
                            "setup_key": key,
                            "content_hash": r.content_hash,
                        }
                    )
                elif isinstance(r, Skipped):
                    report.skipped.append(r.path)
                    if meta_index is not None:
                        m = meta_index.lookup(r.path)
                        if m:
                            meta_updates.append({"recording_id": r.recording_id, **m})
                elif r.content_hash in seen_hashes:
                    report.duplicates.append((r.path, seen_hashes[r.content_hash]))
                else:
                    seen_hashes[r.content_hash] = r.path
                    good.append(r)
            with timer("encode"):
                try:
                    encoded = encode_batch(good, enc, batch_windows=batch_windows)
                except EmbedstoreError:
                    raise
                except Exception as e:  # noqa: BLE001 - isolate the failing file, keep the rest
                    encoded = []
                    for d in good:
                        try:
                            encoded += encode_batch([d], enc, batch_windows=batch_windows)
                        except Exception as e1:  # noqa: BLE001
                            report.rejected.append(
                                Rejected(d.path, "encoder_failed", f"{type(e1).__name__}: {e1}")
                            )
                            rejects.append(
                                {
                                    "path": d.path,
                                    "reason": "encoder_failed",
                                    "message": str(e1),
                                    "setup_key": key,
                                    "content_hash": d.content_hash,
                                }
                            )
                    del e
            if pending_write is not None:
                t_w = time.perf_counter()
                pending_write.result()
                timer.add("wait_write", time.perf_counter() - t_w)
            replaced_ids = []
            for e in encoded:
                rid = e.record["recording_id"]
                old = path_to_id.get(e.record["path"])
                if old and old != rid:
                    replaced_ids.append(old)
                    report.replaced.append(e.record["path"])
                report.added.append(e.record["path"])
                report.windows += e.window_vectors.shape[1]
                report.audio_s += float(e.record["duration_s"])
                path_to_id[e.record["path"]] = rid
                id_to_path[rid] = e.record["path"]
            still_used = set(path_to_id.values())
            stale = [r for r in replaced_ids if r not in still_used]

            def do_write(encoded=encoded, rejects=rejects, stale=stale):
                t0 = time.perf_counter()
                write_batch(st, spaces, encoded)
                if encoded:
                    st.clear_rejects([e.record["path"] for e in encoded], key)
                st.add_rejects(rejects)
                if stale:
                    st.delete_recordings(stale)
                timer.add("write", time.perf_counter() - t0)

            pending_write = writer.submit(do_write)
            batches_written += 1
            bar.advance(len(results))
            if stop_after_batches is not None and batches_written >= stop_after_batches:
                for fl in futures[bi + 1 :]:
                    for f in fl:
                        f.cancel()
                break
        if pending_write is not None:
            t_w = time.perf_counter()
            pending_write.result()
            timer.add("wait_write", time.perf_counter() - t_w)
    bar.close()
    if meta_updates:
        with timer("write"):
            _update_metadata(st, meta_updates)
    if optimize and (report.added or report.rejected):
        with timer("optimize"):
            st.optimize()
    timer.t["total"] = time.perf_counter() - t_start
    report.timings = dict(timer.t)
    return report


def _update_metadata(store: Store, updates: list[dict]) -> None:
    """Refresh metadata columns of already-indexed recordings (a re-run with a new/changed sidecar)."""
    recs = store.recordings()
    if recs.empty:
        return
    by_id = {r["recording_id"]: r for r in recs.to_dict("records")}
    rows = []
    for u in updates:
        base = by_id.get(u["recording_id"])
        if base is None:
            continue
        merged = {**base, **{k: v for k, v in u.items() if k not in ("recording_id",)}}
        if any(base.get(k) != v for k, v in u.items() if not (v is None and base.get(k) is None)):
            rows.append(merged)
    if rows:
        store.upsert_recordings(rows)


class _Progress:
    """A rich progress bar with ETA (silent when disabled)."""

    def __init__(self, total: int, *, enabled: bool, label: str):
        self.p = None
        if enabled and total:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.p = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                transient=False,
            )
            self.p.start()
            self.task = self.p.add_task(label, total=total)

    def advance(self, n: int) -> None:
        if self.p is not None:
            self.p.advance(self.task, n)

    def close(self) -> None:
        if self.p is not None:
            self.p.stop()


# ---------------------------------------------------------------------------------------------- queries
_ENCODER_CACHE: dict[tuple, object] = {}


def encoder_for_setup(store: Store, setup: str):
    """Rebuild the encoder a setup was indexed with, and check its provenance matches."""
    from embedstore.encoders import get_encoder
    from embedstore.errors import ProvenanceError

    setups = store.setups()
    if setup not in setups:
        raise StoreError(f"no encoder setup {setup!r} in {store.uri}", hint="setups: " + ", ".join(setups))
    prov = setups[setup]["provenance"]
    name = prov["encoder"]
    kwargs = dict(prov.get("load_kwargs") or {})
    ck = (name, tuple(sorted(kwargs.items())))
    if ck not in _ENCODER_CACHE:
        _ENCODER_CACHE[ck] = get_encoder(name, **kwargs)
    enc = _ENCODER_CACHE[ck]
    now = enc.provenance()
    for k in ("encoder", "model_id", "revision", "sample_rate", "dim", "params"):
        if k in prov and prov[k] != now.get(k):
            raise ProvenanceError(
                f"encoder {name} now differs from the one this store was built with ({k}: {prov[k]!r} vs "
                f"{now.get(k)!r})",
                hint="queries must be embedded exactly as the index was built; re-index or load the same model",
            )
    return enc


@dataclass
class QueryEmbedding:
    path: str
    content_hash: str
    window_vectors: np.ndarray  # (L, W, D)
    starts_s: np.ndarray
    ends_s: np.ndarray
    weights: np.ndarray
    duration_s: float

    def pooled(self, pooling: str = "mean") -> np.ndarray:
        from embedstore.store import _pool

        return _pool(self.window_vectors, self.weights, pooling)


def embed_file(
    path: str | Path,
    *,
    store: Store,
    setup_key: str,
    start_s: float | None = None,
    end_s: float | None = None,
) -> QueryEmbedding:
    """Embed a file (or a passage of it) exactly as ``setup_key`` was indexed.

    A passage shorter than the setup's window is embedded as one (zero-padded) window.
    """
    from embedstore.audio import content_hash, frame_windows, load_audio

    setups = store.setups()
    if setup_key not in setups:
        raise StoreError(
            f"no encoder setup {setup_key!r} in {store.uri}", hint="setups: " + ", ".join(setups)
        )
    s = setups[setup_key]
    enc = encoder_for_setup(store, setup_key)
    audio = load_audio(path, sample_rate=enc.sample_rate)
    dur = audio.duration_s
    a = 0.0 if start_s is None else max(0.0, float(start_s))
    b = dur if end_s is None else min(dur, float(end_s))
    if b <= a:
        raise ConfigError(f"empty passage [{start_s}, {end_s}] in a {dur:.1f} s recording")
    seg = audio.samples[int(round(a * enc.sample_rate)) : int(round(b * enc.sample_rate))]
    windows, starts = frame_windows(seg, enc.sample_rate, window_s=s["window_s"], hop_s=s["hop_s"])
    vec = np.concatenate(
        [np.asarray(enc.embed(windows[i : i + 32]), np.float32) for i in range(0, len(windows), 32)], axis=1
    )
    return QueryEmbedding(
        path=str(path),
        content_hash=content_hash(path),
        window_vectors=vec,
        starts_s=starts + a,
        ends_s=starts + a + s["window_s"],
        weights=_window_weights(starts, s["window_s"], b - a),
        duration_s=dur,
    )


def iter_files(paths: Iterable[str | Path]) -> Iterator[Path]:  # small public helper for scripts
    yield from discover(list(paths))
