"""Run every benchmark in bench/ one after the other (results land in bench/results/).

Each script is standalone and documents its own options; this runner uses their defaults.
Benchmarks are not tests: run them on an otherwise idle machine and quote the machine with the numbers.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

SCRIPTS = [
    "bench_asap_retrieval.py",
    "bench_index.py",
    "bench_search.py",
    "bench_encoders.py",
    "bench_probes.py",
    "bench_retrieval_interpretation.py",
    "bench_frames.py",
    "bench_serve.py",
    "bench_cli_startup.py",
    "bench_queries.py",
    "bench_startup.py",
]

if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    failed = []
    for s in SCRIPTS:
        if not (here / s).exists():
            continue
        t0 = time.perf_counter()
        print(f"== {s}", flush=True)
        rc = subprocess.call([sys.executable, str(here / s)], cwd=here.parent)
        print(f"== {s}: exit {rc} in {time.perf_counter() - t0:.0f} s", flush=True)
        if rc:
            failed.append(s)
    sys.exit(1 if failed else 0)
