"""What an indexing run reports: :class:`IndexReport` (counts, rejects, per-stage timings), the stage timer and the
progress bar."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from embedstore.pipeline.stages import Rejected


@dataclass
class IndexReport:
    """The outcome of :func:`~embedstore.pipeline.index_paths`.

    Attributes
    ----------
    setup_key, encoder : str
    files_seen : int
        Files found by discovery.
    added : list of str
        Paths indexed by this run (including changed files re-indexed).
    replaced : list of str
        Paths whose content changed since they were indexed (their old vectors were removed).
    skipped : list of str
        Paths whose content was already indexed with the setup.
    duplicates : list of (str, str)
        (path, path of the same content indexed by this run).
    rejected : list of Rejected
    cleaned_partial : int
        Recordings of an interrupted earlier run whose partial rows were removed.
    repaired : list of str
        What the start of the run repaired (:func:`embedstore.store.verify.repair_store`).
    not_files : list of (str, str)
        Inputs that are not regular files (a directory or FIFO named like audio, a dangling link...) and why.
    moved : list of (str, str)
        (old path, new path) of recordings whose file was renamed: the recording keeps its vectors.
    overwritten : list of str
        Paths that now hold other content than their recording, which was removed.
    missing : list of str
        Paths of recordings whose file is gone (removed with ``prune``).
    pruned : int
        Recordings removed because their file is gone.
    warnings : list of str
        Problems that did not stop the run (e.g. compaction failed).
    windows : int
        Windows embedded.
    audio_s : float
        Seconds of audio indexed.
    timings : dict
        Stage -> seconds (``load_encoder``, ``prepare``, ``read``, ``wait_read``, ``encode``, ``write``,
        ``wait_write``, ``optimize``, ``total``). ``read`` and ``write`` run in threads, overlapping ``encode``.
    """

    setup_key: str
    encoder: str
    files_seen: int = 0
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    cleaned_partial: int = 0
    repaired: list[str] = field(default_factory=list)
    not_files: list[tuple[str, str]] = field(default_factory=list)
    moved: list[tuple[str, str]] = field(default_factory=list)
    overwritten: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    pruned: int = 0
    warnings: list[str] = field(default_factory=list)
    windows: int = 0
    audio_s: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """False only when files were given and nothing at all could be indexed (or was already)."""
        return bool(self.added or self.skipped or self.duplicates) or self.files_seen == 0

    def inputs(self) -> list[dict[str, str]]:
        """Every input of the run and what became of it, one dict each: ``path`` and ``status`` (``indexed``,
        ``unchanged``, ``duplicate`` with ``duplicate_of``, ``rejected`` with ``reason`` and ``message``, ``skipped``
        with ``why``). Their number is :attr:`files_seen` for a run that read every file."""
        out = [{"path": p, "status": "indexed"} for p in self.added]
        out += [{"path": p, "status": "unchanged"} for p in self.skipped]
        out += [{"path": p, "status": "duplicate", "duplicate_of": q} for p, q in self.duplicates]
        out += [
            {"path": r.path, "status": "rejected", "reason": r.reason, "message": r.message}
            for r in self.rejected
        ]
        out += [{"path": p, "status": "skipped", "why": why} for p, why in self.not_files]
        return out

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary: counts, every input with its outcome (:meth:`inputs`), the rejects, what was
        repaired, moved, overwritten or missing, warnings, timings and the realtime factor."""
        return {
            "setup_key": self.setup_key,
            "encoder": self.encoder,
            "files_seen": self.files_seen,
            "added": len(self.added),
            "replaced": len(self.replaced),
            "skipped": len(self.skipped),
            "duplicates": len(self.duplicates),
            "rejected": [{"path": r.path, "reason": r.reason, "message": r.message} for r in self.rejected],
            "not_files": len(self.not_files),
            "inputs": self.inputs(),
            "cleaned_partial": self.cleaned_partial,
            "repaired": self.repaired,
            "moved": [{"from": a, "to": b} for a, b in self.moved],
            "overwritten": self.overwritten,
            "missing": self.missing,
            "pruned": self.pruned,
            "warnings": self.warnings,
            "windows": self.windows,
            "audio_s": round(self.audio_s, 3),
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
            "realtime_factor": round(self.audio_s / self.timings["total"], 2)
            if self.timings.get("total")
            else None,
        }


class StageTimer:
    """Seconds spent per stage, summed over calls; safe to use from the reader and writer threads."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        """Time the ``with`` block as ``stage``."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.add(stage, time.perf_counter() - t0)

    def add(self, stage: str, seconds: float) -> None:
        """Add ``seconds`` to ``stage``."""
        with self._lock:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds


class ProgressBar:
    """A rich progress bar with an ETA; does nothing when disabled or when there is nothing to do."""

    def __init__(self, total: int, *, enabled: bool, label: str):
        self._bar: Any = None
        if enabled and total:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task(label, total=total)

    def advance(self, n: int) -> None:
        """Count ``n`` more files done."""
        if self._bar is not None:
            self._bar.advance(self._task, n)

    def close(self) -> None:
        """Stop drawing."""
        if self._bar is not None:
            self._bar.stop()
