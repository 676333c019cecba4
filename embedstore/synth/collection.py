"""A rendered collection on disk (:func:`make_collection`) and files that must be refused (:func:`write_bad_files`).

The manifest is labelled like the shared development data: piece, performer, tempo, beats, downbeats, mean
velocity, difficulty and a rating column. Times are seconds; audio is 16-bit mono at ``sample_rate`` Hz.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from embedstore import config
from embedstore.errors import check_choice
from embedstore.synth.performer import PERFORMER_NAMES, make_performer
from embedstore.synth.render import render
from embedstore.synth.score import COMPOSERS, make_piece
from embedstore.synth.seeds import seeded_rng
from embedstore.synth.tone import clear_cache

__all__ = ["MANIFEST_COLUMNS", "make_collection", "write_bad_files"]

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


def make_collection(
    out_dir: str | os.PathLike,
    *,
    n_pieces: int = 4,
    n_performers: int = 3,
    n_bars: int = 8,
    sample_rate: int = config.DEFAULT_SAMPLE_RATE,
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
    rng = seeded_rng(int(seed), "collection")
    # stratified draws so that performers clearly differ in tempo and loudness
    tempo_slots = rng.permutation(n_performers)
    vel_slots = rng.permutation(n_performers)
    dyn_slots = rng.permutation(n_performers)
    performers = []
    for i in range(n_performers):
        code = PERFORMER_NAMES[i % len(PERFORMER_NAMES)] + (
            "" if i < len(PERFORMER_NAMES) else str(i // len(PERFORMER_NAMES))
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
    rows: list[dict[str, Any]] = []
    for pi in range(n_pieces):
        composer = COMPOSERS[(pi // 2) % len(COMPOSERS)]
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
    clear_cache()  # release the cached partials (tens of MB)
    manifest = out / "manifest.csv"
    with open(manifest, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(MANIFEST_COLUMNS))
        w.writeheader()
        w.writerows(rows)
    return manifest


def write_bad_files(folder: str | os.PathLike) -> dict[str, str]:
    """Write files that :func:`embedstore.audio.load_audio` must refuse; return ``{file name: reason}``.

    ``corrupt.flac`` (garbage over the middle of a real FLAC), ``empty.wav`` (0 bytes), ``notes.wav`` (a
    text file), ``truncated.wav`` (the header declares twice the frames present), ``silent.wav`` (zeros).
    """
    import soundfile as sf

    d = Path(folder)
    d.mkdir(parents=True, exist_ok=True)
    sr = config.DEFAULT_SAMPLE_RATE
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
    wav = (d / "truncated.wav").read_bytes()
    (d / "truncated.wav").write_bytes(wav[: 44 + (len(wav) - 44) // 2])

    sf.write(str(d / "silent.wav"), np.zeros(sr, dtype=np.float32), sr, subtype="PCM_16")
    return {
        "corrupt.flac": "corrupt",
        "empty.wav": "empty",
        "notes.wav": "not_audio",
        "truncated.wav": "truncated",
        "silent.wav": "silent",
    }
