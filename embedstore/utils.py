"""Small helpers shared across rooms: JSON-safe conversion and a one-line machine description for benchmarks."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import numpy as np


def jsonable(o):
    """Recursively turn numpy scalars/arrays into Python values; non-finite floats become ``None``."""
    if isinstance(o, dict):
        return {str(k): jsonable(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [jsonable(v) for v in o]
    if isinstance(o, np.generic):
        o = o.item()
    if isinstance(o, np.ndarray):
        return jsonable(o.tolist())
    if isinstance(o, float) and not np.isfinite(o):
        return None
    return o


def machine_description() -> str:
    """CPU model, cores, RAM and OS, for benchmark reports."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f", {int(line.split()[1]) / 2**20:.0f} GiB RAM"
                break
    except (OSError, ValueError):
        pass
    return f"{cpu}, {os.cpu_count()} cores{mem}, {platform.system()} {platform.release()}"
