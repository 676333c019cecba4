"""A synthetic collection of piano-like performances, so that the project runs without ``../shared``.

Task
    Generate short pieces (a melody over bass and chords, in a random key and metre), performers (tempo,
    rubato, dynamics, articulation, timing jitter) and render every piece by every performer with an
    additive piano-like tone. The collection is labelled like the shared development data (manifest with
    piece, performer, tempo, beats, downbeats, mean velocity, difficulty and a rating column).

Units and conventions
    - Score time is in beats (quarter notes); performance time is in seconds.
    - MIDI pitch numbers (60 = middle C, 69 = A4 = 440 Hz) and MIDI velocities (1-127).
    - Loudness follows velocity: amplitude ~ (velocity / 127) ** 2, i.e. 40 * log10(velocity / 127) dB.
      Nothing is normalised, so louder playing gives louder audio.
    - Everything is deterministic for a seed (``numpy.random.default_rng`` seeded from the seed and a
      CRC-32 of the piece id / performer code; never Python's salted ``hash``).

What makes it useful for tests
    - The same piece played by different performers has the same pitch content (a similar chroma) at a
      different tempo, loudness and articulation.
    - A performer's style is consistent across pieces: tempo, mean loudness, dynamic range, articulation.
"""

from __future__ import annotations

import csv
import functools
import json
import math
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embedstore.errors import check_choice

__all__ = [
    "Piece",
    "Performer",
    "make_piece",
    "make_performer",
    "render",
    "make_collection",
    "write_bad_files",
    "MANIFEST_COLUMNS",
]

#: Columns of the manifest written by :func:`make_collection`, in order.
MANIFEST_COLUMNS = (
    "clip_id",
    "audio",
    "piece_id",
    "composer",
    "title",
    "performer_code",
    "tempo_bpm",
    "mean_velocity",
    "dur",
    "beats",
    "downbeats",
    "difficulty",
    "rating_dynamics",
    "notes",
)

_COMPOSERS = ("Albrecht", "Brunelli", "Castellane", "Dvorsky", "Esterhaz", "Fiorani", "Grunwald", "Halvorsen")
_PERFORMERS = ("Arlen", "Brody", "Castell", "Dumont", "Eskel", "Farrow", "Galan", "Hollis", "Ivers", "Jansky")

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


def _crc(s: str) -> int:
    return zlib.crc32(s.encode("utf-8")) & 0xFFFFFFFF


def _rng(*parts) -> np.random.Generator:
    seq = [p if isinstance(p, int) else _crc(str(p)) for p in parts]
    return np.random.default_rng([abs(int(s)) for s in seq])


