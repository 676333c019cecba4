"""The clips of frame-model training: :class:`FrameItem` (features + targets of one clip), :func:`load_items` from
a manifest or a store, :func:`segments` for batching and :func:`split_train_val` (grouped by piece).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from embedstore.errors import ConfigError
from embedstore.evaluation.splits import inner_split
from embedstore.frames.targets import FrameTargets, targets_from_row
from embedstore.metadata import read_table
from embedstore.store import Store


@dataclass
class FrameItem:
    """One clip: features (n_frames, dim) on the common grid and its targets."""

    key: str
    group: str
    features: np.ndarray
    targets: FrameTargets
    frame_rate: float
    path: str | None = None
    _arrays: dict | None = field(default=None, repr=False)

    @property
    def n_frames(self) -> int:
        return int(len(self.features))

    @property
    def duration(self) -> float:
        return float(self.targets.duration)

    def target_arrays(self) -> dict[str, np.ndarray]:
        if self._arrays is None:
            self._arrays = self.targets.arrays(self.n_frames, self.frame_rate)
        return self._arrays

    def reference(self) -> dict:
        """Reference events for evaluation (``None`` where unknown)."""
        t = self.targets
        dyn = t.dynamics
        return {
            "beats": t.beats if t.has_beats else None,
            "downbeats": t.downbeats if t.has_beats else None,
            "change_points": dyn.change_points if dyn is not None and dyn.changes_known else None,
            "levels": self.target_arrays()["dynamics"] if dyn is not None else None,
        }


def load_items(
    data,
    featurizer,
    *,
    where: str | None = None,
    limit: int | None = None,
    cache: bool = True,
    group_column: str = "piece_id",
    progress: Callable[[int, int], None] | None = None,
) -> list[FrameItem]:
    """Frame items from a manifest file (CSV/TSV/JSON/JSONL) or a store directory.

    Parameters
    ----------
    data : str or Path
        A manifest (``audio`` or ``path`` column relative to its folder; ``beats``, ``downbeats``, ``midi``/
        ``notes``, ``t0``, ``annotations``, ``mean_velocity`` used when present) or a store (its recordings).
    featurizer : FrameFeaturizer
    where : str, optional
        SQL filter on the store's recordings (stores only).
    limit : int, optional
        Use the first ``limit`` rows.
    cache : bool
        Memoise features in the user cache.
    group_column : str
        Grouping column for cross-validation (falls back to the clip id when missing).
    """
    p = Path(data)
    if p.is_dir():
        df = Store(p, create=False).recordings(where)
        path_col, base = "path", None
    elif p.is_file():
        df = read_table(p)
        path_col = next((c for c in ("audio", "path", "file", "audio_path") if c in df.columns), None)
        if path_col is None:
            raise ConfigError(
                f"manifest {p} has no audio column", hint="add an 'audio' column with file paths"
            )
        base = p.parent
    else:
        raise ConfigError(f"no manifest or store at {p}")
    if limit is not None:
        df = df.iloc[: int(limit)]
    if len(df) == 0:
        raise ConfigError(f"no recordings in {p}")

    items = []
    rows = df.to_dict("records")
    for i, row in enumerate(rows):
        audio = Path(str(row[path_col]))
        if not audio.is_absolute() and base is not None:
            audio = base / audio
        feats, dur = featurizer.file(audio, cache=cache)
        dirs = [d for d in (base, audio.parent, audio.parent.parent) if d is not None]
        tg = targets_from_row(row, duration=dur, base_dirs=dirs)
        key = str(row.get("clip_id") or row.get("recording_id") or audio.stem)
        group = row.get(group_column)
        group = key if group is None or (isinstance(group, float) and math.isnan(group)) else str(group)
        items.append(FrameItem(key, group, feats, tg, featurizer.frame_rate, path=str(audio)))
        if progress is not None:
            progress(i + 1, len(rows))
    return items


def segments(items: list[FrameItem], *, segment_s: float, hop_s: float) -> list[tuple[int, int, int]]:
    """(item index, start frame, end frame) of every training segment."""
    out = []
    for i, it in enumerate(items):
        n = it.n_frames
        seg = int(round(segment_s * it.frame_rate))
        hop = int(round(hop_s * it.frame_rate))
        if n <= seg:
            out.append((i, 0, n))
            continue
        starts = list(range(0, n - seg + 1, hop))
        if starts[-1] + seg < n:
            starts.append(n - seg)
        out.extend((i, s, s + seg) for s in starts)
    return out


def split_train_val(items: list[FrameItem], *, val_fraction: float, seed: int):

    tr, va = inner_split([it.group for it in items], val_fraction=val_fraction, seed=seed)
    return [items[i] for i in tr], [items[i] for i in va]


def add_extra_items(
    train: list[FrameItem],
    manifests,
    featurizer,
    *,
    held_out: list[FrameItem] | None = None,
    cache: bool = True,
) -> list[FrameItem]:
    """``train`` plus the clips of the extra manifests (e.g. ``bench/frames_renders.py``'s longer excerpts, tempo /
    velocity variants and synthetic pieces) except those of a ``held_out`` item's piece (group): extras of
    validation or test pieces never enter training; those of ``train``'s pieces and of other pieces do."""
    drop = {it.group for it in held_out or ()}
    out = list(train)
    for m in manifests or ():
        out += [it for it in load_items(m, featurizer, cache=cache) if it.group not in drop]
    return out
