"""Indexing throughput: the pipeline vs the bare encoder forward pass vs a naive one-file-at-a-time loop.

For each encoder, on the same files and the same windows:

- **bare**: all windows decoded beforehand, timing only ``encoder.embed`` in batches (the ceiling);
- **pipeline**: ``index_paths`` into a fresh store (decode in threads overlapping the encoder, windows of many files
  batched, batched LanceDB writes, completion markers, optimize);
- **naive**: for each file: decode, window, embed, write its rows (one LanceDB append per table per file).

Goals from the foundation issue: pipeline/bare throughput >= 0.9 and pipeline/naive >= 3x.
The MERT-95M-shaped model is randomly initialised (no hub access here) and saved/loaded with save_pretrained /
from_pretrained, so its cost is the real architecture's.

Usage::

    python bench/bench_index.py [--encoders chroma,bssl,mert] [--files 40] [--mert-files 8]

Audio: ../shared/data/asap-dev/audio when present (30 s clips), else a generated collection.
Writes bench/results/index.json and .md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from embedstore.audio import frame_windows, load_audio
from embedstore.config import shared_data_dir
from embedstore.encoders import get_encoder
from embedstore.pipeline import Decoded, encode_batch, index_paths
from embedstore.store import Store, recording_id_from_hash

RESULTS = Path(__file__).resolve().parent / "results"


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


def bench_one(name: str, enc, files: list[Path], tmp: Path, window_s=10.0, hop_s=5.0) -> dict:
    # bare forward pass on pre-decoded windows
    wins = []
    audio_s = 0.0
    for f in files:
        a = load_audio(f, sample_rate=enc.sample_rate)
        w, _ = frame_windows(a.samples, a.sample_rate, window_s=window_s, hop_s=hop_s)
        wins.append(w)
        audio_s += a.duration_s
    allw = np.concatenate(wins)
    enc.embed(allw[:2])  # warm-up
    t0 = time.perf_counter()
    for i in range(0, len(allw), 32):
        enc.embed(allw[i : i + 32])
    bare = time.perf_counter() - t0

    # pipeline
    st = Store(tmp / f"{name}-pipe.lance")
    t0 = time.perf_counter()
    rep = index_paths(files, st, enc, window_s=window_s, hop_s=hop_s, poolings=("mean",))
    pipe = time.perf_counter() - t0
    assert len(rep.added) == len(files), rep.as_dict()

    # naive: one file at a time, no overlap, one append per table per file
    st2 = Store(tmp / f"{name}-naive.lance")
    spaces = st2.register_setup(enc, window_s=window_s, hop_s=hop_s, poolings=("mean",))
    t0 = time.perf_counter()
    from embedstore.utils import sha256_file as content_hash

    for f in files:
        a = load_audio(f, sample_rate=enc.sample_rate)
        w, starts = frame_windows(a.samples, a.sample_rate, window_s=window_s, hop_s=hop_s)
        h = content_hash(f)
        d = Decoded(
            path=str(f),
            content_hash=h,
            samples=a.samples,
            sample_rate=a.sample_rate,
            source_sample_rate=a.sample_rate,
            channels=1,
            windows=w,
            starts_s=starts,
            weights=np.ones(len(w), np.float32),
        )
        st2.write_encoded(spaces, encode_batch([d], enc, batch_windows=len(w)))
        assert recording_id_from_hash(h)
    naive = time.perf_counter() - t0
    return {
        "encoder": name,
        "files": len(files),
        "windows": int(len(allw)),
        "audio_s": round(audio_s, 1),
        "bare_s": round(bare, 3),
        "pipeline_s": round(pipe, 3),
        "naive_s": round(naive, 3),
        "pipeline_vs_bare": round(bare / pipe, 3),
        "pipeline_vs_naive": round(naive / pipe, 2),
        "pipeline_realtime_x": round(audio_s / pipe, 1),
        "stage_timings_s": rep.as_dict()["timings_s"],
    }


def main():
    from bench_asap_retrieval import machine  # type: ignore

    ap = argparse.ArgumentParser()
    ap.add_argument("--encoders", default="chroma,bssl,mert")
    ap.add_argument("--files", type=int, default=40)
    ap.add_argument("--mert-files", type=int, default=8)
    a = ap.parse_args()
    import torch

    torch.set_num_threads(2)
    tmp = Path(tempfile.mkdtemp(prefix="embedstore-bench-"))
    rows = []
    try:
        for name in a.encoders.split(","):
            if name == "mert":
                enc = get_encoder("mert-v1-95m", model_path=mert_shaped(tmp))
                files = files_for(a.mert_files, tmp)
            else:
                enc = get_encoder(name)
                files = files_for(a.files, tmp)
            r = bench_one(name, enc, files, tmp)
            if name == "mert":
                r["encoder"] = "mert-95m-shaped (random init)"
                r["dtype"] = enc.params().get("dtype", "")
            print(json.dumps(r))
            rows.append(r)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out = {"machine": machine(), "torch_threads": 2, "rows": rows}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "index.json").write_text(json.dumps(out, indent=2))
    lines = [
        "# Indexing throughput",
        "",
        f"Machine: {out['machine']}; torch threads 2; window 10 s, hop 5 s.",
        "",
        "| encoder | files | audio (s) | bare encoder (s) | pipeline (s) | naive loop (s) | pipeline/bare | "
        "pipeline vs naive | realtime x |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['encoder']} | {r['files']} | {r['audio_s']} | {r['bare_s']} | {r['pipeline_s']} | "
            f"{r['naive_s']} | {r['pipeline_vs_bare']} | {r['pipeline_vs_naive']}x | "
            f"{r['pipeline_realtime_x']} |"
        )
    (RESULTS / "index.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
