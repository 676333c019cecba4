"""Frame-level training targets: beats, downbeats, dynamics levels and dynamics change points.

Task: for one clip of ``duration`` seconds, build per-frame targets on the grid ``i / frame_rate``
(``n_frames = floor(duration * frame_rate)``) and the event lists (seconds from the clip start) they come from.

Sources
-------
- **Beats and downbeats (REAL).** ASAP annotation files (Audacity labels ``time<TAB>time<TAB>label``; ``b`` and
  ``bR`` are beats, ``db`` a downbeat, which is also a beat) read with :func:`read_asap_annotations`, or the
  ``beats`` / ``downbeats`` JSON columns of a manifest (already relative to the clip start).
- **Dynamics levels (DERIVED).** There are no dynamics annotations in the data; the levels are derived from the
  MIDI note velocities of the performance, per beat:

  1. the note onsets of the clip (onset in ``[t0 - 0.05, t0 + dur)``, the rendering rule of the shared clips);
  2. for each beat interval ``[b_k - 0.05, b_{k+1} - 0.05)`` (the first interval reaches back to the clip start,
     the last one to its end; without beats a 0.5 s grid is used), the mean velocity of its onsets; intervals
     without an onset take the value of the nearest interval that has one;
  3. a running median over 5 beats (:data:`MEDIAN_BEATS`);
  4. velocity -> level with :data:`VELOCITY_EDGES`, with a hysteresis of 3 velocity units
     (:data:`HYSTERESIS`): the level moves only when the smoothed velocity passes an edge by 3 units;
  5. every frame takes the level of its beat interval; **change points** are the beat times where the level
     differs from the previous beat's.

  Velocity -> level (MIDI velocity 1-127, 12 units per level, centred on the median beat velocity of asap-dev,
  ~60): ``pp`` < 36 <= ``p`` < 48 <= ``mp`` < 60 <= ``mf`` < 72 <= ``f`` < 84 <= ``ff``. The Disklavier
  velocities of ASAP sit lower than notation software's defaults (MuseScore's pp=33 ... ff=112 would put 0.3 % of
  asap-dev's beats at ``ff``); with these edges the frames of asap-dev's 120 clips fall 5 / 24 / 23 / 32 / 10 /
  5 % into pp..ff, with about 5 change points per 30 s clip. The levels are a property of the MIDI, not of a score marking: they say how loud the notes were played,
  and are comparable across clips because the rendering applies no normalisation.

Per-frame target arrays (:meth:`FrameTargets.arrays`): ``dynamics`` int64 class 0-5 (``-1`` = unknown, ignored
by the loss), and ``beat`` / ``downbeat`` / ``change`` float32 in [0, 1]: 1 at the frame nearest each event and
smaller values on the neighbouring frames (:func:`event_targets`; widened targets make the sparse positives less
brittle to a one-frame offset).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embedstore.errors import ConfigError
from embedstore.frames.annotations import (
    read_asap_annotations,
    read_note_onsets,
    read_notes_json,
)

#: The six dynamics classes, softest first.
DYNAMICS_LEVELS = ("pp", "p", "mp", "mf", "f", "ff")
#: Lower velocity edge of levels p, mp, mf, f, ff (DERIVED mapping, see the module docstring).
VELOCITY_EDGES = (36.0, 48.0, 60.0, 72.0, 84.0)
#: Running median over this many beats before quantising.
MEDIAN_BEATS = 5
#: Velocity units an edge must be passed by before the level changes.
HYSTERESIS = 3.0
#: Onsets this much before a beat count for that beat (chords played slightly early), seconds.
BEAT_LEAD_S = 0.05
#: Grid used instead of beats when a clip has none, seconds.
FALLBACK_GRID_S = 0.5
#: Half-widths (frames) and shape of the widened event targets per task.
WIDEN = {"beat": 1, "downbeat": 1, "change": 5}


def velocity_to_level(velocity, *, edges=VELOCITY_EDGES) -> np.ndarray:
    """Dynamics level (0 = pp ... 5 = ff) of MIDI velocities.

    Parameters
    ----------
    velocity : array-like, shape (n,)

    Returns
    -------
    np.ndarray, shape (n,), int64
    """
    v = np.asarray(velocity, dtype=np.float64)
    return np.digitize(v, np.asarray(edges, dtype=np.float64)).astype(np.int64)


def levels_with_hysteresis(velocity, *, edges=VELOCITY_EDGES, hysteresis: float = HYSTERESIS) -> np.ndarray:
    """Quantise a smoothed velocity sequence to levels; a level change needs the edge passed by ``hysteresis``.

    Parameters
    ----------
    velocity : array-like, shape (n,)

    Returns
    -------
    np.ndarray, shape (n,), int64
    """
    v = np.asarray(velocity, dtype=np.float64)
    out = np.zeros(len(v), dtype=np.int64)
    if len(v) == 0:
        return out
    e = np.asarray(edges, dtype=np.float64)
    cur = int(np.digitize(v[0], e))
    for k, x in enumerate(v):
        up = int(np.digitize(x - hysteresis, e))
        down = int(np.digitize(x + hysteresis, e))
        if up > cur:
            cur = up
        elif down < cur:
            cur = down
        out[k] = cur
    return out


# ------------------------------------------------------------------------------------------------ annotations
@dataclass
class DynamicsTargets:
    """Derived dynamics of a clip.

    Attributes
    ----------
    grid : np.ndarray, shape (n_intervals,)
        Start time of each beat interval (the first is 0), seconds.
    velocity : np.ndarray, shape (n_intervals,)
        Smoothed mean onset velocity per interval.
    levels : np.ndarray, shape (n_intervals,), int64
        Level 0-5 per interval.
    change_points : np.ndarray, shape (n_changes,)
        Times where the level changes, seconds.
    changes_known : bool
        False when the levels come from a clip-level value (no change-point targets).
    """

    grid: np.ndarray
    velocity: np.ndarray
    levels: np.ndarray
    change_points: np.ndarray
    changes_known: bool = True

    def frame_levels(self, n_frames: int, frame_rate: float) -> np.ndarray:
        """Level of each frame (the level of the interval holding the frame's time). Shape (n_frames,), int64."""
        t = np.arange(n_frames) / float(frame_rate)
        idx = np.clip(np.searchsorted(self.grid, t, side="right") - 1, 0, len(self.grid) - 1)
        return self.levels[idx] if len(self.levels) else np.full(n_frames, -1, dtype=np.int64)


def beat_grid(beats, duration: float, *, fallback_s: float = FALLBACK_GRID_S) -> np.ndarray:
    """Interval starts from beats inside ``[0, duration)``: 0 first, then the beats (or a regular grid)."""
    b = np.asarray(beats if beats is not None else [], dtype=np.float64)
    b = np.unique(b[(b > 0) & (b < duration)])
    if len(b) == 0:
        b = np.arange(fallback_s, duration, fallback_s)
    return np.concatenate([[0.0], b])


def derive_dynamics(
    onsets,
    velocities,
    *,
    duration: float,
    beats=None,
    edges=VELOCITY_EDGES,
    median_beats: int = MEDIAN_BEATS,
    hysteresis: float = HYSTERESIS,
) -> DynamicsTargets:
    """DERIVED dynamics levels and change points from note onsets and velocities (see the module docstring).

    Parameters
    ----------
    onsets : array-like, shape (n,)
        Onset times from the clip start, seconds.
    velocities : array-like, shape (n,)
        MIDI velocities 1-127.
    duration : float
        Clip length, seconds.
    beats : array-like, optional
        Beat times from the clip start; a 0.5 s grid when absent or empty.
    """
    import scipy.ndimage

    on = np.asarray(onsets, dtype=np.float64)
    vel = np.asarray(velocities, dtype=np.float64)
    if on.shape != vel.shape:
        raise ConfigError(f"onsets and velocities differ in shape: {on.shape} vs {vel.shape}")
    grid = beat_grid(beats, duration)
    if len(on) == 0:
        empty = np.zeros(len(grid))
        return DynamicsTargets(grid, empty, np.full(len(grid), -1, dtype=np.int64), np.zeros(0))
    bounds = np.concatenate([grid[1:] - BEAT_LEAD_S, [np.inf]])
    bounds_lo = np.concatenate([[-np.inf], bounds[:-1]])
    v = np.full(len(grid), np.nan)
    for k in range(len(grid)):
        sel = (on >= bounds_lo[k]) & (on < bounds[k])
        if sel.any():
            v[k] = vel[sel].mean()
    have = np.flatnonzero(np.isfinite(v))
    nearest = have[np.clip(np.searchsorted(have, np.arange(len(v))), 0, len(have) - 1)]
    prev = have[np.clip(np.searchsorted(have, np.arange(len(v)), side="right") - 1, 0, len(have) - 1)]
    idx = np.arange(len(v))
    pick = np.where(np.abs(prev - idx) <= np.abs(nearest - idx), prev, nearest)
    v = v[pick]
    if median_beats > 1:
        v = scipy.ndimage.median_filter(v, size=int(median_beats), mode="nearest")
    levels = levels_with_hysteresis(v, edges=edges, hysteresis=hysteresis)
    change = grid[1:][np.diff(levels) != 0]
    return DynamicsTargets(grid, v, levels, change)


# ------------------------------------------------------------------------------------------------ frame targets
def event_targets(times, n_frames: int, frame_rate: float, *, widen: int = 1) -> np.ndarray:
    """Per-frame target of sparse events: 1 at the nearest frame, ``1 - j / (widen + 1)`` at distance ``j``.

    Parameters
    ----------
    times : array-like, shape (n_events,), seconds
    n_frames : int
    frame_rate : float
    widen : int
        Half-width in frames (0: one frame per event).

    Returns
    -------
    np.ndarray, shape (n_frames,), float32 in [0, 1]
    """
    y = np.zeros(int(n_frames), dtype=np.float32)
    if n_frames == 0:
        return y
    for t in np.asarray(times, dtype=np.float64):
        i = int(round(t * frame_rate))
        if i < 0 or i >= n_frames:
            continue
        for j in range(-widen, widen + 1):
            k = i + j
            if 0 <= k < n_frames:
                y[k] = max(y[k], 1.0 - abs(j) / (widen + 1))
    return y


@dataclass
class FrameTargets:
    """Targets of one clip. Times are seconds from the clip start, inside ``[0, duration)``.

    ``dynamics`` is ``None`` when the clip has no velocity information (the loss then ignores it).
    """

    duration: float
    beats: np.ndarray
    downbeats: np.ndarray
    dynamics: DynamicsTargets | None = None
    has_beats: bool = True

    @property
    def change_points(self) -> np.ndarray:
        return np.zeros(0) if self.dynamics is None else self.dynamics.change_points

    def arrays(self, n_frames: int, frame_rate: float) -> dict[str, np.ndarray]:
        """Per-frame targets: ``dynamics`` (n,) int64 (-1 unknown), ``beat``/``downbeat``/``change`` (n,) float32
        (all -1 = unknown when the clip has no beat annotations / no dynamics)."""
        dyn = np.full(n_frames, -1, dtype=np.int64)
        change = np.full(n_frames, -1.0, dtype=np.float32)
        if self.dynamics is not None:
            dyn = self.dynamics.frame_levels(n_frames, frame_rate)
            if self.dynamics.changes_known:
                change = event_targets(self.change_points, n_frames, frame_rate, widen=WIDEN["change"])
        if self.has_beats:
            beat = event_targets(self.beats, n_frames, frame_rate, widen=WIDEN["beat"])
            down = event_targets(self.downbeats, n_frames, frame_rate, widen=WIDEN["downbeat"])
        else:
            beat = np.full(n_frames, -1.0, dtype=np.float32)
            down = np.full(n_frames, -1.0, dtype=np.float32)
        return {"dynamics": dyn, "beat": beat, "downbeat": down, "change": change}


def _json_list(v) -> np.ndarray | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, str):
        v = v.strip()
        if not v:
            return None
        v = json.loads(v)
    return np.asarray(v, dtype=np.float64)


