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

Modules
    - :mod:`~embedstore.synth.seeds`       seeded generators (CRC-32 of names)
    - :mod:`~embedstore.synth.score`       :class:`Piece`, :func:`make_piece`
    - :mod:`~embedstore.synth.performer`   :class:`Performer`, :func:`make_performer`
    - :mod:`~embedstore.synth.tone`        the piano-like tone of one note
    - :mod:`~embedstore.synth.render`      :func:`render`: a piece as played by a performer
    - :mod:`~embedstore.synth.collection`  :func:`make_collection` (audio + manifest), :func:`write_bad_files`

What makes it useful for tests
    - The same piece played by different performers has the same pitch content (a similar chroma) at a
      different tempo, loudness and articulation.
    - A performer's style is consistent across pieces: tempo, mean loudness, dynamic range, articulation.
"""

from __future__ import annotations

from embedstore.synth.collection import MANIFEST_COLUMNS, make_collection, write_bad_files
from embedstore.synth.performer import Performer, make_performer
from embedstore.synth.render import render
from embedstore.synth.score import Piece, make_piece

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
