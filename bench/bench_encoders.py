"""CPU speed of the pretrained encoders, and the fp32-vs-bf16 measurement behind ``dtype="auto"``.

What it measures (writes ``bench/results/encoders.json``):

- ``mert95m_dtype``: a MERT-v1-95M-shaped, randomly initialised ``HubertModel`` (768-d, 12 layers, 7-conv
  feature encoder, 24 kHz) run through :class:`embedstore.encoders.hf.MertEncoder` on 5 s clips with 2 torch
  threads, in float32 and bfloat16: seconds per clip and per-layer cosine of bf16 to fp32 (frames and
  window means). ``dtype="auto"`` picks bf16 only where it is faster and every layer's cosine stays > 0.999;
  the rule in code (:func:`embedstore.encoders.hf.cpu_has_fast_bf16`) is "the CPU has AVX512-BF16 or AMX-BF16".
- ``wheel``: real-weight wheel encoders (basic-pitch ONNX, Transkun) in seconds per second of audio.

Random weights have the real model's compute cost; the bf16 error of trained weights can differ a little.

Usage::

    OMP_NUM_THREADS=2 .venv/bin/python bench/bench_encoders.py [--repeats 2] [--skip-wheel]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402


def _clips(sr: float, seconds: float, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    out = []
    for _ in range(n):
        f0 = 110.0 * 2 ** (rng.integers(0, 36) / 12)
        x = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 8)) * np.exp(-((t % 0.5) / 0.2))
        out.append(0.2 * x + 0.01 * rng.standard_normal(t.size))
    return np.stack(out).astype(np.float32)


def _time(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _cpu_flags() -> list[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return sorted(
                    f for f in line.split(":", 1)[1].split() if "avx512" in f or "amx" in f or f == "avx2"
                )
    except OSError:
        pass
    return []


def bench_mert_dtype(repeats: int, n_clips: int = 2, seconds: float = 5.0) -> dict:
    import torch
    from transformers import HubertConfig, HubertModel

    from embedstore.encoders.hf import MertEncoder, cpu_has_fast_bf16, resolve_dtype

    torch.manual_seed(0)
    cfg = HubertConfig(
        feat_extract_norm="group", do_stable_layer_norm=False, sample_rate=24000
    )  # MERT-95M shape
    with tempfile.TemporaryDirectory() as d:
        HubertModel(cfg).save_pretrained(d)
        encs = {
            dt: MertEncoder(d, name="mert-95m-shaped", model_id="random", dtype=dt, batch_size=n_clips)
            for dt in ("float32", "bfloat16")
        }
    x = _clips(24000, seconds, n_clips)
    frames = {dt: e.frames(x) for dt, e in encs.items()}  # warm-up + outputs
    secs = {dt: _time(lambda e=e: e.frames(x), repeats) / n_clips for dt, e in encs.items()}
    a, b = frames["float32"], frames["bfloat16"]
    cos_frames = ((a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))).min(
        axis=(1, 2)
    )
    ma, mb = a.mean(2), b.mean(2)
    cos_mean = ((ma * mb).sum(-1) / (np.linalg.norm(ma, axis=-1) * np.linalg.norm(mb, axis=-1))).min(axis=1)
    faster = secs["bfloat16"] < secs["float32"]
    accurate = bool(cos_mean.min() > 0.999)
    return {
        "model": "HubertConfig() defaults = MERT-v1-95M shape (768-d, 12 layers), random init",
        "clip_s": seconds,
        "n_clips": n_clips,
        "torch_threads": torch.get_num_threads(),
        "sec_per_clip": {k: round(v, 3) for k, v in secs.items()},
        "bf16_speedup": round(secs["float32"] / secs["bfloat16"], 3),
        "cosine_bf16_vs_fp32_window_mean_min_per_layer": [round(float(c), 6) for c in cos_mean],
        "cosine_bf16_vs_fp32_frames_min_per_layer": [round(float(c), 6) for c in cos_frames],
        "bf16_faster_here": bool(faster),
        "bf16_accurate_cos_gt_0.999": accurate,
        "decision_from_measurement": "bfloat16" if (faster and accurate) else "float32",
        "rule_in_code_cpu_has_fast_bf16": cpu_has_fast_bf16(),
        "auto_resolves_to": resolve_dtype("auto"),
    }


def bench_wheel(repeats: int, seconds: float = 10.0) -> dict:
    import importlib.util

    import torch

    from embedstore.encoders import get_encoder

    out = {}
    if importlib.util.find_spec("basic_pitch"):
        enc = get_encoder("basic-pitch", n_threads=torch.get_num_threads())
        x = _clips(enc.sample_rate, seconds, 1)
        enc.frames(x)
        s = _time(lambda: enc.frames(x), repeats)
        out["basic-pitch"] = {"sec_per_audio_sec": round(s / seconds, 4), "x_realtime": round(seconds / s, 1)}
    if importlib.util.find_spec("transkun"):
        enc = get_encoder("transkun", batch_size=1)
        x = _clips(enc.sample_rate, seconds, 1)
        s = _time(lambda: enc.frames(x), 1)
        out["transkun"] = {"sec_per_audio_sec": round(s / seconds, 4), "x_realtime": round(seconds / s, 2)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-wheel", action="store_true")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "encoders.json"))
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    result = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cpu_flags": _cpu_flags(),
            "torch": torch.__version__,
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "n_cpus": os.cpu_count(),
            "note": "shared machine; timings are the best of --repeats runs",
        },
        "mert95m_dtype": bench_mert_dtype(args.repeats),
    }
    if not args.skip_wheel:
        result["wheel"] = bench_wheel(args.repeats)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
