"""Locations and defaults shared by the library, the CLI and the tests."""

from __future__ import annotations

import os
from pathlib import Path

#: Default store location (a LanceDB directory) of every command.
DEFAULT_STORE = "embedstore.lance"
#: Default analysis window and hop, seconds.
DEFAULT_WINDOW_S = 10.0
DEFAULT_HOP_S = 5.0
#: Longest recording accepted by default (seconds); longer files are rejected as ``too_long``.
DEFAULT_MAX_DURATION_S = 4 * 3600.0
#: Quieter than this (dBFS RMS over the whole file) is rejected as ``silent``.
SILENCE_DB = -70.0
#: `embedstore serve`: address, port and the largest query upload accepted (bytes).
SERVE_HOST, SERVE_PORT, SERVE_MAX_UPLOAD_BYTES = "127.0.0.1", 8765, 50 * 1024 * 1024


def shared_dir() -> Path | None:
    """The shared development data folder (``$EMBEDSTORE_SHARED``, else ``../shared`` beside the checkout).

    Returns ``None`` when it does not exist. The data is read in place and never copied.
    """
    env = os.environ.get("EMBEDSTORE_SHARED")
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve().parent.parent
    candidates += [here.parent / "shared", Path.cwd().parent / "shared", Path.cwd() / "shared"]
    for c in candidates:
        if (c / "data").is_dir():
            return c
    return None


def shared_data_dir() -> Path | None:
    d = shared_dir()
    return None if d is None else d / "data"


def cache_dir() -> Path:
    """Cache for rendered training audio and similar derived files (never committed)."""
    d = Path(os.environ.get("EMBEDSTORE_CACHE", Path.home() / ".cache" / "embedstore"))
    d.mkdir(parents=True, exist_ok=True)
    return d
