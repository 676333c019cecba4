"""Synthetic training audio for the frame models (issue 14): the project's own generated pieces and performers
(:mod:`embedstore.synth`), rendered with the shared recipe (``../shared/tools/render.sh``: FluidR3_GM piano), so
the frame models see pieces, metres and tempi beyond asap-dev's.

Each piece (melody over bass and chords, random key and metre 2/3/4, ``--bars`` bars) is played by ``--performers``
performers drawn from :data:`embedstore.synth.performer.STYLE_RANGES`, except the tempo, drawn log-uniformly in
``--tempo`` (beats per minute; the beat is the notated quarter) so that the beat rate varies widely. The performed
notes (onsets, offsets, velocities: rubato, dynamics arcs, accents, timing jitter) are written as MIDI and rendered;
beats and downbeats come from the performance's tempo map. Piece ids are ``synth/<composer>/Piece_NN``: no piece of
``../shared``, so a cross-validation fold trains on all of them and tests on none
(:func:`embedstore.frames.crossval.cross_validate`).

Writes ``midi/``, ``audio/`` and ``manifest.csv`` (``clip_id``, ``audio``, ``midi``, ``t0`` = 0, ``dur``, ``beats``,
``downbeats``, ``piece_id``, ``performer_code``, ``tempo_bpm``, ``beats_per_bar``) under
``embedstore.config.cache_dir()/frames_train/<name>/`` (never the repository).

Usage::

    nice -n 10 python bench/frames_synth.py --pieces 40 --performers 3 --bars 32 --name synth
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from frames_renders import finish, write_manifest  # noqa: E402

#: Silence after the last note end, seconds (the soundfont's release).
TAIL_S = 1.5


def write_midi(notes: list[dict], path: Path) -> None:
    """One piano track with the performed notes (seconds, MIDI velocities)."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    piano = pretty_midi.Instrument(program=0)
    for n in notes:
        v = int(np.clip(round(n["velocity"]), 1, 127))
        piano.notes.append(pretty_midi.Note(v, int(n["pitch"]), float(n["onset"]), float(n["offset"])))
    pm.instruments.append(piano)
    path.parent.mkdir(parents=True, exist_ok=True)
    pm.write(str(path))


def build(folder, *, pieces: int, performers: int, bars: int, tempo: tuple[float, float], seed: int) -> Path:
    """Write the MIDI files and ``folder/manifest.csv``; returns the manifest."""
    from embedstore.synth.performer import PERFORMER_NAMES, make_performer
    from embedstore.synth.render import render as perform
    from embedstore.synth.score import COMPOSERS, make_piece
    from embedstore.synth.seeds import seeded_rng
    from embedstore.synth.tone import clear_cache

    folder = Path(folder)
    rng = seeded_rng(int(seed), "frames-synth")
    rows = []
    for pi in range(pieces):
        composer = COMPOSERS[pi % len(COMPOSERS)]
        piece = make_piece(f"{composer}/Piece_{pi + 1:02d}", n_bars=bars, seed=seed)
        for k in range(performers):
            code = f"{PERFORMER_NAMES[k % len(PERFORMER_NAMES)]}{pi:02d}"
            bpm = math.exp(rng.uniform(math.log(tempo[0]), math.log(tempo[1])))
            perf = make_performer(code, seed=seed, tempo_bpm=bpm / piece.tempo_factor)
            _, ann = perform(
                piece, perf, sample_rate=8000, seed=seed
            )  # the audio is not used: only the notes
            cid = f"synth__{piece.composer}__{piece.title}__{code}"
            midi = folder / "midi" / f"{cid}.mid"
            write_midi(ann["notes"], midi)
            dur = max(n["offset"] for n in ann["notes"]) + TAIL_S
            rows.append(
                {
                    "clip_id": cid,
                    "audio": f"audio/{cid}.flac",
                    "midi": str(midi),
                    "t0": "0.0",
                    "dur": f"{dur:.3f}",
                    "beats": json.dumps([round(float(b), 4) for b in ann["beats"] if b < dur]),
                    "downbeats": json.dumps([round(float(b), 4) for b in ann["downbeats"] if b < dur]),
                    "composer": f"synth {piece.composer}",
                    "title": piece.title,
                    "piece_id": f"synth/{piece.piece_id}",
                    "performer_code": code,
                    "tempo_bpm": round(float(ann["tempo_bpm"]), 2),
                    "beats_per_bar": piece.beats_per_bar,
                }
            )
        clear_cache()
    folder.mkdir(parents=True, exist_ok=True)
    return write_manifest(folder, rows)


def main(argv=None) -> int:
    from embedstore.config import cache_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pieces", type=int, default=40)
    ap.add_argument("--performers", type=int, default=3, help="performances of each piece")
    ap.add_argument("--bars", type=int, default=32)
    ap.add_argument(
        "--tempo", default="50,170", help="range of the beat rate, beats per minute (log-uniform)"
    )
    ap.add_argument("--name", default="synth", help="folder under cache_dir()/frames_train")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--no-render", action="store_true")
    a = ap.parse_args(argv)
    lo, hi = (float(x) for x in a.tempo.split(","))
    out = build(
        cache_dir() / "frames_train" / a.name,
        pieces=a.pieces,
        performers=a.performers,
        bars=a.bars,
        tempo=(lo, hi),
        seed=a.seed,
    )

    def meters(rows) -> str:
        bpb = sorted({r["beats_per_bar"] for r in rows})
        return f", beats per bar: { {m: sum(r['beats_per_bar'] == m for r in rows) for m in bpb} }"

    return finish(out, jobs=a.jobs, no_render=a.no_render, describe=meters)


if __name__ == "__main__":
    raise SystemExit(main())
