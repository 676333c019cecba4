"""Readers of the annotations behind frame targets: ASAP beat/downbeat annotation files
(:func:`read_asap_annotations`) and note onsets with velocities from MIDI or JSON (:func:`read_note_onsets`,
:func:`read_notes_json`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from embedstore.errors import ConfigError

#: Onsets this much before ``t0`` still belong to a clip (the rendering rule), seconds.
LEAD_IN_S = 0.05


@dataclass
class BeatAnnotations:
    """Beats and downbeats (seconds, in the file's time line) and the time signatures found in the labels."""

    beats: np.ndarray
    downbeats: np.ndarray
    time_signatures: list[tuple[float, str]] = field(default_factory=list)


def read_asap_annotations(path) -> BeatAnnotations:
    """Read an ASAP annotation file (Audacity labels: ``time<TAB>time<TAB>label``).

    ``b`` / ``bR`` are beats, ``db`` a downbeat (also a beat); a time signature and key may follow after commas
    (``db,3/4,-2``).
    """
    beats, downbeats, sigs = [], [], []
    p = Path(path)
    for ln, line in enumerate(p.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) < 3:
            raise ConfigError(f"{p}:{ln}: expected 'time<TAB>time<TAB>label', got {line!r}")
        t = float(parts[0])
        fields = parts[2].strip().split(",")
        kind = fields[0]
        if kind not in ("b", "db", "bR"):
            continue
        beats.append(t)
        if kind == "db":
            downbeats.append(t)
        if len(fields) > 1 and "/" in fields[1]:
            sigs.append((t, fields[1]))
    return BeatAnnotations(np.asarray(beats, dtype=np.float64), np.asarray(downbeats, dtype=np.float64), sigs)


def read_note_onsets(
    midi_path, *, t0: float = 0.0, duration: float | None = None, lead_in: float = LEAD_IN_S
) -> tuple[np.ndarray, np.ndarray]:
    """Onset times (seconds from ``t0``) and velocities of all notes of a MIDI file inside an excerpt.

    Notes of all instruments are merged; a note belongs to ``[t0, t0 + duration)`` when its onset lies in
    ``[t0 - lead_in, t0 + duration)`` (onsets before ``t0`` are moved to 0).

    Returns
    -------
    onsets : np.ndarray, shape (n,), float64, sorted
    velocities : np.ndarray, shape (n,), float64
    """
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(str(midi_path))
    t1 = math.inf if duration is None else t0 + duration
    on, vel = [], []
    for ins in pm.instruments:
        for n in ins.notes:
            if t0 - lead_in <= n.start < t1:
                on.append(max(n.start - t0, 0.0))
                vel.append(n.velocity)
    order = np.argsort(on, kind="stable")
    return np.asarray(on, dtype=np.float64)[order], np.asarray(vel, dtype=np.float64)[order]


def read_notes_json(path) -> tuple[np.ndarray, np.ndarray]:
    """Onsets (seconds) and velocities from a notes JSON file (``{"notes": [{"onset", "velocity"}, ...]}`` or a
    bare list of such dicts)."""
    data = json.loads(Path(path).read_text())
    notes = data["notes"] if isinstance(data, dict) else data
    on = np.asarray([float(n["onset"]) for n in notes], dtype=np.float64)
    vel = np.asarray([float(n["velocity"]) for n in notes], dtype=np.float64)
    order = np.argsort(on, kind="stable")
    return on[order], vel[order]


# ------------------------------------------------------------------------------------------------ dynamics
