"""Indexing throughput against the machine's limit and against a MARBLE-style loop (issue 10, section 3).

For each encoder (chroma, bssl, a MERT-95M-shaped model), on the same clips, window 10 s / hop 5 s, window vectors
and mean pooling, no frame sequences:

- **loop** (MARBLE style): one file at a time -- hash, decode, window, encode the whole file, write its rows (one
  LanceDB append per table per file). CPU seconds of each stage are measured here (``time.process_time``, all
  threads of the process, so torch's intra-op threads count): their sum is the useful work.
- **pipeline** variants of ``index_paths`` into a fresh store: ``threads`` (decode threads overlapping the encoder,
  the default), ``processes`` (decode in worker processes: no shared GIL), ``processes+64`` (also 64 files per
  batch, so 4x larger Lance fragments per append).

Goals: pipeline wall <= 1.1 x (loop CPU seconds) / cores, i.e. the cores >= 90 % busy with useful work, and
>= 1.8x the loop. The process CPU seconds (``getrusage``, self + children) and the load average are reported beside:
on a shared machine the wall time also holds other people's work.

The MERT-95M-shaped model is randomly initialised (HubertModel with MERT-v1-95M's config, ``save_pretrained`` to
tmp, loaded through ``get_encoder``), so its cost is the real architecture's.

Usage::

    python bench/bench_index.py [--encoders chroma,bssl,mert] [--files 40] [--mert-files 4]

Audio: ../shared/data/asap-dev/audio when present (30 s clips), else a generated collection.
Writes bench/results/index.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from embedstore.audio import frame_windows, load_audio
from embedstore.config import shared_data_dir
from embedstore.encoders import get_encoder
from embedstore.pipeline import Decoded, encode_batch, index_paths
from embedstore.store import Store
from embedstore.utils import machine_description, sha256_file

RESULTS = Path(__file__).resolve().parent / "results"
WINDOW_S, HOP_S = 10.0, 5.0
CORES = os.cpu_count() or 2
VARIANTS = {
    "threads": dict(decode="threads", batch_files=16),
    "processes": dict(decode="processes", batch_files=16),
    "processes+64": dict(decode="processes", batch_files=64),
}


def mert_shaped(tmp: Path) -> str:
    """A randomly initialised model with MERT-v1-95M's architecture, saved like a hub checkpoint."""
    import torch
    from transformers import HubertConfig, HubertModel, Wav2Vec2FeatureExtractor

    torch.manual_seed(0)
    cfg = HubertConfig(
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        feat_extract_norm="group",
        conv_bias=False,
        do_stable_layer_norm=False,
    )
    d = tmp / "mert-95m-shaped"
    HubertModel(cfg).save_pretrained(d)
    Wav2Vec2FeatureExtractor(sampling_rate=24000, do_normalize=True).save_pretrained(d)
    return str(d)


def files_for(n: int, tmp: Path) -> list[Path]:
    data = shared_data_dir()
    if data is not None:
        return sorted((data / "asap-dev" / "audio").glob("*.flac"))[:n]
    from embedstore.synth import make_collection

    man = make_collection(tmp / "synth", n_pieces=max(2, n // 4), n_performers=4, n_bars=16)
    return sorted((man.parent / "audio").glob("*.flac"))[:n]


def cpu_now() -> float:
    """CPU seconds of this process and its finished children."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def loop(enc, files: list[Path], tmp: Path) -> dict:
    """MARBLE-style: one file at a time, decode -> encode the whole file -> write; CPU seconds per stage."""
    st = Store(tmp / "loop.lance")
    spaces = st.register_setup(enc, window_s=WINDOW_S, hop_s=HOP_S, poolings=("mean",))
    cpu = {"decode": 0.0, "encode": 0.0, "write": 0.0}
    t0 = time.perf_counter()
    for f in files:
        c0 = time.process_time()
        h = sha256_file(f)
        a = load_audio(f, sample_rate=enc.sample_rate)
        w, starts = frame_windows(a.samples, a.sample_rate, window_s=WINDOW_S, hop_s=HOP_S)
        d = Decoded(
            str(f), h, a.samples, a.sample_rate, a.sample_rate, 1, w, starts, np.ones(len(w), np.float32)
        )
        c1 = time.process_time()
        e = encode_batch([d], enc, batch_windows=len(w))
        c2 = time.process_time()
        st.write_encoded(spaces, e)
        c3 = time.process_time()
        cpu["decode"] += c1 - c0
        cpu["encode"] += c2 - c1
        cpu["write"] += c3 - c2
    wall = time.perf_counter() - t0
    return {"wall_s": round(wall, 3), "cpu_s": {k: round(v, 3) for k, v in cpu.items()}}


def pipeline(enc, files: list[Path], tmp: Path, variant: str) -> dict:
    st = Store(tempfile.mkdtemp(dir=tmp) + "/s.lance")
    c0, t0 = cpu_now(), time.perf_counter()
    rep = index_paths(
        files, st, enc, window_s=WINDOW_S, hop_s=HOP_S, poolings=("mean",), frames=False, **VARIANTS[variant]
    )
    wall, cpu = time.perf_counter() - t0, cpu_now() - c0
    assert len(rep.added) == len(files), rep.as_dict()
    return {"wall_s": round(wall, 3), "process_cpu_s": round(cpu, 3), "timings_s": rep.as_dict()["timings_s"]}


def bench_one(name: str, enc, files: list[Path], tmp: Path, variants: list[str]) -> dict:
    enc.embed(np.zeros((1, int(WINDOW_S * enc.sample_rate)), np.float32) + 0.01)  # warm-up (JIT, kernels)
    lp = loop(enc, files, tmp)
    useful = sum(lp["cpu_s"].values())
    ideal = useful / CORES
    row = {
        "encoder": name,
        "files": len(files),
        "audio_s": 30.0 * len(files),
        "loop": lp,
        "useful_cpu_s": useful,
    }
    row["ideal_wall_s"] = round(ideal, 3)
    for v in variants:
        p = pipeline(enc, files, tmp, v)
        p["wall_vs_ideal"] = round(p["wall_s"] / ideal, 2)
        p["vs_loop"] = round(lp["wall_s"] / p["wall_s"], 2)
        row[v] = p
        print(name, v, json.dumps(p), flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--encoders", default="chroma,bssl,mert")
    ap.add_argument("--files", type=int, default=40)
    ap.add_argument("--mert-files", type=int, default=4)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    a = ap.parse_args()
    import torch

    torch.set_num_threads(CORES)
    tmp = Path(tempfile.mkdtemp(prefix="embedstore-bench-"))
    load0 = os.getloadavg()
    rows = []
    try:
        for name in a.encoders.split(","):
            if name == "mert":
                enc = get_encoder("mert-v1-95m", model_path=mert_shaped(tmp), dtype="float32")
                files = files_for(a.mert_files, tmp)
            else:
                enc = get_encoder(name)
                files = files_for(a.files, tmp)
            r = bench_one(name, enc, files, tmp, a.variants.split(","))
            if name == "mert":
                r["encoder"] = "mert-95m-shaped (random init, float32)"
            rows.append(r)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    try:
        rev = subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], text=True).strip()
    except (OSError, subprocess.CalledProcessError):
        rev = "unknown"
    out = {
        "command": "python bench/bench_index.py " + " ".join(sys.argv[1:]),
        "machine": machine_description(),
        "commit": rev,
        "cores": CORES,
        "torch_threads": CORES,
        "load_avg_start": load0,
        "load_avg_end": os.getloadavg(),
        "rows": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "index.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
