"""Small measuring helpers of the search benchmarks (not a test)."""

from __future__ import annotations

import resource
from pathlib import Path


def rss_mib() -> tuple[float, float]:
    """(current VmRSS, peak VmHWM) of this process, MiB."""
    cur = peak = 0.0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            cur = int(line.split()[1]) / 1024
        elif line.startswith("VmHWM:"):
            peak = int(line.split()[1]) / 1024
    return cur, max(peak, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def recall_at_k(truth, got) -> float:
    import numpy as np

    return float(np.mean([np.isin(t, g).mean() for t, g in zip(truth, got)]))


def git_commit(root: Path) -> str:
    """The short commit of ``root`` ("unknown" outside a git checkout)."""
    import subprocess

    try:
        return subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], cwd=root, text=True).strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_results(out: dict, path: str, markdown, *, script: str, argv, load_start, root: Path) -> None:
    """Stamp ``out`` with the command, commit, machine and load, then write ``path``.json and ``path``.md."""
    import json
    import os

    from embedstore.utils import machine_description

    out.update(
        command=f"python bench/{script}" + (" " + " ".join(argv)).rstrip(),
        commit=git_commit(root),
        machine=machine_description(),
        load_start=load_start,
        load_end=[round(x, 2) for x in os.getloadavg()],
    )
    Path(path + ".json").write_text(json.dumps(out, indent=2))
    Path(path + ".md").write_text(markdown(out))
    print(markdown(out))
