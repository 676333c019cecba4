"""Ray engine vs local engine on the same clips, and a paper model of indexing at cluster scale (issue 9).

Measured on this machine, for each encoder (chroma, bssl):

- **local** and **ray** (`index_paths(..., engine=...)` into a fresh store) on ``--small`` and ``--files`` clips;
  a straight line through the two sizes gives each engine's fixed cost per run (intercept) and its marginal
  seconds per file (slope): the throughput ratio is the ratio of slopes, Ray's fixed start-up cost is
  ``ray.init`` plus its intercept.

Inputs of the paper model, measured here:

- decode seconds per audio second (the local engine's ``read`` stage, summed over files);
- MERT-95M-shaped encoder CPU seconds per audio second (random init HubertModel with MERT-v1-95M's config,
  ``save_pretrained`` to tmp, loaded through ``get_encoder``), and this CPU's matmul GFLOP/s, so the encoder's cost
  can be expressed in FLOPs and scaled to a GPU;
- driver write seconds per audio hour for MERT-95M-shaped vectors (13 layers x 768, window + mean + max pooling),
  through ``Store.write_encoded`` in batches of 16 recordings (the Ray engine commits through the driver).

Usage::

    python bench/bench_ray.py [--files 40] [--small 8] [--encoders chroma,bssl]

Writes bench/results/ray.json and ray.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from embedstore.encoders import Encoder, get_encoder
from embedstore.pipeline import index_paths
from embedstore.store import EncodedRecording, Store
from embedstore.utils import machine_description

RESULTS = Path(__file__).resolve().parent / "results"
WINDOW_S, HOP_S = 10.0, 5.0


def commit() -> str:
    try:
        return subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], text=True).strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run_engine(engine: str, enc_name: str, files: list[Path], tmp: Path) -> dict:
    st = Store(tempfile.mkdtemp(dir=tmp) + "/s.lance")
    t0 = time.perf_counter()
    rep = index_paths(files, st, enc_name, window_s=WINDOW_S, hop_s=HOP_S, engine=engine, frames=False)  # type: ignore[arg-type]
    wall = time.perf_counter() - t0
    assert len(rep.added) == len(files), rep.as_dict()
    return {"wall_s": round(wall, 3), "audio_s": rep.audio_s, "timings_s": rep.as_dict()["timings_s"]}


def line(n1: int, t1: float, n2: int, t2: float) -> tuple[float, float]:
    """Intercept (s) and slope (s per file) through two points."""
    slope = (t2 - t1) / (n2 - n1)
    return t1 - slope * n1, slope


def ray_task_overhead(n: int = 200) -> dict:
    """Seconds per file that Ray Data adds with nothing to do: ``n`` one-row blocks through an identity task and an
    identity actor (the engine's shape), in the warm session."""
    import ray.data

    def ident(b):
        return b

    class Ident:
        def __call__(self, b):
            return b

    ds = ray.data.from_items([{"i": i} for i in range(n)], override_num_blocks=n)
    ds = ds.map_batches(ident, batch_size=1, num_cpus=1, memory=2**20)
    ds = ds.map_batches(Ident, compute=ray.data.ActorPoolStrategy(size=1), batch_size=16, num_cpus=1)
    t0 = time.perf_counter()
    m = sum(len(b["i"]) for b in ds.iter_batches(batch_size=16, batch_format="numpy"))
    wall = time.perf_counter() - t0
    assert m == n
    return {"files": n, "wall_s": round(wall, 3), "s_per_file": round(wall / n, 4)}


def cpu_gflops(threads: int = 2) -> float:
    import torch

    torch.set_num_threads(threads)
    a = torch.randn(1024, 1024)
    b = torch.randn(1024, 1024)
    a @ b
    n = 20
    t0 = time.perf_counter()
    for _ in range(n):
        a @ b
    return 2 * 1024**3 * n / (time.perf_counter() - t0) / 1e9


def mert_cost(files: list[Path], tmp: Path) -> dict:
    """CPU seconds per audio second of the MERT-95M-shaped encoder (2 threads), on 10 s windows of real clips."""
    import torch
    from bench_index import mert_shaped  # type: ignore

    from embedstore.audio import frame_windows, load_audio

    torch.set_num_threads(2)
    enc = get_encoder("mert-v1-95m", model_path=mert_shaped(tmp), dtype="float32")
    wins, audio_s = [], 0.0
    for f in files:
        a = load_audio(f, sample_rate=enc.sample_rate)
        w, _ = frame_windows(a.samples, a.sample_rate, window_s=WINDOW_S, hop_s=HOP_S)
        wins.append(w)
        audio_s += a.duration_s
    allw = np.concatenate(wins)
    enc.embed(allw[:1])
    c0, t0 = time.process_time(), time.perf_counter()
    for i in range(0, len(allw), 8):
        enc.embed(allw[i : i + 8])
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "windows": len(allw),
        "audio_s": audio_s,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "wall_s_per_window": round(wall / len(allw), 4),
        "windows_per_audio_s": len(allw) / audio_s,
        "n_layers": enc.n_layers,
        "dim": enc.dim,
    }


