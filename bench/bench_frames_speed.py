"""Benchmark: `embedstore frames` on 30 s clips with the default frame model (goal: <= 3 s per clip after start-up).

Loads the model once (timed separately: madmom's networks, torch), then analyses ``--clips`` asap-dev clips in one
process (wall and CPU seconds per clip: audio decode, features, model, decoder, change-point detector), and times
``--cli-runs`` whole `embedstore frames CLIP --json` calls (start-up and model load included).

    python bench/bench_frames_speed.py                 # the default model (docs/frames.md)
    python bench/bench_frames_speed.py --model DIR

Writes bench/results/frames_speed.md and .json (command, machine, load, commit).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from measure import write_results  # noqa: E402

from embedstore.config import shared_data_dir  # noqa: E402
from embedstore.frames.persist import load_frame_model  # noqa: E402
from embedstore.frames.predict import analyze_file  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def run(model: str | None, n_clips: int, cli_runs: int) -> dict:
    data = shared_data_dir()
    if data is None:
        raise SystemExit("../shared data not found (set EMBEDSTORE_SHARED)")
    clips = sorted((data / "asap-dev" / "audio").glob("*.flac"))[:: max(1, 120 // n_clips)][:n_clips]
    t0, c0 = time.perf_counter(), time.process_time()
    saved = load_frame_model(model)
    load = {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}
    analyze_file(saved, clips[0])  # warm-up (first call builds lazy state)
    per = []
    for c in clips:
        la = os.getloadavg()[0]
        t0, c0 = time.perf_counter(), time.process_time()
        a = analyze_file(saved, c)
        per.append(
            {
                "clip": c.name,
                "duration_s": a.duration,
                "wall_s": time.perf_counter() - t0,
                "cpu_s": time.process_time() - c0,
                "load": la,
                "beats": len(a.beats),
                "change_points": len(a.change_points),
            }
        )
    cli = []
    env = dict(os.environ)
    if model:
        env["EMBEDSTORE_FRAMES_MODEL"] = str(model)
    for c in clips[:cli_runs]:
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "embedstore.cli", "frames", str(c), "--json"],
            check=True,
            capture_output=True,
            env=env,
        )
        cli.append(time.perf_counter() - t0)
    walls = np.array([p["wall_s"] for p in per])
    return {
        "model": str(saved.path),
        "model_kind": saved.config["model"]["kind"],
        "encoder": saved.config["features"]["encoder"],
        "change_detector": saved.change_detector is not None,
        "dynamics_model": None if saved.dynamics_model is None else saved.dynamics_model.kind,
        "load": load,
        "per_clip": per,
        "wall_median_s": float(np.median(walls)),
        "wall_max_s": float(walls.max()),
        "cpu_median_s": float(np.median([p["cpu_s"] for p in per])),
        "cli_wall_s": cli,
    }


def markdown(out: dict) -> str:
    ok = out["wall_median_s"] <= 3.0
    return "\n".join(
        [
            "# `embedstore frames` speed with the default model",
            "",
            f"Command: `{out['command']}` (commit {out['commit']})  ",
            f"Machine: {out['machine']}; load average at the start {out['load_start']}, at the end "
            f"{out['load_end']} (a shared 2-core machine).",
            "",
            f"Model: {out['model']} ({out['model_kind']} on {out['encoder']} features; change-point detector: "
            f"{'yes' if out['change_detector'] else 'no'}; dynamics from: "
            f"{out.get('dynamics_model') or 'the same model'}).",
            "",
            "| measure | value |",
            "|---|---|",
            f"| model load, once per run (wall / CPU s) | {out['load']['wall_s']:.2f} / {out['load']['cpu_s']:.2f} |",
            f"| 30 s clip after start-up, median of {len(out['per_clip'])} clips (wall s) | "
            f"**{out['wall_median_s']:.2f}** (max {out['wall_max_s']:.2f}) |",
            f"| 30 s clip after start-up, median CPU s | {out['cpu_median_s']:.2f} |",
            "| whole CLI call `embedstore frames CLIP --json` (start-up + load + clip), wall s | "
            + ", ".join(f"{x:.2f}" for x in out["cli_wall_s"])
            + " |",
            "",
            f"Goal (issue 14): <= 3 s per 30 s clip after start-up: **{'met' if ok else 'missed'}** "
            f"(median {out['wall_median_s']:.2f} s).",
            "",
        ]
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="model folder (default: the default model)")
    ap.add_argument("--clips", type=int, default=10)
    ap.add_argument("--cli-runs", type=int, default=3)
    ap.add_argument("--out", default=str(RESULTS / "frames_speed"))
    a = ap.parse_args(argv)
    load_start = [round(x, 2) for x in os.getloadavg()]
    out = run(a.model, a.clips, a.cli_runs)
    write_results(
        out,
        a.out,
        markdown,
        script="bench_frames_speed.py",
        argv=argv or sys.argv[1:],
        load_start=load_start,
        root=ROOT,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
