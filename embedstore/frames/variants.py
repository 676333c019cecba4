"""Tempo- and velocity-scaled variants of a performance (extra training audio for the frame models).

A :class:`Variant` ``tX`` divides every time by ``X`` (notes, pedals, annotated beats; ``t1.2`` plays 1.2x faster);
``vX`` multiplies every note velocity by ``X`` (rounded, clipped to 1-127), so the dynamics targets derived from the
MIDI velocities (:mod:`embedstore.frames.targets`) follow the louder / softer audio. :func:`scale_midi` and
:func:`scale_annotations` write the scaled files; :func:`choose_start` draws a bar-aligned excerpt start.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embedstore.errors import ConfigError


@dataclass(frozen=True)
class Variant:
    """A MIDI variant: ``tempo`` divides every time, ``velocity`` multiplies every note velocity."""

    name: str
    tempo: float = 1.0
    velocity: float = 1.0


def parse_variant(name: str) -> Variant:
    """``orig``, ``t<factor>`` (tempo) or ``v<factor>`` (velocity), e.g. ``t0.85``, ``v1.2``."""
    if name == "orig":
        return Variant("orig")
    try:
        x = float(name[1:])
    except ValueError:
        x = float("nan")
    if name[:1] not in ("t", "v") or not x > 0:
        raise ConfigError(f"bad variant {name!r}", hint="use orig, t<factor> or v<factor>, e.g. t0.85, v1.2")
    return Variant(name, tempo=x) if name[0] == "t" else Variant(name, velocity=x)


def scale_velocity(v, factor: float) -> np.ndarray:
    """MIDI velocities times ``factor``, rounded and clipped to 1-127."""
    return np.clip(np.round(np.asarray(v, dtype=np.float64) * factor), 1, 127).astype(int)


def scale_midi(src, dst, variant: Variant) -> None:
    """Write ``src`` with every note/pedal time divided by ``variant.tempo`` and every velocity scaled."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(str(src))
    out = pretty_midi.PrettyMIDI(resolution=1920, initial_tempo=120.0)
    for ins in pm.instruments:
        new = pretty_midi.Instrument(program=ins.program, is_drum=ins.is_drum, name=ins.name)
        for n in ins.notes:
            v = int(scale_velocity([n.velocity], variant.velocity)[0])
            new.notes.append(pretty_midi.Note(v, n.pitch, n.start / variant.tempo, n.end / variant.tempo))
        for c in ins.control_changes:
            new.control_changes.append(pretty_midi.ControlChange(c.number, c.value, c.time / variant.tempo))
        out.instruments.append(new)
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    out.write(str(dst))


def scale_annotations(src, dst, tempo: float) -> None:
    """Copy an ASAP annotation file (``time<TAB>time<TAB>label``) with both times divided by ``tempo``."""
    lines = []
    for line in Path(src).read_text().splitlines():
        p = line.split("\t")
        if len(p) >= 3:
            p[0], p[1] = f"{float(p[0]) / tempo:.6f}", f"{float(p[1]) / tempo:.6f}"
        lines.append("\t".join(p))
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    Path(dst).write_text("\n".join(lines) + "\n")


def choose_start(downbeats, end: float, length: float, rng) -> tuple[float, float]:
    """A random downbeat that leaves ``length`` seconds before ``end`` (else the first one) and the excerpt's
    duration (``length``, or less when the music ends first)."""
    db = np.asarray(downbeats, dtype=np.float64)
    ok = np.flatnonzero(db <= end - length)
    t0 = float(db[rng.choice(ok)] if len(ok) else db[0])
    return t0, float(min(length, end - t0))
