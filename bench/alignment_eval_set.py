"""The long-excerpt evaluation set of bench_alignment.py: 60-120 s excerpts of the full ASAP performances.

For every asap-dev piece (30 pieces x 4 performances) each performance gets one excerpt that starts inside a
different bar (a random bar among those in the first ~30 s of music, plus a random fraction of that bar), and
lasts 60-120 s (uniform; shorter only when the performance ends earlier). Rendered with
``../shared/tools/render.sh`` (the recipe of the shared clips) into ``$EMBEDSTORE_CACHE/alignment/asap-long/``.

Truth: ASAP's annotations of the full performance (``b``/``db``/``bR`` labels). A time ``t`` of an excerpt is the
performance time ``t0 + t``; its score position is the fractional bar index from linear interpolation between
the downbeats (bar by bar), and the same position in another performance is found by the inverse interpolation.
Everything is seeded (seed 0 and a CRC-32 of the piece id), so the manifest is reproducible.
"""

from __future__ import annotations

import csv
import json
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embedstore.config import cache_dir, shared_data_dir, shared_dir

SET_NAME = "asap-long"
MIN_DUR, MAX_DUR = 60.0, 120.0
START_WINDOW_S = 30.0  # excerpts start within the first ~30 s of music (of the slowest-reaching performer)
END_PAD_S = 2.0  # music continues this long after the last annotation (final chord)
#: Composers whose pieces were used while developing the method; the others are held out and reported apart.
DEV_COMPOSERS = ("Chopin", "Bach", "Haydn", "Mozart", "Scriabin")


def read_annotations(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Beats (b, db, bR) and downbeats (db) of an ASAP annotation file, seconds."""
    beats, downbeats = [], []
    for line in Path(path).read_text().splitlines():
        parts = line.split("\t")
        if len(parts) < 3:
            continue
        t, label = float(parts[0]), parts[2].split(",")[0]
        if label in ("b", "db", "bR"):
            beats.append(t)
        if label == "db":
            downbeats.append(t)
    return np.array(sorted(beats)), np.array(sorted(downbeats))


@dataclass
class Excerpt:
    clip_id: str
    piece_id: str
    composer: str
    title: str
    performer_code: str
    midi: str
    annotations: str
    t0: float
    dur: float
    perf_beats: np.ndarray
    perf_downbeats: np.ndarray

    @property
    def audio(self) -> Path:
        return cache_dir() / "alignment" / SET_NAME / "audio" / f"{self.clip_id}.flac"

    @property
    def beats(self) -> np.ndarray:
        b = self.perf_beats - self.t0
        return b[(b >= 0) & (b < self.dur)]

    @property
    def downbeats(self) -> np.ndarray:
        b = self.perf_downbeats - self.t0
        return b[(b >= 0) & (b < self.dur)]

    def bar_position(self, t):
        """Excerpt seconds -> fractional bar index (linear between downbeats, extrapolated at the ends)."""
        x = np.asarray(t, float) + self.t0
        db = self.perf_downbeats
        k = np.arange(len(db), dtype=float)
        y = np.interp(x, db, k)
        y = np.where(x < db[0], (x - db[0]) / (db[1] - db[0]), y)
        return np.where(x > db[-1], k[-1] + (x - db[-1]) / (db[-1] - db[-2]), y)

    def time_of_bar(self, pos):
        """Fractional bar index -> excerpt seconds (inverse of :meth:`bar_position`)."""
        p = np.asarray(pos, float)
        db = self.perf_downbeats
        k = np.arange(len(db), dtype=float)
        x = np.interp(p, k, db)
        x = np.where(p < 0, db[0] + p * (db[1] - db[0]), x)
        x = np.where(p > k[-1], db[-1] + (p - k[-1]) * (db[-1] - db[-2]), x)
        return x - self.t0

    def map_to(self, other: Excerpt, t):
        """Excerpt seconds of this performance -> excerpt seconds of ``other`` (same bars)."""
        return other.time_of_bar(self.bar_position(t))

    def row(self) -> dict:
        return {
            "clip_id": self.clip_id,
            "audio": f"audio/{self.clip_id}.flac",
            "piece_id": self.piece_id,
            "composer": self.composer,
            "title": self.title,
            "performer_code": self.performer_code,
            "midi": self.midi,
            "annotations": self.annotations,
            "t0": f"{self.t0:.4f}",
            "dur": f"{self.dur:.2f}",
            "beats": json.dumps([round(float(b), 4) for b in self.beats]),
            "downbeats": json.dumps([round(float(b), 4) for b in self.downbeats]),
        }


def build_excerpts(seed: int = 0) -> list[Excerpt]:
    """The excerpts of every asap-dev performance (deterministic)."""
    data = shared_data_dir()
    if data is None:
        raise SystemExit("../shared data not found (set EMBEDSTORE_SHARED)")
    base = data / "asap-dev"
    with open(base / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(r["piece_id"], []).append(r)
    out = []
    for pid, rs in sorted(by.items()):
        rng = np.random.default_rng([seed, zlib.crc32(pid.encode())])
        ann = [read_annotations(base / r["annotations"]) for r in rs]
        ends = [b[-1] + END_PAD_S for b, _ in ann]
        # bars that start within the first START_WINDOW_S of music and leave MIN_DUR of music, for everyone
        last_start = []
        for (_, db), end in zip(ann, ends):
            limit = min(db[0] + START_WINDOW_S, end - MIN_DUR)
            last_start.append(max(0, int(np.searchsorted(db, limit, side="right")) - 1))
        k = max(0, min(last_start))
        starts = rng.permutation(k + 1)[: len(rs)] if k + 1 >= len(rs) else rng.integers(0, k + 1, len(rs))
        for r, (beats, db), end, s in zip(rs, ann, ends, starts):
            s = int(min(s, len(db) - 2))
            t0 = float(db[s] + rng.uniform(0.0, 1.0) * (db[s + 1] - db[s]))
            dur = float(min(rng.uniform(MIN_DUR, MAX_DUR), end - t0))
            stem = Path(r["midi"]).stem
            out.append(
                Excerpt(
                    clip_id=f"{r['composer']}__{r['title']}__{stem}__long",
                    piece_id=pid,
                    composer=r["composer"],
                    title=r["title"],
                    performer_code=r["performer_code"],
                    midi=str((base / r["midi"]).resolve()),
                    annotations=str((base / r["annotations"]).resolve()),
                    t0=round(t0, 4),
                    dur=round(dur, 2),
                    perf_beats=beats,
                    perf_downbeats=db,
                )
            )
    return out


def write_and_render(excerpts: list[Excerpt]) -> Path:
    """Write the manifest and render what is missing (render.sh skips files already there)."""
    root = cache_dir() / "alignment"
    folder = root / SET_NAME
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / "manifest.csv"
    rows = [e.row() for e in excerpts]
    with open(manifest, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    missing = [e for e in excerpts if not e.audio.exists()]
    if missing:
        tool = shared_dir() / "tools" / "render.sh"
        subprocess.run(["bash", str(tool), str(root), str(manifest)], check=True)
    return manifest


if __name__ == "__main__":
    ex = build_excerpts()
    m = write_and_render(ex)
    print(f"{len(ex)} excerpts, {sum(e.dur for e in ex) / 3600:.2f} h; manifest {m}")
