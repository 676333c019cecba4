"""Data helpers of bench/bench_frames.py: madmom network outputs memoised per clip (user cache, never the repo).

:func:`madmom_outputs` runs each of madmom's 8 downbeat BLSTM networks once over a whole clip and keeps their
(beat, downbeat) softmax outputs at 100 frames/s, so that madmom's own tracker (mean of all 8, as
``RNNDownBeatProcessor``) and our ``madmom`` encoder with fewer networks come from one computation.

Run as a script to fill the cache for a manifest::

    nice -n 10 python bench/frames_data.py ../shared/data/asap-dev/manifest.csv
    nice -n 10 python bench/frames_data.py --nets=2 EXTRA_MANIFEST.csv   # only the encoder's 2 networks
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_PROC: dict = {}


def madmom_outputs(path, *, num_nets: int = 8) -> np.ndarray:
    """Per-network madmom outputs of an audio file: shape (num_nets, n_frames_100fps, 2) = P(beat, not downbeat),
    P(downbeat); memoised in ``cache_dir()/madmom_nets`` (all 8 networks, or only the first ``num_nets`` when fewer
    are asked for and the 8 are not cached: the extra training audio needs only the encoder's networks)."""
    from embedstore.config import cache_dir
    from embedstore.utils import sha256_file

    h = sha256_file(path)[:24]
    cp = cache_dir() / "madmom_nets" / f"{h}.npz"
    if cp.exists():
        with np.load(cp) as z:
            return z["a"][:num_nets]
    if num_nets < 8:
        cp = cp.with_name(f"{h}_n{num_nets}.npz")
        if cp.exists():
            with np.load(cp) as z:
                return z["a"]
    from madmom.audio.signal import Signal

    from embedstore.audio import load_audio
    from embedstore.encoders.madmom_rnn import MADMOM_SAMPLE_RATE, _build_processor

    if "pre" not in _PROC:
        _PROC["pre"], _PROC["nn"] = _build_processor(8)
    a = load_audio(path, sample_rate=MADMOM_SAMPLE_RATE)
    f = _PROC["pre"](Signal(np.ascontiguousarray(a.samples, np.float32), sample_rate=MADMOM_SAMPLE_RATE))
    nets = _PROC["nn"].processors[0][:num_nets]
    outs = np.stack([np.asarray(net(f), dtype=np.float32)[:, 1:] for net in nets])
    cp.parent.mkdir(parents=True, exist_ok=True)
    tmp = cp.with_name(f"{cp.stem}.{os.getpid()}.tmp.npz")  # unique per process (parallel benchmark jobs)
    np.savez(tmp, a=outs)
    tmp.replace(cp)
    return outs


if __name__ == "__main__":
    import time

    from embedstore.metadata import read_table

    nets = 8
    mans = sys.argv[1:]
    if mans and mans[0].startswith("--nets="):
        nets, mans = int(mans[0].split("=")[1]), mans[1:]
    for man in mans:
        df = read_table(man)
        t0 = time.perf_counter()
        for i, rel in enumerate(df["audio"]):
            madmom_outputs(Path(man).parent / rel, num_nets=nets)
            print(f"{i + 1}/{len(df)} {time.perf_counter() - t0:.0f} s", flush=True)


def madmom_frames(path, *, num_models: int, n_frames: int) -> np.ndarray:
    """The ``madmom`` encoder's frames (any beat, downbeat; 50 fps, max-pooled) from the cached network outputs of
    the first ``num_models`` networks, padded/cut to ``n_frames``. Shape (n_frames, 2), float32."""
    from embedstore.encoders.madmom_rnn import pool2

    a = madmom_outputs(path, num_nets=num_models).mean(axis=0)
    p = pool2(np.stack([a[:, 0] + a[:, 1], a[:, 1]], axis=1))[:n_frames]
    out = np.zeros((n_frames, 2), dtype=np.float32)
    out[: len(p)] = p
    return out


def madmom_acts(items) -> dict:
    """madmom's own activations (mean of its 8 networks, 50 frames/s) per item key: ``{"beat", "downbeat"}``."""
    from embedstore.encoders.madmom_rnn import pool2

    out = {}
    for it in items:
        a = madmom_outputs(it.path).mean(axis=0)
        p = pool2(np.stack([a[:, 0] + a[:, 1], a[:, 1]], axis=1))
        out[it.key] = {"beat": p[:, 0], "downbeat": p[:, 1]}
    return out


def own_acts(items, encoder: str) -> dict:
    """The ``madmom`` part's activations inside each item's features (what a saved ``train-frames --blend`` model
    blends with), per item key: ``{"beat", "downbeat"}``."""
    from embedstore.frames.ensemble import activations_from_features
    from embedstore.frames.features import FrameFeaturizer

    fz = FrameFeaturizer(encoder=encoder)
    cols, comp = fz.part_columns()["madmom"], fz.compression
    return {it.key: activations_from_features(it.features, columns=cols, compression=comp) for it in items}


def bench_items(manifest, encoder: str, *, limit=None, num_models: int = 8):
    """Frame items of a manifest for ``encoder``; parts named ``madmom`` come from :func:`madmom_outputs` (the same
    features as ``FrameFeaturizer("madmom+...")`` computes, one pass over each whole clip), the rest from the
    featurizer's cache. Combinations are concatenated in spec order, log1p applied when ``bssl`` is a part."""
    from embedstore.frames.features import FrameFeaturizer
    from embedstore.frames.items import FrameItem, load_items

    parts = encoder.split("+")
    base_enc = next((p for p in parts if p != "madmom"), "bssl")
    items = load_items(manifest, FrameFeaturizer(encoder=base_enc), limit=limit, cache=True)
    if parts == [base_enc]:
        return items
    out = []
    for it in items:
        cols = []
        for p in parts:
            if p == "madmom":
                m = madmom_frames(it.path, num_models=num_models, n_frames=it.n_frames)
                cols.append(np.log1p(m) if "bssl" in parts else m)
            else:
                cols.append(it.features)
        feats = np.concatenate(cols, axis=1).astype(np.float32)
        out.append(FrameItem(it.key, it.group, feats, it.targets, it.frame_rate, path=it.path))
    return out


def dev_manifest(data=None) -> Path | None:
    """``data`` as a path, else ``../shared/data/asap-dev/manifest.csv`` (None when the shared data is absent)."""
    from embedstore.config import shared_data_dir

    if data is not None:
        return Path(data)
    d = shared_data_dir()
    return None if d is None else d / "asap-dev" / "manifest.csv"


def cached_manifest(manifest) -> Path:
    """A copy of ``manifest`` restricted to clips whose madmom outputs are cached (whole pieces only), with
    absolute audio paths, written to ``cache_dir()/bench_frames``. For a run that cannot wait for the cache."""
    from embedstore.config import cache_dir
    from embedstore.metadata import read_table
    from embedstore.utils import sha256_file

    man = Path(manifest)
    df = read_table(man)
    paths = [man.parent / a for a in df["audio"]]
    ok = [(cache_dir() / "madmom_nets" / f"{sha256_file(p)[:24]}.npz").exists() for p in paths]
    df = df.assign(audio=[str(p.resolve()) for p in paths], _ok=ok)
    whole = df.groupby("piece_id")["_ok"].transform("all")
    df = df[whole].drop(columns="_ok")
    out = cache_dir() / "bench_frames" / f"{man.parent.name}_cached.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out, index=False)
    return out


def performance_grouped(manifest) -> Path:
    """A copy of ``manifest`` whose ``piece_id`` (the grouping column of every split) is the performance
    (``piece_id|performer_code``), with absolute audio paths, written to ``cache_dir()/bench_frames``. For the
    seen-pieces diagnostic of bench_frames.py (``--group-by performance``): a test performance is never in training
    (nor its extra renders), but other performances of its piece are."""
    from embedstore.config import cache_dir
    from embedstore.metadata import read_table

    man = Path(manifest)
    df = read_table(man)
    df = df.assign(
        audio=[str((man.parent / a).resolve()) for a in df["audio"]],
        piece_id=df["piece_id"].astype(str) + "|" + df["performer_code"].astype(str),
    )
    out = cache_dir() / "bench_frames" / f"{man.parent.name}_by_performance.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out, index=False)
    return out
