"""Locations and defaults shared by the library, the CLI and the tests: the one place for each default.

A default used by more than one module (a function's keyword default, a CLI option's default, a benchmark's
setting) is defined here once and imported everywhere else. Units are in the names: ``_S`` seconds, ``_DB`` dBFS.
"""

from __future__ import annotations

import os
from pathlib import Path

# -- the store and indexing
#: Default store location (a LanceDB directory) of every command.
DEFAULT_STORE = "embedstore.lance"
#: Default analysis window and hop, seconds.
DEFAULT_WINDOW_S = 10.0
DEFAULT_HOP_S = 5.0
#: Recording-level poolings of the windows' vectors stored by ``embedstore index`` (``none`` = windows only).
DEFAULT_POOLINGS: tuple[str, ...] = ("mean", "max")
#: Files per reader/writer batch, and windows per encoder forward pass, while indexing.
DEFAULT_BATCH_FILES = 16
DEFAULT_BATCH_WINDOWS = 32
#: Number of hits a search returns.
DEFAULT_K = 10
#: Encoders whose setups store frame sequences for alignment unless told otherwise (``index --frames``).
FRAMES_BY_DEFAULT: tuple[str, ...] = ("chroma",)

# -- audio validation
#: Longest recording accepted by default (seconds); longer files are rejected as ``too_long``.
DEFAULT_MAX_DURATION_S = 4 * 3600.0
#: Shortest recording accepted by default (seconds); shorter files are rejected as ``too_short``.
DEFAULT_MIN_DURATION_S = 0.1
#: Quieter than this (dBFS RMS over the whole file) is rejected as ``silent``.
DEFAULT_SILENCE_DB = -70.0
#: Sample rate (Hz) of the shared development data, the synthetic collection and the handcrafted encoders.
DEFAULT_SAMPLE_RATE = 22050

# -- evaluation
#: Bootstrap resamples per confidence interval, and the interval's level.
DEFAULT_N_BOOT = 1000
DEFAULT_CI_LEVEL = 0.95
#: Outer folds of a grouped cross-validation.
DEFAULT_N_SPLITS = 5

# -- the web page (`embedstore serve`)
#: Address, port and the largest query upload accepted (bytes).
SERVE_HOST, SERVE_PORT, SERVE_MAX_UPLOAD_BYTES = "127.0.0.1", 8765, 50 * 1024 * 1024


def shared_dir() -> Path | None:
    """The shared development data folder.

    Returns
    -------
    Path or None
        ``$EMBEDSTORE_SHARED`` if set, else ``../shared`` beside the checkout or the current directory, else
        ``./shared``: the first that holds a ``data`` folder; ``None`` when none does. The data is read in
        place and never copied.
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
    """The ``data`` folder of :func:`shared_dir` (``None`` when there is no shared folder)."""
    d = shared_dir()
    return None if d is None else d / "data"


def cache_dir() -> Path:
    """Cache for rendered training audio and similar derived files (never committed).

    Returns
    -------
    Path
        ``$EMBEDSTORE_CACHE``, else ``~/.cache/embedstore``; created if missing. Put derived data in a
        sub-folder named for the work.
    """
    d = Path(os.environ.get("EMBEDSTORE_CACHE", Path.home() / ".cache" / "embedstore"))
    d.mkdir(parents=True, exist_ok=True)
    return d
