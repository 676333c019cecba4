"""Scores of the synthetic collection: short pieces, a melody over bass and chords (:func:`make_piece`).

Units: score time in beats (quarter notes); MIDI pitch numbers (60 = middle C); accents in [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from embedstore.errors import ConfigError
from embedstore.synth.seeds import crc32, seeded_rng

__all__ = ["COMPOSERS", "Piece", "make_piece"]

#: Fake composer names of generated pieces.
COMPOSERS = ("Albrecht", "Brunelli", "Castellane", "Dvorsky", "Esterhaz", "Fiorani", "Grunwald", "Halvorsen")

_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 11)  # harmonic minor
# four-bar progressions as scale degrees (0 = tonic)
_PROGRESSIONS = ((0, 3, 4, 0), (0, 5, 3, 4), (0, 4, 5, 3), (1, 4, 0, 0), (0, 3, 1, 4), (5, 3, 4, 0))
# one-beat melody rhythms (durations in beats) per density level
_RHYTHMS = {
    0: ((1.0,), (1.0,), (2.0,)),
    1: ((1.0,), (0.5, 0.5), (1.0,), (1.5, 0.5)),
    2: ((0.5, 0.5), (0.5, 0.5), (1.0,), (0.75, 0.25)),
    3: ((0.25, 0.25, 0.25, 0.25), (0.5, 0.25, 0.25), (0.5, 0.5), (0.25, 0.25, 0.5)),
}


@dataclass
class Piece:
    """A short score.

    ``notes`` holds ``(onset_beats, duration_beats, midi_pitch, accent)`` tuples sorted by onset; ``accent``
    in [0, 1] weights the note's loudness (melody and downbeats are accented).
    """

    piece_id: str
    notes: list[tuple[float, float, int, float]]
    beats_per_bar: int
    n_bars: int
    key: int = 0
    mode: str = "major"
    composer: str = ""
    title: str = ""
    tempo_factor: float = 1.0
    density: int = 1

    @property
    def n_beats(self) -> int:
        """Length of the score in beats (``beats_per_bar * n_bars``)."""
        return self.beats_per_bar * self.n_bars

    @property
    def difficulty(self) -> int:
        """1-9 from the note density (notes per beat) and the pitch range; deterministic per piece."""
        nps = len(self.notes) / max(1, self.n_beats)
        pitches = [n[2] for n in self.notes]
        span = (max(pitches) - min(pitches)) if pitches else 0
        score = 1.0 + 2.3 * (nps - 2.0) + max(0.0, span - 36) / 12.0
        return int(np.clip(round(score), 1, 9))

    def pitch_class_histogram(self) -> np.ndarray:
        """Duration-weighted pitch-class histogram, shape (12,), summing to 1 (index 0 = C)."""
        h = np.zeros(12)
        for _, dur, pitch, _ in self.notes:
            h[pitch % 12] += dur
        return h / max(h.sum(), 1e-12)


def make_piece(piece_id: str, *, n_bars: int = 8, seed: int | None = None) -> Piece:
    """A deterministic short piece: melody over bass and chords, in a random key, mode and metre.

    Parameters
    ----------
    piece_id : str
        ``"Composer/Title"`` sets the (fake) composer; any other string gets one drawn from it.
    n_bars : int
        Number of bars (>= 1).
    seed : int, optional
        Together with ``piece_id`` fixes everything; ``None`` means 0.

    Returns
    -------
    Piece
        Ends with a V - I cadence and a long tonic.

    Raises
    ------
    ConfigError
        For ``n_bars < 1``.
    """
    if n_bars < 1:
        raise ConfigError(f"n_bars must be >= 1, got {n_bars}")
    rng = seeded_rng(0 if seed is None else int(seed), "piece", piece_id)
    if "/" in piece_id:
        composer, title = piece_id.split("/", 1)
    else:
        composer, title = COMPOSERS[crc32(piece_id) % len(COMPOSERS)], piece_id
    key = int(rng.integers(12))
    mode = "major" if rng.random() < 0.6 else "minor"
    scale = _MAJOR if mode == "major" else _MINOR
    bpb = 4 if rng.random() < 0.7 else 3
    density = int(rng.integers(4))
    tempo_factor = float(rng.uniform(0.88, 1.12))
    alberti = density >= 2 and rng.random() < 0.75

    def degree_pitch(deg: int, octave_base: int) -> int:
        o, d = divmod(deg, 7)
        return octave_base + key + 12 * o + scale[d]

    prog: list[int] = []
    while len(prog) < n_bars:
        prog.extend(_PROGRESSIONS[int(rng.integers(len(_PROGRESSIONS)))])
    prog = prog[:n_bars]
    if n_bars >= 2:
        prog[-2], prog[-1] = 4, 0  # cadence V - I

    notes: list[tuple[float, float, int, float]] = []
    # melody: a bar-level motif (rhythm) that repeats every 4 bars with variation in pitch
    motif = [
        [_RHYTHMS[density][int(rng.integers(len(_RHYTHMS[density])))] for _ in range(bpb)] for _ in range(4)
    ]
    mel_deg = 7 + int(rng.integers(0, 5))  # scale degree index relative to C4-ish octave base 60
    for bar in range(n_bars):
        chord = prog[bar]
        chord_degs = {chord % 7, (chord + 2) % 7, (chord + 4) % 7}
        beat = 0
        while beat < bpb:
            rhythm = motif[bar % 4][beat]
            if beat + sum(rhythm) > bpb:
                rhythm = (1.0,)
            if bar == n_bars - 1:  # final bar: one long tonic
                rhythm = (float(bpb - beat),)
            t = float(bar * bpb + beat)
            for i, dur in enumerate(rhythm):
                strong = i == 0
                step = int(rng.choice((-2, -1, -1, 1, 1, 2, 0, 3, -3)))
                cand = mel_deg + step
                if strong:  # prefer chord tones on the beat
                    for s in (0, 1, -1, 2, -2):
                        if (cand + s) % 7 in chord_degs:
                            cand += s
                            break
                if bar == n_bars - 1:
                    cand = 7 if mel_deg < 11 else 14
                mel_deg = int(np.clip(cand, 5, 17))
                accent = 1.0 if (beat == 0 and strong) else (0.8 if strong else 0.6)
                notes.append((float(t), float(dur), degree_pitch(mel_deg, 60 - 12), accent))
                t += dur
            beat += max(1, int(math.ceil(sum(rhythm) - 1e-9)))
        # accompaniment
        root = degree_pitch(chord, 36)
        bar_t = float(bar * bpb)
        notes.append((bar_t, float(bpb), root, 0.5))  # bass, held for the bar
        triad = [degree_pitch(chord + k, 48) for k in (0, 2, 4)]
        if alberti and bar < n_bars - 1:
            pattern = (triad[0], triad[2], triad[1], triad[2])
            for j in range(bpb * 2):
                notes.append((bar_t + 0.5 * j, 0.5, pattern[j % 4], 0.25 if j % 2 else 0.35))
        else:
            hits: tuple[int, ...] = (0, 2) if bpb == 4 else (0,)
            if density >= 1 and bpb == 3:
                hits = (0, 1, 2)
            for h in hits:
                d = float(bpb - h) if h == hits[-1] else float(hits[hits.index(h) + 1] - h)
                for pitch in triad:
                    notes.append((bar_t + h, d, pitch, 0.3 if h else 0.4))
    notes.sort(key=lambda n: (n[0], n[2]))
    return Piece(
        piece_id=piece_id,
        notes=notes,
        beats_per_bar=bpb,
        n_bars=n_bars,
        key=key,
        mode=mode,
        composer=composer,
        title=title,
        tempo_factor=tempo_factor,
        density=density,
    )
