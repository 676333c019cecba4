"""The Ray engine of indexing: the stages of :mod:`embedstore.pipeline.stages` run as a Ray Data pipeline.

``index_paths(..., engine="ray")`` (:mod:`embedstore.pipeline.driver`) keeps everything that touches the store on the
driver (declaring spaces, cleaning partial rows, duplicates, writes and completion markers, so the store's protocol
is the local engine's) and hands :func:`stream_batches` the files to read and encode on the cluster:

1. files as a dataset, one block per file;
2. ``map_batches`` (CPU tasks): :func:`~embedstore.pipeline.stages.read_one` -- hash, skip what is indexed, decode,
   validate, resample, cut windows; a bad file becomes a reject row, never a failed task;
3. ``map_batches`` with an actor pool (``ActorPoolStrategy``): each actor builds the encoder once (``num_gpus=1``
   and ``device="cuda"`` when the cluster has GPUs) and runs
   :func:`~embedstore.pipeline.stages.encode_isolating_failures` on ``batch_files`` files at a time;
4. the driver iterates the results in batches of ``batch_files`` files and commits each batch through the store.

Rows between the steps are flat columns (strings, numbers and variable-shaped float tensors), so nothing but
numpy arrays and text crosses the object store; a row's ``kind`` is ``decoded``/``encoded``, ``rejected``,
``failed`` (the encoder failed on the file) or ``skipped``. A lost worker is retried by Ray; a killed driver leaves rows without completion markers, which the next
run removes before it starts (:meth:`~embedstore.store.Store.clean_partial`).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from embedstore.encoders import Encoder, get_encoder
from embedstore.encoders.base import registered_encoders
from embedstore.errors import ConfigError
from embedstore.pipeline.stages import Decoded, Rejected, Skipped, encode_isolating_failures, read_one
from embedstore.store import EncodedRecording

Output = EncodedRecording | Rejected
_EMPTY1 = np.zeros(0, np.float32)
_EMPTY2 = np.zeros((0, 0), np.float32)
_EMPTY3 = np.zeros((0, 0, 0), np.float32)
#: Memory a decode task asks Ray for (a 10 min file at 24 kHz: samples + 50 % overlapping windows, twice over).
DECODE_MEMORY_BYTES = 256 * 2**20
#: Fraction of free GPU memory an actor's forward pass may use when sizing its batches.
GPU_MEMORY_SHARE = 0.5


def ray_available() -> bool:
    """Whether the optional ``ray`` extra is installed (``pip install 'embedstore[ray]'``)."""
    import importlib.util

    return importlib.util.find_spec("ray") is not None


@contextlib.contextmanager
def ray_session(address: str | None = None) -> Iterator[None]:
    """Ray for the ``with`` block (:func:`init_ray`); shut down afterwards only if this block started it."""
    started = init_ray(address)
    try:
        yield
    finally:
        if started:
            import ray

            ray.shutdown()


def init_ray(address: str | None = None) -> bool:
    """Connect to Ray: keep a session already open, join ``address`` (``auto``, ``ray://...``) or start a local one.

    Returns
    -------
    bool
        True when this call started or joined Ray (so the caller should shut it down), False when Ray was
        already initialised in this process.
    """
    if not ray_available():
        raise ConfigError(
            "the ray engine needs Ray, which is not installed",
            hint="pip install 'embedstore[ray]' (ray[data]), or use --engine local",
        )
    import logging

    import ray

    if ray.is_initialized():
        return False
    ray.init(
        address=address,
        include_dashboard=False,
        logging_level=logging.WARNING,
        configure_logging=True,
        ignore_reinit_error=True,
    )
    return True


def _objects(items: list) -> np.ndarray:
    """A 1-d object array holding ``items`` as they are (numpy would stack equal-shaped arrays)."""
    out = np.empty(len(items), dtype=object)
    for i, x in enumerate(items):
        out[i] = x
    return out


# ---------------------------------------------------------------------------------------------- step 2: read
def _read_rows(batch: dict[str, np.ndarray], *, read_options: dict) -> dict[str, np.ndarray]:
    """Ray task: :func:`read_one` on each path of the batch; one flat row per file."""
    rows: list[dict[str, Any]] = []
    for path in batch["path"]:
        t0 = time.perf_counter()
        r = read_one(str(path), **read_options)
        row: dict[str, Any] = {
            "kind": "rejected",
            "path": str(path),
            "content_hash": r.content_hash,
            "reason": "",
            "message": "",
            "recording_id": "",
            "samples": _EMPTY1,
            "windows": _EMPTY2,
            "starts_s": _EMPTY1,
            "weights": _EMPTY1,
            "rates": np.zeros(3, np.int64),
            "metadata": "{}",
        }
        if isinstance(r, Rejected):
            row.update(reason=r.reason, message=r.message)
        elif isinstance(r, Skipped):
            row.update(kind="skipped", reason=r.why, recording_id=r.recording_id)
        else:
            row.update(
                kind="decoded",
                samples=r.samples,
                windows=r.windows,
                starts_s=np.asarray(r.starts_s, np.float32),
                weights=np.asarray(r.weights, np.float32),
                rates=np.array([r.sample_rate, r.source_sample_rate, r.channels], np.int64),
                metadata=json.dumps(r.metadata),
            )
        row["read_s"] = time.perf_counter() - t0
        rows.append(row)
    return {k: _objects([row[k] for row in rows]) for k in rows[0]} if rows else {}


def _decoded(row: dict[str, Any], *, keep_audio: bool = True) -> Decoded:
    """The :class:`Decoded` of a flat row (without its audio when ``keep_audio`` is False)."""
    rate, source_rate, channels = (int(x) for x in row["rates"])
    starts = np.asarray(row["starts_s"], np.float64)
    return Decoded(
        path=str(row["path"]),
        content_hash=str(row["content_hash"]),
        samples=np.asarray(row["samples"], np.float32) if keep_audio else _EMPTY1,
        sample_rate=rate,
        source_sample_rate=source_rate,
        channels=channels,
        windows=np.asarray(row["windows"], np.float32) if keep_audio else _EMPTY2,
        starts_s=starts,
        weights=np.asarray(row["weights"], np.float32),
        metadata=json.loads(str(row["metadata"])),
    )


def _rows(batch: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """The rows of a numpy batch."""
    n = len(next(iter(batch.values()))) if batch else 0
    return [{k: v[i] for k, v in batch.items()} for i in range(n)]


# ---------------------------------------------------------------------------------------------- step 3: encode
def gpu_batch_windows(encoder: Encoder, window_s: float, default: int) -> int:
    """Windows per forward pass on a GPU, sized by the free GPU memory (``default`` on CPU).

    The estimate is the activations of one window: ``n_layers x frames x dim`` float32 values kept for every layer,
    times 8 for the attention and feed-forward intermediates, of which :data:`GPU_MEMORY_SHARE` of the free memory
    may be used. Never below ``default``.
    """
    import torch

    if not torch.cuda.is_available():
        return default
    free, _ = torch.cuda.mem_get_info()
    per_window = (
        encoder.n_layers * max(1.0, window_s * encoder.frame_rate) * (encoder.frame_dim or encoder.dim)
    )
    per_window *= 4 * 8
    return max(default, int(free * GPU_MEMORY_SHARE // per_window))


class _EncodeActor:
    """Ray actor: builds the encoder once, then encodes batches of decoded files."""

    def __init__(
        self,
        spec: str | Encoder,
        kwargs: dict,
        provenance: dict,
        batch_windows: int,
        frames: bool,
        threads: int,
        window_s: float,
    ) -> None:
        import torch

        on_gpu = torch.cuda.is_available()
        if isinstance(spec, str):
            if on_gpu and _is_transformers(spec):
                kwargs = {**kwargs, "device": "cuda"}
            self.encoder = get_encoder(spec, **kwargs)
        else:
            self.encoder = spec
        if self.encoder.provenance() != provenance:
            raise ConfigError(
                f"encoder {self.encoder.name} on a Ray worker differs from the driver's (provenance)",
                hint="pin the encoder's options, e.g. --dtype float32, so every machine builds the same model",
            )
        if not on_gpu:
            torch.set_num_threads(threads)
        self.batch_windows = batch_windows
        self.frames = frames
        self.sized = False
        # first call: JIT compilation and lazy imports (librosa/numba, torch kernels), a fixed cost of the actor
        noise = np.random.default_rng(0).standard_normal((1, int(window_s * self.encoder.sample_rate)))
        self.encoder.embed((0.01 * noise).astype(np.float32))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = _rows(batch)
        good = [_decoded(r) for r in rows if r["kind"] == "decoded"]
        if good and not self.sized:
            window_s = good[0].windows.shape[1] / good[0].sample_rate
            self.batch_windows = gpu_batch_windows(self.encoder, window_s, self.batch_windows)
            self.sized = True
        t0 = time.perf_counter()
        encoded, failed, _warning = encode_isolating_failures(  # failed rows carry the error
            good, self.encoder, batch_windows=self.batch_windows, frames=self.frames
        )
        share = (time.perf_counter() - t0) / max(1, len(good))
        by_path: dict[str, Output] = {e.record["path"]: e for e in encoded}
        by_path.update({f.path: f for f in failed})
        out = []
        for r in rows:
            row = {k: r[k] for k in ("kind", "path", "content_hash", "reason", "message", "recording_id")}
            row.update(read_s=r["read_s"], encode_s=0.0, record="{}", has_frames=False)
            row.update(
                window_vectors=_EMPTY3, starts_s=_EMPTY1, ends_s=_EMPTY1, weights=_EMPTY1, frames=_EMPTY2
            )
            o = by_path.get(str(r["path"])) if r["kind"] == "decoded" else None
            if isinstance(o, Rejected):
                row.update(kind="failed", reason=o.reason, message=o.message, encode_s=share)
            elif isinstance(o, EncodedRecording):
                row.update(
                    kind="encoded",
                    encode_s=share,
                    record=json.dumps(o.record),
                    window_vectors=np.asarray(o.window_vectors, np.float32),
                    starts_s=o.starts_s,
                    ends_s=o.ends_s,
                    weights=np.asarray(o.weights if o.weights is not None else _EMPTY1, np.float32),
                    has_frames=o.frames is not None,
                    frames=np.asarray(o.frames if o.frames is not None else _EMPTY2, np.float32),
                )
            out.append(row)
        return {k: _objects([row[k] for row in out]) for k in out[0]} if out else {}


def _is_transformers(spec: str) -> bool:
    """Whether an encoder name builds a ``transformers`` model (which takes a ``device``)."""
    entry = registered_encoders().get(spec)
    return spec.startswith("hf:") or (entry is not None and entry.kind == "transformers")


# ---------------------------------------------------------------------------------------------- driver side
def _result(row: dict[str, Any]) -> tuple[Decoded | Rejected | Skipped, Output | None]:
    """A final row as the driver's read result (a :class:`Decoded` without audio) and its encoder output."""
    path, h = str(row["path"]), str(row["content_hash"])
    kind = str(row["kind"])
    if kind == "skipped":
        return Skipped(path, h, str(row["recording_id"]), str(row["reason"])), None
    if kind == "rejected":
        return Rejected(path, str(row["reason"]), str(row["message"]), h), None
    stub = Decoded(path, h, _EMPTY1, 0, 0, 0, _EMPTY2, _EMPTY1, _EMPTY1)
    if kind == "failed":  # the encoder failed on this file
        return stub, Rejected(path, str(row["reason"]), str(row["message"]), h)
    weights = np.asarray(row["weights"], np.float32)
    return stub, EncodedRecording(
        record=json.loads(str(row["record"])),
        window_vectors=np.asarray(row["window_vectors"], np.float32),
        starts_s=np.asarray(row["starts_s"], np.float64),
        ends_s=np.asarray(row["ends_s"], np.float64),
        weights=weights if len(weights) else None,
        frames=np.asarray(row["frames"], np.float32) if bool(row["has_frames"]) else None,
    )


def stream_batches(
    files: Sequence[str | Path],
    read_options: dict,
    *,
    encoder: str | Encoder,
    encoder_kwargs: dict | None,
    provenance: dict,
    batch_files: int = 16,
    batch_windows: int = 32,
    frames: bool = False,
    actors: int | None = None,
    timings: dict[str, float] | None = None,
) -> Iterator[tuple[list[Decoded | Rejected | Skipped], dict[str, Output]]]:
    """Read and encode ``files`` on the Ray cluster; yield them ``batch_files`` at a time, as they finish.

    Parameters
    ----------
    files : sequence of str or Path
        Paths every worker can read (a shared file system on a cluster).
    read_options : dict
        Keyword options of :func:`~embedstore.pipeline.stages.read_one` (``indexed`` lists what to skip).
    encoder : str or Encoder
        A registry name or ``hf:/path`` (each actor builds it with ``encoder_kwargs``), or an encoder object
        (shipped to the actors).
    provenance : dict
        The driver's encoder's provenance; an actor whose encoder differs stops the run (:class:`ConfigError`).
    batch_files, batch_windows : int
        Files per actor call and per yielded batch; windows per forward pass (GPU actors size it by memory).
    frames : bool
        Also compute each recording's frame sequence.
    actors : int, optional
        Encoder actors: default one per GPU, else one per 4 CPUs of the cluster (at least 1).
    timings : dict, optional
        Receives worker seconds: ``read`` and ``encode`` summed over files.

    Yields
    ------
    (results, outputs)
        ``results``: each file's read result in the driver's terms (a :class:`Decoded` without audio for files that
        were encoded); ``outputs``: path -> :class:`EncodedRecording`, or :class:`Rejected` when the encoder failed.
    """
    import ray
    import ray.data

    if not files:
        return
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.execution_options.preserve_order = False
    res = ray.cluster_resources()
    gpus = int(res.get("GPU", 0))
    n_actors = actors or (gpus if gpus else max(1, int(res.get("CPU", 1)) // 4))
    cpus_per_actor = 1 if gpus else max(1, int(res.get("CPU", 1)) // (2 * n_actors))
    ds = ray.data.from_items([{"path": str(f)} for f in files], override_num_blocks=len(files))
    # the memory request (a typical file's decoded audio and windows) also keeps Ray Data from fusing the decode
    # tasks into the encoder actors, where files would be decoded one after another
    ds = ds.map_batches(
        _read_rows,
        fn_kwargs={"read_options": read_options},
        batch_size=1,
        num_cpus=1,
        memory=DECODE_MEMORY_BYTES,
    )
    ds = ds.map_batches(
        _EncodeActor,
        fn_constructor_kwargs={
            "spec": encoder,
            "kwargs": dict(encoder_kwargs or {}),
            "provenance": provenance,
            "batch_windows": batch_windows,
            "frames": frames,
            "threads": cpus_per_actor,
            "window_s": read_options["window_s"],
        },
        compute=ray.data.ActorPoolStrategy(size=n_actors),
        batch_size=batch_files,
        num_gpus=1 if gpus else 0,
        num_cpus=cpus_per_actor,
    )
    for batch in ds.iter_batches(batch_size=batch_files, batch_format="numpy", prefetch_batches=1):
        results: list[Decoded | Rejected | Skipped] = []
        outputs: dict[str, Output] = {}
        for row in _rows(batch):
            r, o = _result(row)
            results.append(r)
            if o is not None:
                outputs[r.path] = o
            if timings is not None:
                timings["read"] = timings.get("read", 0.0) + float(row["read_s"])
                timings["encode"] = timings.get("encode", 0.0) + float(row["encode_s"])
        yield results, outputs