# --------------------------------------------------------------------------------------------------
# pieces


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
    """
    if n_bars < 1:
        from embedstore.errors import ConfigError

        raise ConfigError(f"n_bars must be >= 1, got {n_bars}")
    rng = _rng(0 if seed is None else int(seed), "piece", piece_id)
    if "/" in piece_id:
        composer, title = piece_id.split("/", 1)
    else:
        composer, title = _COMPOSERS[_crc(piece_id) % len(_COMPOSERS)], piece_id
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
            t = bar * bpb + beat
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
            hits = (0, 2) if bpb == 4 else (0,)
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


# --------------------------------------------------------------------------------------------------
# performers


@dataclass
class Performer:
    """A performing style.

    Attributes
    ----------
    performer_code : str
    tempo_bpm : float
        Basic tempo (quarter notes per minute), multiplied by the piece's ``tempo_factor``.
    rubato : float
        0 (metronomic) to 1 (strong phrase-level tempo bending).
    dynamics_db_range : float
        Peak-to-peak size of the phrase-level crescendi/diminuendi, dB.
    base_velocity : float
        Mean MIDI velocity (sets the overall loudness).
    articulation : float
        0 (staccato: notes held ~30% of their value) to 1 (legato: slightly overlapping).
    timing_jitter_s : float
        Standard deviation of random onset deviations, seconds.
    """

    performer_code: str
    tempo_bpm: float
    rubato: float
    dynamics_db_range: float
    base_velocity: float
    articulation: float
    timing_jitter_s: float


def make_performer(
    code: str,
    *,
    seed: int | None = None,
    tempo_bpm: float | None = None,
    base_velocity: float | None = None,
    dynamics_db_range: float | None = None,
    rubato: float | None = None,
    articulation: float | None = None,
    timing_jitter_s: float | None = None,
) -> Performer:
    """A deterministic performer for ``(code, seed)``; any attribute can be fixed by keyword."""
    rng = _rng(0 if seed is None else int(seed), "performer", code)
    drawn = dict(
        tempo_bpm=float(rng.uniform(84.0, 132.0)),
        rubato=float(rng.uniform(0.0, 1.0)),
        dynamics_db_range=float(rng.uniform(4.0, 22.0)),
        base_velocity=float(rng.uniform(45.0, 95.0)),
        articulation=float(rng.uniform(0.0, 1.0)),
        timing_jitter_s=float(rng.uniform(0.004, 0.03)),
    )
    given = dict(
        tempo_bpm=tempo_bpm,
        rubato=rubato,
        dynamics_db_range=dynamics_db_range,
        base_velocity=base_velocity,
        articulation=articulation,
        timing_jitter_s=timing_jitter_s,
    )
    for k, v in given.items():
        if v is not None:
            drawn[k] = float(v)
    return Performer(performer_code=code, **drawn)


# --------------------------------------------------------------------------------------------------
# rendering


def _vel_to_db(v):
    return 40.0 * np.log10(np.clip(v, 1.0, 127.0) / 127.0)


def _db_to_vel(db):
    return np.clip(127.0 * 10.0 ** (np.asarray(db) / 40.0), 1.0, 127.0)


def _smooth_noise(rng: np.random.Generator, n: int, rho: float = 0.7) -> np.ndarray:
    e = rng.standard_normal(n)
    out = np.empty(n)
    acc = 0.0
    for i in range(n):
        acc = rho * acc + math.sqrt(1 - rho * rho) * e[i]
        out[i] = acc
    return out


_BANK_S = 2.0  # cached length of each key's partials; longer notes are synthesised directly
_N_PARTIALS = 10


def _tau1(pitch: int) -> float:
    """Decay time constant of the fundamental, seconds: long in the bass, short in the treble."""
    return float(np.clip(5.0 * 2.0 ** (-(pitch - 36) / 16.0), 0.25, 6.0))


def _partials(pitch: int, sr: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Decaying inharmonic partials of one key, shape (partials, length), float32, plus partial numbers.

    Stretched partials ``f_k = k f0 sqrt(1 + B k^2)`` with B growing towards the treble; each partial decays
    exponentially, faster for higher keys and higher partials. Phases are fixed per key (like a sampler).
    """
    f0 = 440.0 * 2.0 ** ((pitch - 69) / 12.0)
    b_inh = 1.2e-4 * 2.0 ** ((pitch - 48) / 18.0)
    k = np.arange(1, _N_PARTIALS + 1, dtype=np.float64)
    fk = k * f0 * np.sqrt(1.0 + b_inh * k * k)
    keep = fk < 0.45 * sr
    k, fk = k[keep], fk[keep]
    if k.size == 0:
        k, fk = np.array([1.0]), np.array([min(f0, 0.45 * sr)])
    tauk = _tau1(pitch) / (1.0 + 0.35 * (k - 1.0) * (1.0 + f0 / 1500.0))
    t = np.arange(length, dtype=np.float64) / sr
    phase = np.random.default_rng(pitch).uniform(0, 2 * np.pi, size=k.size)
    bank = np.exp(-np.outer(1.0 / tauk, t)) * np.sin(np.outer(2 * np.pi * fk, t) + phase[:, None])
    att = max(1, int(0.002 * sr))
    bank[:, :att] *= np.linspace(0.0, 1.0, min(att, length), endpoint=False)
    return bank.astype(np.float32), k


