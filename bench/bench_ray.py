"""Ray engine vs local engine on the same clips, and a paper model of indexing at cluster scale (issue 9).

Measured on this machine, for each encoder (chroma, bssl):

- **local** and **ray** (`index_paths(..., engine=...)` into a fresh store) on ``--small`` and ``--files`` clips;
  a straight line through the two sizes gives each engine's fixed cost per run (intercept) and its marginal
  seconds per file (slope): the throughput ratio is the ratio of slopes, Ray's fixed start-up cost is
  ``ray.init`` plus its intercept.

Inputs of the paper model, measured here:

- decode seconds per audio second (the local engine's ``read`` stage, summed over files);
- MERT-95M-shaped encoder CPU seconds per audio second (random init HubertModel with MERT-v1-95M's config,
  ``save_pretrained`` to tmp, loaded through ``get_encoder``), which checks the model's FLOP count (the GPU rate
  is then an assumption stated in the results, as this machine has no GPU);
- Ray Data's own cost per file (identity task + identity actor on one-row blocks);
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


def _records(rng, start: int, n: int, n_layers: int, dim: int, n_win: int) -> list[EncodedRecording]:
    rows = []
    for i in range(start, start + n):
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
    return rows


def write_cost(tmp: Path, n_layers: int, dim: int, n_rec: int = 128, n_win: int = 5) -> dict:
    """Driver write cost of MERT-shaped 30 s recordings (window + mean + max spaces per layer), through
    ``Store.write_encoded``, at 8 and 64 recordings per batch: a line through the two gives the fixed seconds per
    append (per table and batch) and the seconds per byte."""
    rng = np.random.default_rng(0)
    per_batch = {}
    for batch in (8, 64):
        st = Store(tmp / f"write-{batch}.lance")
        spaces = st.register_setup(
            _Shaped(n_layers, dim), window_s=WINDOW_S, hop_s=HOP_S, poolings=("mean", "max")
        )
        recs = _records(rng, 0, n_rec, n_layers, dim, n_win)
        t0 = time.perf_counter()
        for b in range(0, n_rec, batch):
            st.write_encoded(spaces, recs[b : b + batch])
        per_batch[batch] = (time.perf_counter() - t0) / (n_rec / batch)
    n_tables = len(spaces) + 2  # every space, the recordings, the completion markers
    bytes_per_rec = n_layers * (n_win + 2) * dim * 4
    s_per_byte = (per_batch[64] - per_batch[8]) / ((64 - 8) * bytes_per_rec)
    fixed = per_batch[8] - s_per_byte * 8 * bytes_per_rec
    return {
        "recordings": n_rec,
        "tables": n_tables,
        "s_per_batch": {str(k): round(v, 4) for k, v in per_batch.items()},
        "commit_s": fixed / n_tables,
        "s_per_byte": max(s_per_byte, 0.0),
        "bytes_per_audio_s": bytes_per_rec / 30.0,
        "s_per_audio_h_batch8": per_batch[8] / (8 * 30.0) * 3600,
        "s_per_audio_h_batch64": per_batch[64] / (64 * 30.0) * 3600,
    }


class _Shaped(Encoder):
    """An encoder with MERT-95M's output shape, only to declare its spaces (it never embeds)."""

    name = "mert-shaped"

    def __init__(self, n_layers: int, dim: int) -> None:
        self.layer_names = [f"L{i}" for i in range(n_layers)]
        self.dim = dim

    def frames(self, windows: np.ndarray) -> np.ndarray:
        raise NotImplementedError


# ---------------------------------------------------------------------------------------------- paper model
#: MERT-95M FLOPs per second of audio with 10 s windows and a 5 s hop (every second is in two windows): per window
#: second, conv feature extractor 7.4 GFLOP + positional conv 0.7 + 12 transformer layers at 75 tokens/s 12.7 +
#: attention over 750 tokens 2.1 = 22.9 GFLOP; x2 for the overlap. Checked against the measured CPU cost below.
MERT95_GFLOP_PER_AUDIO_S = 45.8
#: ASSUMED, not measured here (no GPU on this machine): sustained bf16 throughput of one H100-class GPU on this
#: model, 30 % of its 989 TFLOP/s dense peak.
GPU_TFLOPS = 300.0
#: ASSUMED: one LanceDB append on S3 (data file PUT + manifest PUT + a conditional commit) in seconds.
S3_COMMIT_S = 0.15
NODE_CPUS, NODE_GPUS = 16, 1


def paper_model(out: dict) -> dict:
    """Hours of audio per wall hour vs nodes (16 vCPU + 1 GPU each) for MERT-95M, from the measured inputs."""
    dec = out["decode_cpu_s_per_audio_s"]
    w = out["write"]
    n_tables = w["tables"]
    commit_s = w["commit_s"]
    batch_audio_s = 16 * 30.0
    gpu = GPU_TFLOPS * 1e3 / MERT95_GFLOP_PER_AUDIO_S  # audio s per s per GPU
    cpu_enc = out["mert"]["audio_s"] / out["mert"]["cpu_s"]  # audio s per CPU second
    caps_fixed = {
        # the driver commits every batch: n_tables appends of commit_s each, plus the bytes
        "driver writes, local disk": batch_audio_s
        / (n_tables * commit_s + w["s_per_byte"] * w["bytes_per_audio_s"] * batch_audio_s),
        "driver writes, S3": batch_audio_s
        / (n_tables * S3_COMMIT_S + w["s_per_byte"] * w["bytes_per_audio_s"] * batch_audio_s),
        "Ray Data per-file overhead": 30.0 / out["ray_task_overhead"]["s_per_file"],
    }
    rows = []
    for nodes in (1, 2, 4, 8, 16, 32, 64):
        caps = {
            "encoder (GPUs)": nodes * NODE_GPUS * gpu,
            "decode (CPUs)": nodes * (NODE_CPUS - NODE_GPUS) / dec,
            **caps_fixed,
        }
        first = min(caps, key=caps.__getitem__)
        rows.append(
            {
                "nodes": nodes,
                "caps_audio_h_per_h": {k: round(v) for k, v in caps.items()},
                "bottleneck": first,
            }
        )
    return {
        "gpu_audio_s_per_s": round(gpu),
        "cpu_core_audio_s_per_s": round(cpu_enc, 2),
        "implied_cpu_gflops_per_core": round(MERT95_GFLOP_PER_AUDIO_S * cpu_enc, 1),
        "rows": rows,
    }


