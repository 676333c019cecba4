"""Where the local engine runs the reader stage: decoding threads, or worker processes that do not share the GIL.

:class:`Readers` submits :func:`~embedstore.pipeline.stages.read_one` for one path and returns a future of
``(result, seconds)``. With ``kind="processes"`` the read options (which may hold a large ``indexed`` map and the
metadata sidecar) are sent to each worker once, when it starts, not with every file; workers start from a
``forkserver`` that has the stages imported, so they do not inherit the driver's threads (LanceDB, torch).
"""

from __future__ import annotations

import time
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Literal

from embedstore.errors import check_choice
from embedstore.pipeline.stages import Decoded, Rejected, Skipped, read_one

ReadResult = Decoded | Rejected | Skipped
DecodeIn = Literal["threads", "processes"]
DECODE_IN = ("threads", "processes")

_WORKER_OPTIONS: dict = {}


def _set_options(options: dict) -> None:
    """Worker process initialiser: keep the read options for every later call."""
    _WORKER_OPTIONS.clear()
    _WORKER_OPTIONS.update(options)


def timed_read(path: str | Path, options: dict | None = None) -> tuple[ReadResult, float]:
    """:func:`read_one` on ``path`` with ``options`` (in a worker process: those it was started with); seconds."""
    t0 = time.perf_counter()
    r = read_one(path, **(_WORKER_OPTIONS if options is None else options))
    return r, time.perf_counter() - t0


class Readers:
    """A pool of reader threads or processes (a context manager).

    Parameters
    ----------
    kind : {"threads", "processes"}
    workers : int
        Threads or processes.
    read_options : dict
        Keyword options of :func:`read_one`.
    """

    def __init__(self, kind: DecodeIn, workers: int, read_options: dict) -> None:
        check_choice("decode", kind, DECODE_IN)
        self._options: dict | None = read_options
        self._pool: Executor
        if kind == "processes":
            import multiprocessing

            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(["embedstore.pipeline.stages"])
            self._pool = ProcessPoolExecutor(
                max_workers=workers, mp_context=ctx, initializer=_set_options, initargs=(read_options,)
            )
            self._options = None
        else:
            self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reader")

    def submit(self, path: str | Path) -> Future[tuple[ReadResult, float]]:
        """Read ``path`` in the pool."""
        return self._pool.submit(timed_read, path, self._options)

    def __enter__(self) -> Readers:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