def _num(v) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def _resolve(p, base_dirs) -> Path | None:
    if p is None or (isinstance(p, float) and math.isnan(p)) or not str(p).strip():
        return None
    q = Path(str(p))
    if q.is_absolute():
        return q if q.exists() else None
    for b in base_dirs:
        if b is not None and (Path(b) / q).exists():
            return Path(b) / q
    return None


def targets_from_row(row: Mapping, *, duration: float, base_dirs=()) -> FrameTargets:
    """Targets of a manifest row (or a store recording's metadata).

    Uses, when present: ``beats`` / ``downbeats`` (JSON lists, seconds from the clip start), else ``annotations``
    (an ASAP annotation file) with ``t0``; for the derived dynamics ``midi`` (the performance MIDI, with ``t0``),
    else ``notes`` (a JSON file ``{"notes": [{"onset": s, "velocity": v, ...}]}`` as written by
    :func:`embedstore.synth.make_collection`, times from the clip start), else ``mean_velocity`` (one level for the
    whole clip, change points unknown). Relative file paths are looked up in ``base_dirs`` in order.
    """
    t0 = _num(row.get("t0")) or 0.0
    beats = _json_list(row.get("beats"))
    downbeats = _json_list(row.get("downbeats"))
    if beats is None:
        ann = _resolve(row.get("annotations"), base_dirs)
        if ann is not None:
            a = read_asap_annotations(ann)
            beats, downbeats = a.beats - t0, a.downbeats - t0
    has_beats = beats is not None
    beats = np.zeros(0) if beats is None else beats
    downbeats = np.zeros(0) if downbeats is None else downbeats
    beats = beats[(beats >= 0) & (beats < duration)]
    downbeats = downbeats[(downbeats >= 0) & (downbeats < duration)]
    dyn = None
    midi = _resolve(row.get("midi"), base_dirs)
    notes = _resolve(row.get("notes"), base_dirs)
    if midi is not None or notes is not None:
        on, vel = (
            read_note_onsets(midi, t0=t0, duration=duration) if midi is not None else read_notes_json(notes)
        )
        dyn = derive_dynamics(on, vel, duration=duration, beats=beats)
        if (dyn.levels < 0).all():
            dyn = None
    elif _num(row.get("mean_velocity")) is not None:
        grid = np.zeros(1)
        v = np.asarray([_num(row.get("mean_velocity"))])
        dyn = DynamicsTargets(grid, v, velocity_to_level(v), np.zeros(0), changes_known=False)
    return FrameTargets(float(duration), beats, downbeats, dyn, has_beats=has_beats)
