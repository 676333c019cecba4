"""Extra training audio for the frame models (issue 14): longer excerpts of the full asap-dev performances, at
other bars, with tempo- and velocity-scaled MIDI variants, rendered with the shared recipe.

Each asap-dev performance (the ``midi`` and ``annotations`` columns of its manifest row: the whole performance)
gets one excerpt per entry of the plan, e.g. ``orig:60,t0.85:30,t1.2:30,v0.8:30,v1.2:30``:

- ``orig``: the performance as it is; ``tX``: every time (notes, pedals, beats, downbeats) divided by ``X`` (``t1.2``
  plays 1.2x faster); ``vX``: every note velocity times ``X``, rounded, clipped to 1-127 (the dynamics targets,
  derived from the MIDI velocities by :mod:`embedstore.frames.targets`, follow: louder audio, louder labels);
- the number after the colon is the excerpt length in audio seconds (shorter when the performance ends first);
  ``whole`` (e.g. ``orig:whole``) renders the whole performance from its first downbeat;
- each excerpt starts on a downbeat drawn at random (seeded by the clip and the variant) among those that leave
  the full length, so different variants of one performance cover different bars.

Writes the scaled MIDI, the scaled annotation files and ``manifest.csv`` (the shared columns: ``clip_id``, ``audio``,
``midi``, ``annotations``, ``t0``, ``dur``, ``beats``/``downbeats`` as JSON relative to the excerpt start,
``piece_id``, ``performer_code``, ... plus ``variant``, ``source_clip_id``) under
``embedstore.config.cache_dir()/frames_train/<name>/`` (never the repository), then renders the missing audio with
``../shared/tools/render.sh`` (it installs fluidsynth and the soundfont when missing; existing files are skipped).

Usage::

    nice -n 10 python bench/frames_renders.py --plan orig:60,t0.85:25,t1.2:25,v0.8:25,v1.2:25 --name extra
    nice -n 10 python bench/frames_renders.py --long-test 1 --name asap-long-test   # long test excerpts
    nice -n 10 python bench/frames_renders.py --plan orig:whole --per-piece 2 --name whole --jobs 2
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from embedstore.frames.annotations import read_asap_annotations  # noqa: E402
from embedstore.frames.variants import (  # noqa: E402
    Variant,
    choose_start,
    parse_variant,
    scale_annotations,
    scale_midi,
)

#: Music continues this long after the last annotated beat (final chord), seconds.
END_PAD_S = 2.0


def parse_plan(plan: str) -> list[tuple[Variant, float]]:
    """``"orig:60,t1.2:30"`` -> [(Variant, excerpt seconds), ...]."""
    out = []
    for part in plan.split(","):
        name, _, secs = part.strip().partition(":")
        out.append((parse_variant(name), np.inf if secs == "whole" else float(secs) if secs else 60.0))
    return out


def excerpt_row(src: dict, base: Path, folder: Path, variant: Variant, length: float, seed: int) -> dict:
    """The manifest row of one excerpt of one variant of a shared asap-dev row (writes the scaled files)."""
    stem = Path(src["midi"]).stem
    cid = f"{src['clip_id']}__{variant.name}"
    if variant.name == "orig":
        midi, ann = (base / src["midi"]).resolve(), (base / src["annotations"]).resolve()
    else:
        sub = Path("variants") / variant.name / Path(src["midi"]).parent
        midi, ann = folder / sub / f"{stem}.mid", folder / sub / f"{stem}_annotations.txt"
        if not midi.exists():
            scale_midi(base / src["midi"], midi, variant)
        if not ann.exists():
            scale_annotations(base / src["annotations"], ann, variant.tempo)
    a = read_asap_annotations(ann)
    rng = np.random.default_rng([seed, zlib.crc32(cid.encode())])
    t0, dur = choose_start(a.downbeats, float(a.beats[-1]) + END_PAD_S, length, rng)
    beats, dbs = a.beats - t0, a.downbeats - t0
    beats, dbs = beats[(beats >= 0) & (beats < dur)], dbs[(dbs >= 0) & (dbs < dur)]
    return {
        "clip_id": cid,
        "audio": f"audio/{cid}.flac",
        "composer": src["composer"],
        "title": src["title"],
        "piece_id": src["piece_id"],
        "performer_code": src["performer_code"],
        "midi": str(midi),
        "annotations": str(ann),
        "t0": f"{t0:.6f}",
        "dur": f"{dur:.3f}",
        "beats": json.dumps([round(float(b), 4) for b in beats]),
        "downbeats": json.dumps([round(float(b), 4) for b in dbs]),
        "variant": variant.name,
        "tempo_scale": variant.tempo,
        "velocity_scale": variant.velocity,
        "source_clip_id": src["clip_id"],
    }


def write_manifest(folder: Path, rows: list[dict]) -> Path:
    """``folder/manifest.csv`` with ``rows`` (columns of the first row); returns its path."""
    out = folder / "manifest.csv"
    with open(out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return out


def build(
    manifest, folder, plan: list[tuple[Variant, float]], *, seed: int = 0, per_piece: int | None = None
) -> Path:
    """Write the variant files and ``folder/manifest.csv`` for every row of ``manifest`` (only the first
    ``per_piece`` performances of each piece when given); returns the manifest."""
    manifest, folder = Path(manifest), Path(folder)
    with open(manifest, newline="") as f:
        src_rows = list(csv.DictReader(f))
    if per_piece is not None:
        seen: dict[str, int] = {}
        keep = []
        for r in src_rows:
            seen[r["piece_id"]] = seen.get(r["piece_id"], 0) + 1
            if seen[r["piece_id"]] <= per_piece:
                keep.append(r)
        src_rows = keep
    rows = [excerpt_row(r, manifest.parent, folder, v, length, seed) for r in src_rows for v, length in plan]
    folder.mkdir(parents=True, exist_ok=True)
    return write_manifest(folder, rows)


def render(manifest, *, jobs: int = 1) -> None:
    """Render the missing audio of a manifest with the shared ``render.sh`` (installs fluidsynth, the FluidR3_GM
    soundfont and flac with apt-get when missing, then runs ``render_clips.py``; existing files are skipped)."""
    from embedstore.config import shared_dir

    tool = shared_dir() / "tools" / "render.sh"
    folder = Path(manifest).parent
    cmd = ["bash", str(tool), str(folder.parent), str(manifest), "--jobs", str(jobs)]
    subprocess.run(cmd, check=True)


def long_test_manifest(folder, *, per_piece: int = 1, seed: int = 0) -> Path:
    """A test set of long excerpts: ``per_piece`` of the asap-long excerpts of every piece (60-120 s, starting inside
    a different bar for each performance; :mod:`alignment_eval_set`), manifest in ``folder`` (audio relative)."""
    sys.path.insert(0, str(ROOT / "bench"))
    from alignment_eval_set import build_excerpts

    by: dict[str, list] = {}
    for e in build_excerpts(seed):
        by.setdefault(e.piece_id, []).append(e)
    rows = [e.row() for ex in by.values() for e in ex[:per_piece]]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return write_manifest(folder, rows)


def main(argv=None) -> int:
    from embedstore.config import cache_dir, shared_data_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plan", default="orig:60,t0.85:30,t1.2:30,v0.8:30,v1.2:30")
    ap.add_argument("--name", default="extra", help="folder under cache_dir()/frames_train")
    ap.add_argument("--data", default=None, help="source manifest (default: ../shared asap-dev)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--no-render", action="store_true")
    ap.add_argument("--per-piece", type=int, default=None, help="only the first N performances of each piece")
    ap.add_argument(
        "--long-test",
        type=int,
        default=0,
        help="instead: write (and render) N asap-long test excerpts per piece (60-120 s, other bars) "
        "into cache_dir()/frames_train/<name>",
    )
    a = ap.parse_args(argv)
    src = Path(a.data) if a.data else shared_data_dir() / "asap-dev" / "manifest.csv"
    if a.long_test:
        out = long_test_manifest(cache_dir() / "frames_train" / a.name, per_piece=a.long_test, seed=a.seed)
    else:
        out = build(
            src, cache_dir() / "frames_train" / a.name, parse_plan(a.plan), seed=a.seed, per_piece=a.per_piece
        )
    return finish(out, jobs=a.jobs, no_render=a.no_render)


def finish(manifest, *, jobs: int, no_render: bool, describe=None) -> int:
    """Print the manifest's hours (and ``describe(rows)`` when given), then render its missing audio."""
    with open(manifest, newline="") as f:
        rows = list(csv.DictReader(f))
    hours = sum(float(r["dur"]) for r in rows) / 3600
    print(f"{manifest}: {len(rows)} clips, {hours:.2f} h{describe(rows) if describe else ''}", flush=True)
    if not no_render:
        render(manifest, jobs=jobs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
