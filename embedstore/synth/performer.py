"""Performers of the synthetic collection: a consistent playing style (:func:`make_performer`).

Units: tempo in quarter notes per minute, dynamics in dB, velocities in MIDI units (1-127), timing in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from embedstore.synth.seeds import seeded_rng

__all__ = ["PERFORMER_NAMES", "Performer", "make_performer"]

#: Fake names of generated performers.
PERFORMER_NAMES = (
    "Arlen",
    "Brody",
    "Castell",
    "Dumont",
    "Eskel",
    "Farrow",
    "Galan",
    "Hollis",
    "Ivers",
    "Jansky",
)

#: Range of each style attribute drawn by :func:`make_performer`, in the order drawn.
STYLE_RANGES: dict[str, tuple[float, float]] = {
    "tempo_bpm": (84.0, 132.0),
    "rubato": (0.0, 1.0),
    "dynamics_db_range": (4.0, 22.0),
    "base_velocity": (45.0, 95.0),
    "articulation": (0.0, 1.0),
    "timing_jitter_s": (0.004, 0.03),
}


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
    """A deterministic performer for ``(code, seed)``; any attribute can be fixed by keyword.

    Parameters
    ----------
    code : str
        The performer code.
    seed : int, optional
        Together with ``code`` fixes every drawn attribute; ``None`` means 0.
    tempo_bpm, base_velocity, dynamics_db_range, rubato, articulation, timing_jitter_s : float, optional
        Fix an attribute (see :class:`Performer`) instead of drawing it from :data:`STYLE_RANGES`.

    Returns
    -------
    Performer
    """
    rng = seeded_rng(0 if seed is None else int(seed), "performer", code)
    drawn = {name: float(rng.uniform(lo, hi)) for name, (lo, hi) in STYLE_RANGES.items()}
    fixed = (tempo_bpm, rubato, dynamics_db_range, base_velocity, articulation, timing_jitter_s)
    for name, value in zip(STYLE_RANGES, fixed):
        if value is not None:
            drawn[name] = float(value)
    return Performer(performer_code=code, **drawn)
