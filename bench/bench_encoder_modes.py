"""CPU run modes of the transformers encoders: speed and faithfulness, per family (issue 10, section 3).

For each family, a randomly initialised model of the real shape (MERT-v1-95M = ``HubertConfig()`` defaults at
24 kHz; AudioMAE ViT-B/16 on 1024 x 128 fbank) is loaded through the library encoder and run on the same
windows of synthetic piano (``embedstore.synth``: pieces x performers, 10 s each) in these modes:

- ``fp32 eager`` with 1 and 2 torch threads (the baseline is fp32 eager, 2 threads);
- ``compile``: ``mode="compile"`` (``torch.compile``, inductor; the first call, which compiles, is timed apart);
- ``bf16``: ``dtype="bfloat16"`` (weights and activations in bf16);
- ``bf16 autocast``: fp32 weights, ``torch.autocast("cpu", dtype=torch.bfloat16)`` around the forward;
- ``int8``: ``mode="int8"`` (dynamic int8 quantisation of every ``nn.Linear``).

Speed: seconds of compute per hour of audio (best of ``--repeats``). Faithfulness against fp32 eager (2 threads):
the minimum and mean over layers of the per-window cosine of the window embeddings, and whether retrieval
neighbours change: for every layer, each window's top-``k`` neighbours (cosine, among the other windows) in the
mode vs fp32, as mean overlap@k and the share of windows whose top-1 changes. Chance overlap@k is
``k / (n - 1)``; the plain baseline is fp32 with 1 thread vs 2 threads (the noise floor of float rounding).
chroma and bssl (numpy, one mode) are timed for reference.

Random weights have the real compute cost; the numeric error of trained weights can differ a little.

Usage::

    nice -n 10 .venv/bin/python bench/bench_encoder_modes.py [--families mert,audiomae] [--n-windows 8]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from embedstore.encoders import get_encoder  # noqa: E402
from embedstore.encoders.hf import audiomae_vit_config  # noqa: E402
from embedstore.synth.performer import make_performer  # noqa: E402
from embedstore.synth.render import render  # noqa: E402
from embedstore.synth.score import make_piece  # noqa: E402
from embedstore.utils import machine_description  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def _windows(sr: int, n: int, seconds: float) -> np.ndarray:
    """``n`` windows of ``seconds`` s: pieces x 2 performers, each from a different start."""
    out = []
    for i in range(n):
        piece, perf = (
            make_piece(f"piece{i // 2}", n_bars=16, seed=i // 2),
            make_performer("AB"[i % 2], seed=i),
        )
        audio, _ = render(piece, perf, sample_rate=sr, seed=i)
        n_s = int(seconds * sr)
        start = min(int((0.5 + i % 3) * sr), max(0, audio.size - n_s))
        w = audio[start : start + n_s]
        out.append(np.pad(w, (0, n_s - w.size)) / max(1e-6, float(np.abs(w).max())) * 0.5)
    return np.stack(out).astype(np.float32)


def _write_model(family: str, d: str) -> None:
    import torch
    from transformers import HubertConfig, HubertModel, ViTModel, Wav2Vec2FeatureExtractor

    torch.manual_seed(0)
    if family == "mert":
        HubertModel(HubertConfig(feat_extract_norm="group", sample_rate=24000)).save_pretrained(d)
        Wav2Vec2FeatureExtractor(sampling_rate=24000, do_normalize=True).save_pretrained(d)
    elif family == "audiomae":
        ViTModel(audiomae_vit_config(), add_pooling_layer=False).save_pretrained(d)
    else:
        raise SystemExit(f"unknown family {family!r}")


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1) + 1e-12)


def _neighbours(e: np.ndarray, k: int) -> np.ndarray:
    """[n_layers, n, dim] -> [n_layers, n, k] indices of the top-k other windows by cosine."""
    u = e / (np.linalg.norm(e, axis=-1, keepdims=True) + 1e-12)
    s = u @ u.transpose(0, 2, 1)
    s[:, np.arange(e.shape[1]), np.arange(e.shape[1])] = -np.inf
    return np.argsort(-s, axis=-1)[..., :k]


def faithfulness(ref: np.ndarray, out: np.ndarray, k: int) -> dict[str, float]:
    """Cosine of window embeddings and neighbour agreement of ``out`` vs ``ref`` ([n_layers, n, dim])."""
    c = _cos(ref, out)  # [L, n]
    nr, no = _neighbours(ref, k), _neighbours(out, k)
    overlap = np.mean([len(set(a) & set(b)) / k for a, b in zip(nr.reshape(-1, k), no.reshape(-1, k))])
    return {
        "cos_min": round(float(c.min()), 6),
        "cos_mean": round(float(c.mean()), 6),
        "cos_min_layer": int(np.unravel_index(np.argmin(c), c.shape)[0]),
        "overlap_at_k": round(float(overlap), 4),
        "top1_changed": round(float((nr[..., 0] != no[..., 0]).mean()), 4),
    }


@contextlib.contextmanager
def _threads(n: int) -> Iterator[None]:
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _timed(fn: Callable[[], np.ndarray], repeats: int) -> tuple[float, np.ndarray, list[float]]:
    best, out, loads = float("inf"), None, []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
        loads.append(os.getloadavg()[0])
    assert out is not None
    return best, out, loads


def bench_family(family: str, x: np.ndarray, seconds: float, repeats: int, k: int, modes: list[str]) -> dict:
    import torch

    rows: dict[str, Any] = {}
    audio_h = x.shape[0] * seconds / 3600.0
    with tempfile.TemporaryDirectory() as d:
        _write_model(family, d)
        spec = f"hf:{d}"

        def run(label: str, threads: int, autocast: bool = False, **kw: Any) -> np.ndarray:
            bs = max(1, x.shape[0] // 2)  # two equal batches: the warm-up compiles the only shape
            enc = get_encoder(spec, batch_size=bs, **kw)
            with _threads(threads):
                ctx = torch.autocast("cpu", dtype=torch.bfloat16) if autocast else contextlib.nullcontext()
                with ctx:
                    t0 = time.perf_counter()
                    enc.embed(x[:bs])  # warm-up (and the compile, for mode="compile")
                    first = time.perf_counter() - t0
                    secs, out, loads = _timed(lambda: enc.embed(x), repeats)
            rows[label] = {
                "threads": threads,
                "options": {**kw, **({"autocast": "bfloat16"} if autocast else {})},
                "warmup_s": round(first, 2),
                "seconds": round(secs, 3),
                "sec_per_hour_audio": round(secs / audio_h, 1),
                "load_1min": [round(v, 2) for v in loads],
            }
            print(family, label, rows[label], flush=True)
            return out

        ref = run("fp32 eager, 2 threads", 2, dtype="float32", mode="eager")
        outs = {"fp32 eager, 1 thread": run("fp32 eager, 1 thread", 1, dtype="float32", mode="eager")}
        if "compile" in modes:
            outs["compile"] = run("compile", 2, dtype="float32", mode="compile")
        if "bf16" in modes:
            outs["bf16"] = run("bf16", 2, dtype="bfloat16", mode="eager")
        if "autocast" in modes:
            outs["bf16 autocast"] = run("bf16 autocast", 2, autocast=True, dtype="float32", mode="eager")
        if "int8" in modes:
            outs["int8"] = run("int8", 2, dtype="float32", mode="int8")
    base = rows["fp32 eager, 2 threads"]["seconds"]
    rows["fp32 eager, 2 threads"].update(speedup=1.0, **faithfulness(ref, ref, k))
    for label, out in outs.items():
        rows[label].update(speedup=round(base / rows[label]["seconds"], 2), **faithfulness(ref, out, k))
    return rows


def bench_reference(name: str, seconds: float, n: int, repeats: int) -> dict:
    enc = get_encoder(name)
    x = _windows(enc.sample_rate, n, seconds)
    enc.embed(x[:1])
    secs, _, loads = _timed(lambda: enc.embed(x), repeats)
    return {
        "seconds": round(secs, 3),
        "sec_per_hour_audio": round(secs / (n * seconds / 3600.0), 1),
        "load_1min": [round(v, 2) for v in loads],
    }


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except Exception:  # noqa: BLE001
        return "unknown"


def to_markdown(result: dict) -> str:
    m = result["meta"]
    lines = [
        "# Encoder run modes on this CPU: speed and faithfulness",
        "",
        f"Command: `{m['command']}`  ",
        f"Machine: {m['machine']}; torch {m['torch']} ({m['cpu_capability']}); commit {m['commit']}  ",
        f"Load average (1 min) while measuring: {m['load_min']:.1f} - {m['load_max']:.1f} (shared machine: "
        "timings are the best of the repeats and still noisy).  ",
        f"Windows: {m['n_windows']} x {m['seconds']:g} s of synthetic piano ({m['n_windows'] // 2} pieces x 2 "
        f"performers); neighbours: top-{m['k']} among the other windows, per layer.  ",
        f"Chance overlap@{m['k']} = {m['chance_overlap']:.3f}; plain baseline = fp32 1 thread vs 2 threads.",
        "",
        "Models are randomly initialised with the real shapes; seconds are compute per hour of audio.",
        "",
    ]
    for fam, rows in result["families"].items():
        lines += [
            f"## {fam}",
            "",
            "| mode | threads | s / hour audio | speedup vs fp32 2 thr | first call (s) | cos min | cos mean "
            f"| overlap@{m['k']} | top-1 changed |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for label, r in rows.items():
            lines.append(
                f"| {label} | {r['threads']} | {r['sec_per_hour_audio']:.0f} | {r['speedup']:.2f}x | "
                f"{r['warmup_s']:.1f} | {r['cos_min']:.5f} | {r['cos_mean']:.5f} | {r['overlap_at_k']:.3f} | "
                f"{r['top1_changed']:.3f} |"
            )
        lines.append("")
    lines += ["## Reference (numpy encoders)", "", "| encoder | s / hour audio |", "|---|---|"]
    for name, r in result["reference"].items():
        lines.append(f"| {name} | {r['sec_per_hour_audio']:.1f} |")
    lines += ["", "## Decision", "", result.get("decision", ""), ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--families", default="mert,audiomae")
    ap.add_argument("--modes", default="compile,bf16,autocast,int8")
    ap.add_argument("--n-windows", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("-k", type=int, default=3)
    ap.add_argument("--decision", default="", help="the decision text written under the tables")
    ap.add_argument("--out", default=str(RESULTS / "encoder_modes"))
    args = ap.parse_args()

    import torch

    srs = {"mert": 24000, "audiomae": 16000}
    fams = [f for f in args.families.split(",") if f]
    modes = [m for m in args.modes.split(",") if m]
    loads0 = os.getloadavg()[0]
    result: dict[str, Any] = {"families": {}, "reference": {}}
    for fam in fams:
        x = _windows(srs[fam], args.n_windows, args.seconds)
        result["families"][fam] = bench_family(fam, x, args.seconds, args.repeats, args.k, modes)
    for name in ("chroma", "bssl"):
        result["reference"][name] = bench_reference(name, args.seconds, args.n_windows, args.repeats)
    all_loads = [loads0] + [
        v for rows in result["families"].values() for r in rows.values() for v in r["load_1min"]
    ]
    result["meta"] = {
        "command": " ".join(["python", "bench/bench_encoder_modes.py", *sys.argv[1:]]),
        "machine": machine_description(),
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "commit": _commit(),
        "load_min": min(all_loads),
        "load_max": max(all_loads),
        "n_windows": args.n_windows,
        "seconds": args.seconds,
        "k": args.k,
        "chance_overlap": args.k / (args.n_windows - 1),
    }
    result["decision"] = args.decision
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    out.with_suffix(".md").write_text(to_markdown(result))
    print(to_markdown(result))


if __name__ == "__main__":
    main()
