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
