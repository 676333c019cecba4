"""Rendering a piece as played by a performer (:func:`render`): tempo map, dynamics, timing, articulation.

Units: performance time in seconds, score time in beats, levels in dB, MIDI velocities. Nothing is normalised,
so louder playing gives louder audio; the peak stays below 1.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from embedstore import config
from embedstore.synth.performer import Performer
from embedstore.synth.score import Piece
from embedstore.synth.seeds import seeded_rng
from embedstore.synth.tone import db_to_velocity, smooth_noise, tone, velocity_to_db

__all__ = ["render"]


def render(
    piece: Piece, performer: Performer, *, sample_rate: int = config.DEFAULT_SAMPLE_RATE, seed: int = 0
) -> tuple[np.ndarray, dict[str, Any]]:
    """Render a piece as played by a performer.

    Parameters
    ----------
    piece : Piece
    performer : Performer
    sample_rate : int
    seed : int
        Fixes the performance details (timing jitter, tempo/dynamics noise, partial phases).

    Returns
    -------
    audio : np.ndarray, shape (n,), float32
        Mono, unnormalised (level follows the velocities), peak below 1.
    annotations : dict
        ``beats`` and ``downbeats`` (lists of seconds), ``notes`` (list of dicts with ``onset``, ``offset``
        (s), ``pitch``, ``velocity``), ``mean_velocity``, ``tempo_bpm`` (effective, from the beats),
        ``dynamics_range_db`` (5-95 percentile spread of the note levels), ``duration_s``, ``sample_rate``.
    """
    sr = int(sample_rate)
    rng = seeded_rng(int(seed), "render", piece.piece_id, performer.performer_code)
    bpb = piece.beats_per_bar
    n_beats = piece.n_beats
    phrase = 4 * bpb
    extra = 8  # beats beyond the score, for note ends past the last barline

    # tempo map: phrase arcs (push in the middle, ritardando at the end) + smooth noise, scaled by rubato
    j = np.arange(n_beats + extra, dtype=np.float64)
    u = (j % phrase) / phrase
    ritard = np.clip((u - 0.75) / 0.25, 0, 1) ** 2
    shape = 1.6 * ritard - 0.5 * np.sin(np.pi * u)
    r = performer.rubato * (0.12 * shape + 0.05 * smooth_noise(rng, j.size))
    beat_dur = 60.0 / (performer.tempo_bpm * piece.tempo_factor) * np.exp(r)
    beat_times = np.concatenate([[0.0], np.cumsum(beat_dur)])
    beat_idx = np.arange(beat_times.size, dtype=np.float64)

    # dynamics: crescendo to ~60% of each phrase then diminuendo, a random level per phrase, accents
    base_db = float(velocity_to_db(performer.base_velocity))
    rng_dyn = rng.uniform(-0.35, 0.35, size=n_beats // phrase + 2)
    half = performer.dynamics_db_range / 2.0

    def level_db(beat_pos: float) -> float:
        ph = int(beat_pos // phrase)
        uu = (beat_pos % phrase) / phrase
        arc = np.sin(np.pi * min(1.0, uu / 1.2)) * 2.0 - 1.0
        return base_db + half * (0.7 * arc + rng_dyn[ph])

    hold_factor = 0.3 + 0.75 * performer.articulation
    n_notes = len(piece.notes)
    onsets_b = np.array([n[0] for n in piece.notes])
    durs_b = np.array([n[1] for n in piece.notes])
    onset_s = np.interp(onsets_b, beat_idx, beat_times) + rng.normal(0.0, performer.timing_jitter_s, n_notes)
    onset_s = np.maximum(onset_s, 0.0)
    end_s = np.interp(onsets_b + durs_b * hold_factor, beat_idx, beat_times)
    end_s = np.maximum(end_s, onset_s + 0.04)
    accent_db = 2.0 + 0.2 * performer.dynamics_db_range
    levels = np.array(
        [
            level_db(b) + accent_db * (a - 0.5) + rng.normal(0.0, 1.0)
            for b, a in zip(onsets_b, (n[3] for n in piece.notes))
        ]
    )
    velocity = db_to_velocity(levels)
    levels = velocity_to_db(velocity)

    total = int(math.ceil((end_s.max() + 1.0) * sr)) if n_notes else sr
    y = np.zeros(total, dtype=np.float64)
    gain = 0.075
    notes_out = []
    for i, (_, _, pitch, _) in enumerate(piece.notes):
        start = int(round(onset_s[i] * sr))
        hold = max(1, int(round((end_s[i] - onset_s[i]) * sr)))
        length = min(total - start, hold + int(0.4 * sr))
        if length <= 0:
            continue
        amp = gain * 10.0 ** (levels[i] / 20.0)
        y[start : start + length] += amp * tone(int(pitch), float(velocity[i]), length, hold, sr, rng)
        notes_out.append(
            {
                "onset": round(float(onset_s[i]), 4),
                "offset": round(float(end_s[i]), 4),
                "pitch": int(pitch),
                "velocity": int(round(float(velocity[i]))),
            }
        )
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > 0.98:  # never clip; only very loud dense passages get here
        y *= 0.98 / peak
    beats = beat_times[:n_beats]
    p5, p95 = np.percentile(levels, [5, 95]) if n_notes else (0.0, 0.0)
    ann = {
        "beats": [round(float(b), 4) for b in beats],
        "downbeats": [round(float(b), 4) for b in beats[::bpb]],
        "notes": notes_out,
        "mean_velocity": round(float(np.mean(velocity)), 2) if n_notes else 0.0,
        "tempo_bpm": round(60.0 * (n_beats - 1) / float(beats[-1] - beats[0]), 2) if n_beats > 1 else 0.0,
        "dynamics_range_db": round(float(p95 - p5), 2),
        "duration_s": round(total / sr, 4),
        "sample_rate": sr,
    }
    return y.astype(np.float32), ann
