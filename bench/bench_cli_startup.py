"""Benchmark of the command line's start-up: the wall time of ``embedstore --help`` (not a test).

The goal (issue 11, COMMON.md) is <= 0.5 s: the commands import the library and its heavy dependencies (torch,
lancedb, pandas...) inside their functions, so ``--help`` only needs Typer and the command modules.

Each command runs ``--runs`` times in a fresh interpreter, one after the other; the table gives the median, the
10th and 90th percentiles and the best run. Beside it: importing the CLI without rendering the help, the bare
interpreter (``python -c pass``) and ``import typer`` (what any Typer CLI pays), so the share of the start-up that
is embedstore's own is visible (the rest is Typer/rich rendering the help). Also
written: the modules of the project and the heavy libraries that ``--help`` imports (both should be few / none).

Writes ``<out>/cli_startup.json`` and ``<out>/cli_startup.md`` with the machine and the load.

    .venv/bin/python bench/bench_cli_startup.py            # 20 runs each
    .venv/bin/python bench/bench_cli_startup.py --runs 50
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

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from embedstore.utils import machine_description  # noqa: E402

GOAL_S = 0.5
HEAVY = ("torch", "transformers", "lancedb", "pyarrow", "pandas", "faiss", "sklearn", "librosa", "numba")


def _time(cmd: list[str], runs: int, env: dict[str, str]) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(
            cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True
        )
        out.append(time.perf_counter() - t0)
    return out


def _imported(env: dict[str, str]) -> dict[str, list[str]]:
    code = (
        "import sys, embedstore.cli; mods = sorted(sys.modules); "
        f"print({{'project': [m for m in mods if m.startswith('embedstore')], "
        f"'heavy': [m for m in {HEAVY!r} if m in mods]}})"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return eval(res.stdout)  # noqa: S307 - our own subprocess's repr of two lists of names


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--out", type=Path, default=HERE / "results")
    a = ap.parse_args(argv)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    load_start = os.getloadavg()
    commands = {
        "python cli.py --help (embedstore --help)": [sys.executable, "cli.py", "--help"],
        "python -c 'import embedstore.cli' (no help rendered)": [
            sys.executable,
            "-c",
            "import embedstore.cli",
        ],
        "baseline: python -c pass": [sys.executable, "-c", "pass"],
        "baseline: python -c 'import typer'": [sys.executable, "-c", "import typer"],
    }
    _time(commands["python cli.py --help (embedstore --help)"], 2, env)  # warm the file cache
    rows = []
    for name, cmd in commands.items():
        t = np.array(_time(cmd, a.runs, env))
        rows.append(
            {
                "command": name,
                "runs": a.runs,
                "median_s": round(float(np.median(t)), 3),
                "p10_s": round(float(np.percentile(t, 10)), 3),
                "p90_s": round(float(np.percentile(t, 90)), 3),
                "best_s": round(float(t.min()), 3),
            }
        )
    imported = _imported(env)
    result = {
        "goal_s": GOAL_S,
        "met": rows[0]["median_s"] <= GOAL_S,
        "rows": rows,
        "imported_by_help": imported,
        "machine": machine_description(),
        "load_start": load_start,
        "load_end": os.getloadavg(),
        "python": sys.version.split()[0],
        "command": "python bench/bench_cli_startup.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "cli_startup.json").write_text(json.dumps(result, indent=2) + "\n")
    load = (
        ", ".join(f"{x:.1f}" for x in load_start)
        + " at start, "
        + ", ".join(f"{x:.1f}" for x in result["load_end"])
    )
    lines = [
        "# CLI start-up: `embedstore --help`",
        "",
        f"Machine: {result['machine']}; Python {result['python']}; load average {load} at end "
        "(shared machine: times are indicative).",
        f"Command: `{result['command'].strip()}`. Goal: median <= {GOAL_S} s: **{'met' if result['met'] else 'not met'}**.",
        "",
        "| command | runs | median s | p10 s | p90 s | best s |",
        "|---|---:|---:|---:|---:|---:|",
        *(
            f"| {r['command']} | {r['runs']} | {r['median_s']} | {r['p10_s']} | {r['p90_s']} | {r['best_s']} |"
            for r in rows
        ),
        "",
        f"`--help` imports {len(imported['project'])} embedstore modules and these heavy libraries: "
        f"{', '.join(imported['heavy']) or 'none'}.",
        "",
    ]
    (a.out / "cli_startup.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
