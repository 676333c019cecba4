"""Small helpers shared across rooms: the one file hash, JSON-safe conversion and output, and a one-line machine
description for benchmarks.

Imports nothing heavy, not even numpy (numpy values are recognised by their type's module), so the command line's
start-up does not pay for it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
from pathlib import Path
from typing import Any


def sha256_file(path: str | os.PathLike, *, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes: the one content hash of the project.

    It identifies a recording independently of its name (recording ids are its first 16 digits), and verifies
    derived files (index caches, saved weights).

    Parameters
    ----------
    path : str or os.PathLike
    chunk : int
        Bytes read at a time.

    Returns
    -------
    str
        64 lower-case hex digits.
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def jsonable(o: Any) -> Any:
    """Recursively turn numpy scalars/arrays into Python values; non-finite floats become ``None``.

    Parameters
    ----------
    o : object
        Nested dicts, lists and tuples of numbers, strings, numpy scalars and arrays.

    Returns
    -------
    object
        The same structure with dict keys as strings, tuples and arrays as lists and NaN/inf as ``None``.
    """
    if isinstance(o, dict):
        return {str(k): jsonable(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [jsonable(v) for v in o]
    if _is_numpy(o):
        return jsonable(o.tolist())  # an array as nested lists, a scalar as its Python value
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return o


def _is_numpy(o: Any) -> bool:
    """A numpy array or scalar (without importing numpy)."""
    return type(o).__module__.partition(".")[0] == "numpy" and hasattr(o, "tolist")


def _json_default(o: Any) -> Any:
    if _is_numpy(o):
        return o.tolist()
    if hasattr(o, "as_dict"):
        return o.as_dict()
    return str(o)


def dumps(obj: Any, *, indent: int | None = 2) -> str:
    """Indented JSON with numpy types handled, non-finite floats written as null and non-ASCII kept.

    Parameters
    ----------
    obj : object
        Anything :func:`jsonable` takes; objects with an ``as_dict()`` method are written as that dict, other
        objects as their ``str``.
    indent : int or None
        Indentation; ``None`` writes one line (JSON Lines).

    Returns
    -------
    str
    """
    return json.dumps(
        jsonable(json.loads(json.dumps(obj, default=_json_default))), indent=indent, ensure_ascii=False
    )


def machine_description() -> str:
    """CPU model, cores, RAM and OS in one line, for benchmark reports.

    Returns
    -------
    str
        E.g. ``'AMD EPYC 7B13, 2 cores, 8 GiB RAM, Linux 6.1.0'``.
    """
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


#: Environment variable naming a crash point (:func:`crash_point`), for fault-injection tests.
CRASH_ENV = "EMBEDSTORE_CRASH_AT"
#: Exit status of a process stopped at a crash point.
CRASH_EXIT_CODE = 77
_crash_hits: dict[str, int] = {}


def crash_point(name: str) -> None:
    """Fault injection: end the process at once (``os._exit(77)``, no clean-up) when ``EMBEDSTORE_CRASH_AT`` names
    this point.

    ``EMBEDSTORE_CRASH_AT=after_vectors`` stops at the first pass, ``after_vectors@2`` at the second. Every write
    boundary of the store calls this with a stable name (listed in ``docs/write-protocol.md``); without the
    variable it costs one dictionary lookup.

    Parameters
    ----------
    name : str
        The crash point, e.g. ``"before_markers"``.
    """
    want = os.environ.get(CRASH_ENV)
    if not want:
        return
    target, _, nth = want.partition("@")
    if target != name:
        return
    _crash_hits[name] = _crash_hits.get(name, 0) + 1
    if _crash_hits[name] >= int(nth or 1):
        os._exit(CRASH_EXIT_CODE)