def write_cost(tmp: Path, n_layers: int, dim: int, n_rec: int = 64, n_win: int = 5, batch: int = 16) -> dict:
    """Driver write seconds for MERT-shaped vectors of ``n_rec`` 30 s recordings, ``batch`` per commit."""
    st = Store(tmp / "write.lance")
    spaces = st.register_setup(
        _Shaped(n_layers, dim), window_s=WINDOW_S, hop_s=HOP_S, poolings=("mean", "max")
    )
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for b in range(0, n_rec, batch):
        rows = []
        for i in range(b, min(n_rec, b + batch)):
            h = f"{i:064x}"
            rows.append(
                EncodedRecording(
                    record={
                        "recording_id": h[:16],
                        "path": f"/x/{i}.flac",
                        "file_name": f"{i}.flac",
                        "content_hash": h,
                        "duration_s": 30.0,
                        "sample_rate": 44100,
                        "channels": 1,
                        "added_at": "2026-01-01T00:00:00",
                    },
                    window_vectors=rng.standard_normal((n_layers, n_win, dim)).astype(np.float32),
                    starts_s=np.arange(n_win) * HOP_S,
                    ends_s=np.arange(n_win) * HOP_S + WINDOW_S,
                    weights=np.ones(n_win, np.float32),
                )
            )
        st.write_encoded(spaces, rows)
    wall = time.perf_counter() - t0
    audio_h = n_rec * 30.0 / 3600
    return {
        "recordings": n_rec,
        "audio_h": audio_h,
        "wall_s": round(wall, 3),
        "s_per_audio_h": wall / audio_h,
    }


class _Shaped(Encoder):
    """An encoder with MERT-95M's output shape, only to declare its spaces (it never embeds)."""

    name = "mert-shaped"

    def __init__(self, n_layers: int, dim: int) -> None:
        self.layer_names = [f"L{i}" for i in range(n_layers)]
        self.dim = dim

    def frames(self, windows: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=40)
    ap.add_argument("--small", type=int, default=8)
    ap.add_argument("--encoders", default="chroma,bssl")
    ap.add_argument("--mert-files", type=int, default=2)
    a = ap.parse_args()
    import ray
    from bench_index import files_for  # type: ignore

    tmp = Path(tempfile.mkdtemp(prefix="embedstore-bench-ray-"))
    load_start = os.getloadavg()
    out: dict = {
        "command": "python " + " ".join(sys.argv),
        "machine": machine_description(),
        "commit": commit(),
    }
    try:
        files = files_for(a.files, tmp)
        t0 = time.perf_counter()
        ray.init(num_cpus=2, object_store_memory=512 * 2**20, include_dashboard=False, log_to_driver=False)
        out["ray_init_s"] = round(time.perf_counter() - t0, 2)
        rows = []
        for name in a.encoders.split(","):
            r: dict = {"encoder": name}
            # first run in a fresh Ray session: worker processes start and import everything (reported, not fitted)
            r["ray_first_run"] = run_engine("ray", name, files[:2], tmp)
            r["local_first_run"] = run_engine("local", name, files[:2], tmp)
            for engine in ("local", "ray"):
                small = run_engine(engine, name, files[: a.small], tmp)
                big = run_engine(engine, name, files, tmp)
                icpt, slope = line(a.small, small["wall_s"], len(files), big["wall_s"])
                r[engine] = {"small": small, "big": big, "intercept_s": round(icpt, 2), "s_per_file": slope}
                print(name, engine, json.dumps(r[engine]), flush=True)
            r["throughput_ratio_ray_vs_local"] = round(r["local"]["s_per_file"] / r["ray"]["s_per_file"], 3)
            r["audio_s_per_file"] = r["local"]["big"]["audio_s"] / len(files)
            r["decode_s_per_audio_s"] = (
                r["local"]["big"]["timings_s"].get("read", 0.0) / r["local"]["big"]["audio_s"]
            )
            rows.append(r)
        out["ray_task_overhead"] = ray_task_overhead()
        ray.shutdown()
        out["rows"] = rows
        out["files"], out["small"] = len(files), a.small
        out["cpu_gflops_2_threads"] = round(cpu_gflops(2), 1)
        out["mert"] = mert_cost(files[: a.mert_files], tmp)
        print("mert", out["mert"], flush=True)
        out["write"] = write_cost(tmp, out["mert"]["n_layers"], out["mert"]["dim"])
        print("write", out["write"], flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out["load_avg_start"], out["load_avg_end"] = load_start, os.getloadavg()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ray.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
