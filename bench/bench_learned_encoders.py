"""Benchmark: the learned encoders that ship their weights in a wheel, every layer, beside the handcrafted ones.

Task: same-piece retrieval on asap-dev at the recording level (120 queries; relevant = the other performances of
the query's piece; mean of 10 s / 5 s windows; cosine), MAP with a 95 % bootstrap CI over queries, chance MAP of a
random ranking beside it, and the encoder's cost per hour of audio on this machine (indexing wall time / audio
duration). chroma is the plain baseline. Caveat (the README says it too): the asap-dev clips all start at the same
bar, so this is the easy retrieval task; ``bench/bench_alignment.py`` holds the long-excerpt figures.

    python bench/bench_learned_encoders.py                       # basic-pitch + chroma
    python bench/bench_learned_encoders.py --encoders basic-pitch,transkun,chroma

Writes ``bench/results/learned_encoders.md`` and ``.json`` (command, machine, load, commit).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from embedstore.config import cache_dir, shared_data_dir  # noqa: E402
from embedstore.evaluation.retrieval import evaluate_rankings  # noqa: E402
from embedstore.evaluation.stats import bootstrap_ci  # noqa: E402
from embedstore.pipeline import index_paths  # noqa: E402
from embedstore.store import Store  # noqa: E402
from embedstore.utils import machine_description  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def _commit() -> str:
    try:
        return subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True).strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run(encoders: list[str]) -> dict:
    data = shared_data_dir()
    if data is None:
        raise SystemExit("../shared data not found (set EMBEDSTORE_SHARED)")
    root = data / "asap-dev"
    rows = []
    for enc in encoders:
        st = Store(cache_dir() / "bench" / f"learned-{enc}.lance")
        t0 = time.perf_counter()
        rep = index_paths(
            root / "audio",
            st,
            enc,
            metadata=root / "manifest.csv",
            window_s=10.0,
            hop_s=5.0,
            poolings=("mean",),
            frames=False,
            progress=False,
        )
        index_s = time.perf_counter() - t0
        audio_h = float(st.recordings()["duration_s"].sum()) / 3600.0
        spaces = [s for s in st.spaces() if s.setup_key == rep.setup_key and s.level == "recording"]
        for space in spaces:
            es = st.load(space)
            v = es.vectors / np.maximum(np.linalg.norm(es.vectors, axis=1, keepdims=True), 1e-12)
            sim = v @ v.T
            np.fill_diagonal(sim, -np.inf)
            order = np.argsort(-sim, axis=1)[:, :-1]
            ev = evaluate_rankings(order, es.metadata["piece_id"].to_numpy())
            aps = np.asarray([q["ap"] for q in ev["per_query"]], dtype=float)
            ci = bootstrap_ci(np.mean, aps, n_boot=1000, seed=0)
            lo, hi = ci.low, ci.high
            rows.append(
                {
                    "encoder": enc,
                    "layer": space.layer_name,
                    "map": float(ev["mean"]["map"]),
                    "map_ci": [float(lo), float(hi)],
                    "p@1": float(ev["mean"]["p@1"]),
                    "chance_map": float(ev["chance"]["map"]),
                    "n_queries": int(ev["mean"]["n_queries"]),
                    "index_s": round(index_s, 1),
                    "seconds_per_audio_hour": round(index_s / audio_h, 1) if rep.added else None,
                }
            )
            print(f"{enc} {rows[-1]['layer']}: MAP {rows[-1]['map']:.3f} [{lo:.3f}, {hi:.3f}]")
    return {
        "command": "python bench/bench_learned_encoders.py " + " ".join(sys.argv[1:]),
        "machine": machine_description(),
        "load_avg": list(os.getloadavg()),
        "commit": _commit(),
        "rows": rows,
    }


def write(out: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "learned_encoders.json").write_text(json.dumps(out, indent=2))
    lines = [
        "# Learned encoders (weights in their wheels), every layer, beside the handcrafted baseline",
        "",
        f"Command: `{out['command'].strip()}` (commit {out['commit']})  ",
        f"Machine: {out['machine']}; load average at the end {out['load_avg'][0]:.1f}.",
        "",
        "Same-piece retrieval on asap-dev, recording level (mean of 10 s / 5 s windows, cosine), 120 queries; MAP with "
        "a 95 % bootstrap CI over queries; chance = MAP of a random ranking; chroma is the plain baseline. The clips "
        "all start at the same bar, so this is the easy task (see `alignment.md` for long excerpts). Cost = indexing "
        "wall time per hour of audio on this machine (decode + encode + write; blank when the store was reused).",
        "",
        "| encoder | layer | MAP [95 % CI] | P@1 | chance MAP | cost (s per hour of audio) |",
        "|---|---|---|---|---|---|",
    ]
    for r in out["rows"]:
        cost = "" if r["seconds_per_audio_hour"] is None else f"{r['seconds_per_audio_hour']:,.0f}"
        lines.append(
            f"| {r['encoder']} | {r['layer']} | {r['map']:.3f} [{r['map_ci'][0]:.3f}, {r['map_ci'][1]:.3f}] | "
            f"{r['p@1']:.3f} | {r['chance_map']:.3f} | {cost} |"
        )
    (RESULTS / "learned_encoders.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--encoders", default="basic-pitch,chroma")
    a = ap.parse_args()
    write(run(a.encoders.split(",")))