def decode_cost(files: list[Path], sample_rate: int = 24000) -> float:
    """CPU seconds per audio second of the reader stage (hash, decode, resample, window) on one thread."""
    from embedstore.pipeline import read_one

    c0, audio_s = time.process_time(), 0.0
    for f in files:
        r = read_one(f, sample_rate=sample_rate, window_s=WINDOW_S, hop_s=HOP_S)
        audio_s += r.duration_s  # type: ignore[union-attr]
    return (time.process_time() - c0) / audio_s


def engine_rows(files: list[Path], small: int, encoders: list[str], tmp: Path) -> list[dict]:
    rows = []
    for name in encoders:
        r: dict = {"encoder": name}
        # first run in a fresh Ray session: worker processes start and import everything (reported, not fitted)
        r["ray_first_run"] = run_engine("ray", name, files[:2], tmp)
        r["local_first_run"] = run_engine("local", name, files[:2], tmp)
        for engine in ("local", "ray"):
            sm = run_engine(engine, name, files[:small], tmp)
            big = run_engine(engine, name, files, tmp)
            icpt, slope = line(small, sm["wall_s"], len(files), big["wall_s"])
            r[engine] = {"small": sm, "big": big, "intercept_s": round(icpt, 2), "s_per_file": slope}
            print(name, engine, json.dumps(r[engine]), flush=True)
        r["throughput_ratio_ray_vs_local"] = round(r["local"]["s_per_file"] / r["ray"]["s_per_file"], 3)
        rows.append(r)
    return rows


def markdown(out: dict) -> str:
    """The tables of ray.md (the prose around them is written by hand under them)."""
    lines = [
        "| encoder | engine | 2 files, fresh (s) | 8 files (s) | 40 files (s) | fixed s / run | s / file |"
    ]
    lines.append("|---|---|---:|---:|---:|---:|---:|")
    for r in out["rows"]:
        for e in ("local", "ray"):
            x = r[e]
            lines.append(
                f"| {r['encoder']} | {e} | {r[e + '_first_run']['wall_s']} | {x['small']['wall_s']} | "
                f"{x['big']['wall_s']} | {x['intercept_s']} | {x['s_per_file']:.3f} |"
            )
    m = out["model"]
    lines += [
        "",
        "| nodes (16 vCPU + 1 GPU) | " + " | ".join(m["rows"][0]["caps_audio_h_per_h"]) + " | bottleneck |",
    ]
    lines.append("|---:|" + "---:|" * len(m["rows"][0]["caps_audio_h_per_h"]) + "---|")
    for r in m["rows"]:
        caps = " | ".join(f"{v:,}" for v in r["caps_audio_h_per_h"].values())
        lines.append(f"| {r['nodes']} | {caps} | {r['bottleneck']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=40)
    ap.add_argument("--small", type=int, default=8)
    ap.add_argument("--encoders", default="chroma,bssl")
    ap.add_argument("--mert-files", type=int, default=2)
    ap.add_argument(
        "--update", action="store_true", help="keep the engine rows of ray.json; re-measure the rest"
    )
    a = ap.parse_args()
    import ray
    from bench_index import files_for  # type: ignore

    tmp = Path(tempfile.mkdtemp(prefix="embedstore-bench-ray-"))
    out: dict = json.loads((RESULTS / "ray.json").read_text()) if a.update else {}
    runs = out.setdefault("runs", [])
    runs.append({"command": "python bench/bench_ray.py " + " ".join(sys.argv[1:]), "commit": commit()})
    runs[-1]["load_avg_start"] = os.getloadavg()
    out["machine"] = machine_description()
    try:
        files = files_for(a.files, tmp)
        t0 = time.perf_counter()
        ray.init(num_cpus=2, object_store_memory=512 * 2**20, include_dashboard=False, log_to_driver=False)
        out["ray_init_s"] = round(time.perf_counter() - t0, 2)
        if not a.update:
            out["rows"] = engine_rows(files, a.small, a.encoders.split(","), tmp)
            out["files"], out["small"] = len(files), a.small
        out["ray_task_overhead"] = ray_task_overhead()
        ray.shutdown()
        out["decode_cpu_s_per_audio_s"] = decode_cost(files)
        if not a.update or "mert" not in out:
            out["mert"] = mert_cost(files[: a.mert_files], tmp)
        out["write"] = write_cost(tmp, out["mert"]["n_layers"], out["mert"]["dim"])
        print("write", out["write"], flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out.pop("cpu_gflops_2_threads", None)
    out.pop("command", None)
    out.pop("commit", None)
    for k in ("load_avg_start", "load_avg_end"):
        if k in out:
            runs[0].setdefault(k.replace("load_avg", "load_avg_first_run"), out.pop(k))
    runs[-1]["load_avg_end"] = os.getloadavg()
    out["model"] = paper_model(out)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ray.json").write_text(json.dumps(out, indent=2))
    (RESULTS / "ray.md").write_text(markdown(out))
    print(json.dumps(out["model"], indent=2))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
