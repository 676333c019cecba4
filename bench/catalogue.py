"""A deterministic synthetic recording catalogue for search benchmarks (not a test).

Real embedding tables are not iid Gaussian clouds: windows of one recording are correlated, the
same passage played by different performers lands close, a composer's pieces share a style.
This generator mimics that hierarchy so that nearest neighbours are neither trivial nor random:

    vector = composer + piece + section(piece, position) + performer style + recording offset
             + low-rank window noise + isotropic noise            (then L2-normalised)

- ``composer``: ``n_composers`` with Zipf-like catalogue shares;
- ``piece``: each composer has pieces; each piece has ``SECTIONS`` section centres (a window's
  section is its position in the recording, so the same passage of different recordings is close);
- ``performer``: a global style vector (a performer plays pieces of many composers, so a
  performer filter is spread over the whole space, the hard case for filtered ANN);
- window noise lives in a 96-dimensional subspace (anisotropic spectrum) plus a small isotropic part.

Queries are windows of *held-out* recordings (recordings not in the table, half of them by
performers who have no recording in the table), so a query is never a stored vector.

Arrays are cached as ``.npy`` under ``embedstore.config.cache_dir() / "catalogue"`` keyed by
``(n, dim, n_queries, seed, VERSION)``: ``vectors`` (n, dim) float32, ``composer``/``piece``/
``performer``/``recording`` (n,) int32, ``queries`` (n_queries, dim) float32 and
``truth_k{k}`` (n_queries, k) int64 exact neighbours (row positions) once computed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

from embedstore.config import cache_dir  # noqa: E402

VERSION = 1
SECTIONS = 12
META = ("composer", "piece", "performer", "recording")
# norms of the components (relative)
W_COMPOSER, W_PIECE, W_SECTION, W_PERFORMER, W_RECORDING, W_LOWRANK, W_ISO = (
    1.0,
    0.8,
    0.9,
    0.55,
    0.4,
    0.75,
    0.35,
)


def catalogue_dir(n: int, dim: int, n_queries: int, seed: int) -> Path:
    d = cache_dir() / "catalogue" / f"v{VERSION}_n{n}_d{dim}_q{n_queries}_s{seed}"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _unit(rng: np.random.Generator, m: int, dim: int, scale: float) -> np.ndarray:
    x = rng.standard_normal((m, dim)).astype(np.float32)
    x *= scale / np.linalg.norm(x, axis=1, keepdims=True)
    return x


class _Model:
    """Centres and the recording table, drawn from one seed (small: ~100 MB at dim 768)."""

    def __init__(self, n: int, dim: int, n_queries: int, seed: int):
        rng = np.random.default_rng(seed)
        self.dim = dim
        n_composers = 40
        n_pieces = max(n_composers, n // 400)
        n_performers = max(20, n // 2000)
        share = 1.0 / np.arange(1, n_composers + 1) ** 0.8
        share /= share.sum()
        self.piece_composer = rng.choice(n_composers, n_pieces, p=share).astype(np.int32)
        self.composer_c = _unit(rng, n_composers, dim, W_COMPOSER)
        self.piece_c = _unit(rng, n_pieces, dim, W_PIECE)
        self.section_c = _unit(rng, n_pieces * SECTIONS, dim, W_SECTION).reshape(n_pieces, SECTIONS, dim)
        self.performer_c = _unit(rng, n_performers + n_performers // 10 + 1, dim, W_PERFORMER)
        basis = rng.standard_normal((96, dim)).astype(np.float32)
        self.basis = np.linalg.qr(basis.T)[0].T.astype(np.float32)  # (96, dim) orthonormal rows
        self.spectrum = (1.0 / np.sqrt(np.arange(1, 97))).astype(np.float32)
        self.spectrum *= W_LOWRANK / np.linalg.norm(self.spectrum)
        # recordings: (piece, performer, n_windows); performers favour some composers
        perf_pop = 1.0 / np.arange(1, n_performers + 1) ** 0.6
        perf_pop /= perf_pop.sum()
        rec_piece, rec_perf, rec_len = [], [], []
        total = 0
        while total < n:
            rec_piece.append(int(rng.integers(0, n_pieces)))
            rec_perf.append(int(rng.choice(n_performers, p=perf_pop)))
            w = int(rng.integers(40, 260))
            rec_len.append(min(w, n - total))
            total += rec_len[-1]
        self.rec_piece = np.asarray(rec_piece, dtype=np.int32)
        self.rec_perf = np.asarray(rec_perf, dtype=np.int32)
        self.rec_len = np.asarray(rec_len, dtype=np.int64)
        self.n_rec = len(rec_piece)
        # held-out recordings: stored pieces, half by unseen performers
        n_held = max(8, n_queries // 20)
        self.held_piece = rng.integers(0, n_pieces, n_held).astype(np.int32)
        unseen = n_performers + rng.integers(0, n_performers // 10 + 1, n_held)
        seen = rng.choice(n_performers, n_held, p=perf_pop)
        self.held_perf = np.where(np.arange(n_held) % 2 == 0, unseen, seen).astype(np.int32)
        self.held_len = rng.integers(40, 260, n_held).astype(np.int64)
        self.rec_offset = _unit(rng, self.n_rec + n_held, dim, W_RECORDING)

    def rows(self, piece, perf, rec, pos, length, rng) -> np.ndarray:
        """Vectors of windows at relative positions ``pos / length`` (arrays of one length)."""
        section = np.minimum((pos * SECTIONS) // np.maximum(length, 1), SECTIONS - 1)
        x = self.composer_c[self.piece_composer[piece]]
        x = x + self.piece_c[piece]
        x += self.section_c[piece, section]
        x += self.performer_c[perf]
        x += self.rec_offset[rec]
        z = rng.standard_normal((len(piece), self.basis.shape[0])).astype(np.float32) * self.spectrum
        x += z @ self.basis
        x += rng.standard_normal(x.shape).astype(np.float32) * (W_ISO / np.sqrt(self.dim))
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x


def generate(n: int, dim: int = 768, n_queries: int = 1000, seed: int = 0, *, chunk: int = 50_000) -> Path:
    """Write (or find) the cached catalogue; returns its directory."""
    d = catalogue_dir(n, dim, n_queries, seed)
    if (d / "done").exists():
        return d
    t0 = time.perf_counter()
    model = _Model(n, dim, n_queries, seed)
    row_rec = np.repeat(np.arange(model.n_rec, dtype=np.int32), model.rec_len)
    starts = np.concatenate([[0], np.cumsum(model.rec_len)[:-1]])
    row_pos = (np.arange(n, dtype=np.int64) - starts[row_rec]).astype(np.int64)
    meta = {
        "composer": model.piece_composer[model.rec_piece[row_rec]],
        "piece": model.rec_piece[row_rec],
        "performer": model.rec_perf[row_rec],
        "recording": row_rec,
    }
    vec_path = d / "vectors.npy"
    out = np.lib.format.open_memmap(vec_path, mode="w+", dtype=np.float32, shape=(n, dim))
    from tqdm import tqdm

    for s in tqdm(range(0, n, chunk), desc="catalogue vectors", unit="chunk", mininterval=5):
        e = min(n, s + chunk)
        rng = np.random.default_rng([seed, s])
        rec = row_rec[s:e]
        out[s:e] = model.rows(
            meta["piece"][s:e], meta["performer"][s:e], rec, row_pos[s:e], model.rec_len[rec], rng
        )
    out.flush()
    del out
    for name, arr in meta.items():
        np.save(d / f"{name}.npy", np.ascontiguousarray(arr, dtype=np.int32))
    # queries: random windows of held-out recordings
    rng = np.random.default_rng([seed, 10**9])
    h = rng.integers(0, len(model.held_piece), n_queries)
    length = model.held_len[h]
    pos = (rng.random(n_queries) * length).astype(np.int64)
    q = model.rows(model.held_piece[h], model.held_perf[h], model.n_rec + h, pos, length, rng)
    np.save(d / "queries.npy", q)
    (d / "done").write_text(f"{time.perf_counter() - t0:.1f} s\n")
    return d


def load(n: int, dim: int = 768, n_queries: int = 1000, seed: int = 0, *, mmap: bool = True) -> dict:
    """Arrays of the catalogue (vectors memory-mapped by default)."""
    d = generate(n, dim, n_queries, seed)
    out = {"dir": d, "vectors": np.load(d / "vectors.npy", mmap_mode="r" if mmap else None)}
    for name in (*META, "queries"):
        out[name] = np.load(d / f"{name}.npy")
    return out


def truth(n: int, dim: int, n_queries: int, seed: int, k: int, *, chunk: int = 100_000) -> np.ndarray:
    """Exact top-``k`` row positions of every query (cached), by chunked inner products."""
    d = generate(n, dim, n_queries, seed)
    path = d / f"truth_k{k}.npy"
    if path.exists():
        return np.load(path)
    x = np.load(d / "vectors.npy", mmap_mode="r")
    q = np.load(d / "queries.npy")
    best_s = np.full((n_queries, k), -np.inf, dtype=np.float32)
    best_i = np.full((n_queries, k), -1, dtype=np.int64)
    from tqdm import tqdm

    for s in tqdm(range(0, n, chunk), desc="exact truth", unit="chunk", mininterval=5):
        sims = q @ np.asarray(x[s : s + chunk]).T
        part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        cs = np.concatenate([best_s, np.take_along_axis(sims, part, 1)], axis=1)
        ci = np.concatenate([best_i, part + s], axis=1)
        top = np.argsort(-cs, axis=1, kind="stable")[:, :k]
        best_s, best_i = np.take_along_axis(cs, top, 1), np.take_along_axis(ci, top, 1)
    np.save(path, best_i)
    return best_i


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(description="generate and cache the synthetic catalogue")
    p.add_argument("--n", type=int, default=200_000)
    p.add_argument("--dim", type=int, default=768)
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    t = time.perf_counter()
    print(generate(a.n, a.dim, a.queries, a.seed))
    truth(a.n, a.dim, a.queries, a.seed, 10)
    print(f"{time.perf_counter() - t:.1f} s")