@functools.lru_cache(maxsize=48)
def _partial_bank(pitch: int, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_partials` for the first ``_BANK_S`` seconds (or until -43 dB), cached per key (~2 MB each)."""
    bank, k = _partials(pitch, sr, int(min(_BANK_S, 5.0 * _tau1(pitch)) * sr))
    bank.setflags(write=False)
    return bank, k


def _tone(
    pitch: int, velocity: float, length: int, hold: int, sr: int, rng: np.random.Generator
) -> np.ndarray:
    """One piano-like note of ``length`` samples: partials weighted by a velocity-dependent spectral tilt
    (louder = brighter), a damper release after ``hold`` samples and a short hammer knock."""
    bank, k = _partial_bank(int(pitch), int(sr))
    natural = int(5.0 * _tau1(pitch) * sr)  # the fundamental has decayed by 43 dB
    if length > bank.shape[1] and natural > bank.shape[1]:  # a long held note
        bank, k = _partials(int(pitch), int(sr), min(length, natural))
    v = velocity / 127.0
    ak = k ** -(1.6 - 1.0 * v)
    ak[1::2] *= 0.8
    ak /= np.sqrt(np.sum(ak * ak))  # unit power: brightness changes the timbre, not the level
    n = min(length, bank.shape[1])
    y = np.zeros(length, dtype=np.float64)
    y[:n] = ak.astype(np.float32) @ bank[:, :n]
    if hold < length:  # damper: fast release after the key is let go
        y[hold:] *= np.exp(-np.arange(length - hold) / (0.07 * sr))
    nk = min(length, int(0.006 * sr))
    y[:nk] += 0.08 * v * rng.standard_normal(nk) * np.exp(-np.arange(nk) / (0.0015 * sr))
    return y


def render(
    piece: Piece, performer: Performer, *, sample_rate: int = 22050, seed: int = 0
) -> tuple[np.ndarray, dict]:
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
    rng = _rng(int(seed), "render", piece.piece_id, performer.performer_code)
    bpb = piece.beats_per_bar
    n_beats = piece.n_beats
    phrase = 4 * bpb
    extra = 8  # beats beyond the score, for note ends past the last barline

    # tempo map: phrase arcs (push in the middle, ritardando at the end) + smooth noise, scaled by rubato
    j = np.arange(n_beats + extra, dtype=np.float64)
    u = (j % phrase) / phrase
    ritard = np.clip((u - 0.75) / 0.25, 0, 1) ** 2
    shape = 1.6 * ritard - 0.5 * np.sin(np.pi * u)
    r = performer.rubato * (0.12 * shape + 0.05 * _smooth_noise(rng, j.size))
    beat_dur = 60.0 / (performer.tempo_bpm * piece.tempo_factor) * np.exp(r)
    beat_times = np.concatenate([[0.0], np.cumsum(beat_dur)])
    beat_idx = np.arange(beat_times.size, dtype=np.float64)

    # dynamics: crescendo to ~60% of each phrase then diminuendo, a random level per phrase, accents
    base_db = float(_vel_to_db(performer.base_velocity))
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
    velocity = _db_to_vel(levels)
    levels = _vel_to_db(velocity)

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
        y[start : start + length] += amp * _tone(int(pitch), float(velocity[i]), length, hold, sr, rng)
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


# --------------------------------------------------------------------------------------------------
# collections


def make_collection(
    out_dir,
    *,
    n_pieces: int = 4,
    n_performers: int = 3,
    n_bars: int = 8,
    sample_rate: int = 22050,
    seed: int = 0,
    fmt: str = "flac",
) -> Path:
    """Render every piece by every performer and write ``audio/<clip_id>.<fmt>`` and ``manifest.csv``.

    Parameters
    ----------
    out_dir : str or Path
        Created if needed; existing files with the same names are overwritten.
    n_pieces, n_performers, n_bars : int
    sample_rate : int
    seed : int
    fmt : {'flac', 'wav'}
        16-bit mono files.

    Returns
    -------
    Path
        The manifest (``out_dir/manifest.csv``). Columns: see :data:`MANIFEST_COLUMNS`; ``audio`` and
        ``notes`` (a JSON file with the rendered notes) are relative to the manifest's folder, ``beats``
        and ``downbeats`` are JSON lists of seconds, ``rating_dynamics`` in [0, 1] grows with the
        performance's dynamic range.
    """
    import soundfile as sf

    check_choice("fmt", fmt, ("flac", "wav"))
    out = Path(out_dir)
    (out / "audio").mkdir(parents=True, exist_ok=True)
    (out / "notes").mkdir(parents=True, exist_ok=True)
    rng = _rng(int(seed), "collection")
    # stratified draws so that performers clearly differ in tempo and loudness
    tempo_slots = rng.permutation(n_performers)
    vel_slots = rng.permutation(n_performers)
    dyn_slots = rng.permutation(n_performers)
    performers = []
    for i in range(n_performers):
        code = _PERFORMERS[i % len(_PERFORMERS)] + (
            "" if i < len(_PERFORMERS) else str(i // len(_PERFORMERS))
        )
        performers.append(
            make_performer(
                code,
                seed=seed,
                tempo_bpm=88.0 + 40.0 * (tempo_slots[i] + rng.uniform(0.2, 0.8)) / n_performers,
                base_velocity=48.0 + 44.0 * (vel_slots[i] + rng.uniform(0.2, 0.8)) / n_performers,
                dynamics_db_range=4.0 + 18.0 * (dyn_slots[i] + rng.uniform(0.2, 0.8)) / n_performers,
            )
        )
    rows = []
    for pi in range(n_pieces):
        composer = _COMPOSERS[(pi // 2) % len(_COMPOSERS)]
        piece = make_piece(f"{composer}/Piece_{pi + 1:02d}", n_bars=n_bars, seed=seed)
        for perf in performers:
            clip_id = f"{piece.composer}__{piece.title}__{perf.performer_code}"
            y, ann = render(piece, perf, sample_rate=sample_rate, seed=seed)
            rel_audio = f"audio/{clip_id}.{fmt}"
            sf.write(str(out / rel_audio), y, sample_rate, subtype="PCM_16", format=fmt.upper())
            rel_notes = f"notes/{clip_id}.json"
            (out / rel_notes).write_text(json.dumps({"clip_id": clip_id, "notes": ann["notes"]}))
            rows.append(
                {
                    "clip_id": clip_id,
                    "audio": rel_audio,
                    "piece_id": piece.piece_id,
                    "composer": piece.composer,
                    "title": piece.title,
                    "performer_code": perf.performer_code,
                    "tempo_bpm": ann["tempo_bpm"],
                    "mean_velocity": ann["mean_velocity"],
                    "dur": round(len(y) / sample_rate, 4),
                    "beats": json.dumps(ann["beats"]),
                    "downbeats": json.dumps(ann["downbeats"]),
                    "difficulty": piece.difficulty,
                    "rating_dynamics": round(
                        float(np.clip((ann["dynamics_range_db"] - 4.0) / 24.0, 0.0, 1.0)), 4
                    ),
                    "notes": rel_notes,
                }
            )
    _partial_bank.cache_clear()  # release the cached partials (tens of MB)
    manifest = out / "manifest.csv"
    with open(manifest, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(MANIFEST_COLUMNS))
        w.writeheader()
        w.writerows(rows)
    return manifest


def write_bad_files(folder) -> dict[str, str]:
    """Write files that :func:`embedstore.audio.load_audio` must refuse; return ``{file name: reason}``.

    ``corrupt.flac`` (garbage over the middle of a real FLAC), ``empty.wav`` (0 bytes), ``notes.wav`` (a
    text file), ``truncated.wav`` (the header declares twice the frames present), ``silent.wav`` (zeros).
    """
    import soundfile as sf

    d = Path(folder)
    d.mkdir(parents=True, exist_ok=True)
    sr = 22050
    t = np.arange(2 * sr) / sr
    tone = (0.3 * np.sin(2 * np.pi * 440.0 * t) * np.exp(-t)).astype(np.float32)

    sf.write(str(d / "corrupt.flac"), tone, sr, subtype="PCM_16")
    raw = bytearray((d / "corrupt.flac").read_bytes())
    mid = len(raw) // 2
    garbage = np.random.default_rng(0).integers(0, 256, size=min(2000, len(raw) // 3), dtype=np.uint8)
    raw[mid : mid + garbage.size] = garbage.tobytes()
    (d / "corrupt.flac").write_bytes(bytes(raw))

    (d / "empty.wav").write_bytes(b"")
    (d / "notes.wav").write_text("These are my notes about the recital, not a recording.\n")

    sf.write(str(d / "truncated.wav"), tone, sr, subtype="PCM_16")
    raw = (d / "truncated.wav").read_bytes()
    (d / "truncated.wav").write_bytes(raw[: 44 + (len(raw) - 44) // 2])

    sf.write(str(d / "silent.wav"), np.zeros(sr, dtype=np.float32), sr, subtype="PCM_16")
    return {
        "corrupt.flac": "corrupt",
        "empty.wav": "empty",
        "notes.wav": "not_audio",
        "truncated.wav": "truncated",
        "silent.wav": "silent",
    }
