"""Where a recording's audio and alignment features come from: a file or a stored recording, cached features.

A *source* is a path to an audio file or the key of a stored recording (id, path, file name or stem, as
:meth:`embedstore.store.Store.recording` accepts). Features are computed from the audio once and kept in an
on-disk cache under ``$EMBEDSTORE_CACHE/alignment/features/`` named by the file's SHA-256 and the feature
version, so repeated alignments against one reference (``align --to-store``, curves of a piece) decode it once.
Chroma and onset features are cached as float16 (quantised chroma exactly, onsets within 5e-4); the features are
returned after the same rounding whether they came from the cache or not, so results do not depend on it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from embedstore.alignment.features import FrameFeatures, features_from_file
from embedstore.config import cache_dir
from embedstore.errors import ConfigError, check_choice
from embedstore.store import Store
from embedstore.utils import sha256_file

__all__ = ["FEATURES_VERSION", "SOURCES", "resolve_source", "cached_features", "features_for_recordings"]

#: Where the features of stored recordings come from: the stored frame sequences (10 frames/s, no audio needed),
#: the audio (50 frames/s with onsets, cached), or the sequences when the store has them (``auto``).
SOURCES = ("auto", "frames", "audio")

#: Bump when :func:`embedstore.alignment.features.compute_features` changes its output.
FEATURES_VERSION = 1


def resolve_source(source: str | Path, store: Store | None = None) -> tuple[Path, dict | None]:
    """The audio path of a file or stored recording, and the stored row (``None`` for a plain file).

    An existing file wins over a stored key of the same spelling.

    Raises
    ------
    ConfigError
        When ``source`` is neither a file nor (with a store) a stored recording.
    """
    p = Path(source)
    if p.is_file():
        return p.resolve(), None
    if store is None:
        raise ConfigError(
            f"no such file: {source}",
            hint="give an audio file, or a stored recording id with `--store S`",
        )
    row = store.recording(str(source))
    path = Path(str(row.get("path", "")))
    if not path.is_file():
        raise ConfigError(
            f"stored recording {source!r} points to {path}, which is not there any more",
            hint="re-index the folder with `embedstore index` after moving files",
        )
    return path, row


def _cache_file(path: Path, onsets: bool) -> Path:
    digest = sha256_file(path)
    tag = hashlib.sha256(json.dumps([FEATURES_VERSION, onsets]).encode()).hexdigest()[:8]
    d = cache_dir() / "alignment" / "features"
    d.mkdir(parents=True, exist_ok=True)
    return d / f"{digest[:32]}-{tag}.npz"


def cached_features(path: str | Path, *, onsets: bool = True, cache: bool = True) -> FrameFeatures:
    """Alignment features of an audio file, from the on-disk cache when present.

    Parameters
    ----------
    path : str or Path
    onsets : bool
        Include chroma onset features.
    cache : bool
        Read and write the cache (``False``: always compute).

    Returns
    -------
    FrameFeatures
    """
    p = Path(path)
    if not cache:
        return features_from_file(p, onsets=onsets)
    f = _cache_file(p, onsets)
    if f.exists():
        try:
            return _read(f, onsets)
        except (OSError, ValueError, KeyError):
            f.unlink(missing_ok=True)  # a damaged cache entry is recomputed
    feats = features_from_file(p, onsets=onsets)
    tmp = f.with_name(f.stem + ".tmp.npz")
    np.savez(
        tmp,
        chroma=feats.chroma.astype(np.float16),
        onsets=(feats.onsets if feats.onsets is not None else np.zeros((0, 12))).astype(np.float16),
        strength=feats.strength.astype(np.float32),
        loudness=feats.loudness.astype(np.float32),
        frame_rate=np.float64(feats.frame_rate),
        provenance=np.array(json.dumps(feats.provenance)),
    )
    tmp.replace(f)
    return _read(f, onsets)


def _read(f: Path, onsets: bool) -> FrameFeatures:
    with np.load(f, allow_pickle=False) as z:
        return FrameFeatures(
            chroma=z["chroma"].astype(np.float32),
            onsets=z["onsets"].astype(np.float32) if onsets else None,
            strength=z["strength"].astype(np.float32),
            loudness=z["loudness"].astype(np.float32),
            frame_rate=float(z["frame_rate"]),
            provenance=json.loads(str(z["provenance"])),
        )


def features_for_recordings(
    store: Store,
    recordings: list[tuple[str, str]],
    *,
    source: str = "auto",
    cache: bool = True,
) -> dict[str, FrameFeatures]:
    """Alignment features of stored recordings, recording id -> FrameFeatures.

    Parameters
    ----------
    store : Store
    recordings : list of (recording_id, path)
    source : {"auto", "frames", "audio"}
        See :data:`SOURCES`. ``frames`` without stored sequences is a :class:`ConfigError`.
    cache : bool
        Use the audio feature cache.
    """
    check_choice("source", source, SOURCES)
    if source != "audio":
        seqs = {}
        for setup in store.setups():
            sp = store.sequence_space(setup)
            if sp is not None:
                got = store.load_sequences(sp, [r for r, _ in recordings if r not in seqs])
                rate = float(sp.provenance["frame_rate"])
                seqs.update({r: FrameFeatures.from_compact(a, rate, sp.provenance) for r, a in got.items()})
        if len(seqs) == len(recordings):
            return seqs
        if source == "frames":
            raise ConfigError(
                f"{len(recordings) - len(seqs)} of the recordings have no stored frame sequence",
                hint="index them with `embedstore index ... --frames`, or use the audio",
            )
    return {r: cached_features(p, cache=cache) for r, p in recordings}
