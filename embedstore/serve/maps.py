"""2-D maps of a space (PCA, UMAP, t-SNE) as a derived, verified cache beside the store.

Task
    One point per recording of a recording-level space, placed so that similar performances lie close together.

Units and conventions
    - Vectors are L2-normalised first (the store is searched by cosine similarity); coordinates are unitless and
      centred; the page scales them to its canvas.
    - ``pca``: the two leading principal components (SVD; each axis's sign fixed so its largest loading is
      positive). ``umap`` (umap-learn, cosine metric) and ``tsne`` (scikit-learn, cosine metric) use a fixed
      seed (0). A space with fewer than :data:`MIN_POINTS_NONLINEAR` recordings is mapped with PCA whatever the
      method asked for (the answer says so in ``method_used``).

Cache
    ``<store>/_maps/<space_id>/<method>/`` holds ``coords.npy`` (n, 2) float32, ``ids.json`` (the recording ids,
    row order) and ``manifest.json`` (store, space, table version, row count, method and parameters, and the
    sha256 of each file). The cache is never trusted: it is recomputed when the manifest is missing or
    unreadable, when the source (store, space, table version, row count) or the method changed, or when a file's
    sha256 differs. Files are replaced atomically and the manifest is written last. Where the store's folder is
    not writable (or the store is remote) the cache lives under ``embedstore.config.cache_dir()/serve-maps``.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

import numpy as np

from embedstore import config
from embedstore.errors import ConfigError, check_choice
from embedstore.store import Space, Store
from embedstore.utils import sha256_file
from indexers.base import atomic_save_npy, atomic_write_json

MapMethod = Literal["pca", "umap", "tsne"]
METHODS = ("pca", "umap", "tsne")
#: Fewer recordings than this are always mapped with PCA (UMAP/t-SNE need neighbours).
MIN_POINTS_NONLINEAR = 5
FORMAT = 1
_FILES = ("coords.npy", "ids.json")


@dataclass
class Map2D:
    """A map of a space.

    Attributes
    ----------
    recording_ids : list of str, (n,)
    xy : np.ndarray, (n, 2) float32
    method_used : str
        ``pca``, ``umap`` or ``tsne`` (PCA when the space has too few recordings for the method asked for).
    status : str
        ``cache`` (read from a verified cache) or ``computed`` (with the reason the cache was not used).
    """

    recording_ids: list[str]
    xy: np.ndarray
    method_used: str
    status: str


# ---------------------------------------------------------------------------------------------- projection
def project_2d(vectors: np.ndarray, method: MapMethod = "pca", *, seed: int = 0) -> tuple[np.ndarray, str]:
    """2-D coordinates of row vectors.

    Parameters
    ----------
    vectors : np.ndarray, (n, dim)
    method : ``pca``, ``umap`` or ``tsne``
    seed : random state of UMAP and t-SNE

    Returns
    -------
    xy : np.ndarray, (n, 2) float32
    method_used : str
    """
    check_choice("method", method, METHODS)
    x = np.asarray(vectors, dtype=np.float64)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    n = len(x)
    if n == 0:
        return np.zeros((0, 2), np.float32), "pca"
    if method == "pca" or n < MIN_POINTS_NONLINEAR:
        return _pca(x), "pca"
    if method == "umap":
        import umap

        reducer = umap.UMAP(
            n_components=2,
            n_neighbors=int(min(15, n - 1)),
            metric="cosine",
            random_state=seed,
            init="spectral" if n > 20 else "random",
        )
        xy = reducer.fit_transform(x)
    else:
        from sklearn.manifold import TSNE

        xy = TSNE(
            n_components=2,
            perplexity=float(min(30.0, max(2.0, (n - 1) / 3.0))),
            metric="cosine",
            init="pca",
            random_state=seed,
        ).fit_transform(x)
    xy = np.asarray(xy, dtype=np.float64)
    return (xy - xy.mean(axis=0)).astype(np.float32), method


def _pca(x: np.ndarray) -> np.ndarray:
    xc = x - x.mean(axis=0)
    if len(x) < 2 or not np.any(xc):
        return np.zeros((len(x), 2), np.float32)
    _, _, vt = np.linalg.svd(xc, full_matrices=False)
    comps = vt[:2]
    signs = np.sign(comps[np.arange(len(comps)), np.argmax(np.abs(comps), axis=1)])
    xy = xc @ (comps * signs[:, None]).T
    if xy.shape[1] < 2:
        xy = np.pad(xy, ((0, 0), (0, 2 - xy.shape[1])))
    return xy.astype(np.float32)


# ---------------------------------------------------------------------------------------------- cache
def cache_dirs(store: Store, space: Space, method: str) -> list[Path]:
    """Where the map of ``space`` may be cached, in order of preference (the store's folder first)."""
    sub = Path(space.space_id) / method
    out = []
    if "://" not in store.uri:
        out.append(Path(store.uri) / "_maps" / sub)
    tag = hashlib.sha256(store.uri.encode()).hexdigest()[:16]
    out.append(config.cache_dir() / "serve-maps" / tag / sub)
    return out


def _source(store: Store, space: Space) -> dict:
    return {
        "store": store.uri,
        "space": space.space_id,
        "table": space.table_name,
        "table_version": store.table_version(space.table_name),
        "row_count": int(store.table(space.table_name).count_rows()),
    }


def check_map_cache(directory: Path, *, source: dict, method: str) -> str | None:
    """Why the cached map in ``directory`` cannot be used (``None`` when it is valid)."""
    try:
        m = json.loads((directory / "manifest.json").read_text())
    except FileNotFoundError:
        return "no cache"
    except (OSError, ValueError):
        return "manifest unreadable"
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        return "manifest format changed"
    if m.get("method") != method:
        return f"method changed ({m.get('method')!r} -> {method!r})"
    old = m.get("source") or {}
    changed = sorted(k for k in source if old.get(k) != source[k])
    if changed:
        return "stale: " + ", ".join(f"{k} {old.get(k)!r} -> {source[k]!r}" for k in changed)
    files = m.get("files")
    if not isinstance(files, dict) or set(files) != set(_FILES):
        return "manifest lists other files"
    for name in _FILES:
        p = directory / name
        if not p.is_file():
            return f"{name} missing"
        if sha256_file(p) != files[name]:
            return f"{name} checksum mismatch (corrupt or truncated)"
    return None


def _read_cache(directory: Path) -> tuple[list[str], np.ndarray, str] | None:
    try:
        m = json.loads((directory / "manifest.json").read_text())
        ids = json.loads((directory / "ids.json").read_text())
        xy = np.load(directory / "coords.npy", allow_pickle=False)
    except (OSError, ValueError):
        return None
    ok = isinstance(ids, list) and xy.ndim == 2 and xy.shape == (len(ids), 2) and np.isfinite(xy).all()
    return (ids, xy.astype(np.float32), str(m.get("method_used", m.get("method")))) if ok else None


def _write_cache(directory: Path, *, source: dict, method: str, method_used: str, ids, xy) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    try:
        os.remove(directory / "manifest.json")  # the old manifest must not vouch for the new files
    except FileNotFoundError:
        pass
    atomic_save_npy(directory / "coords.npy", np.asarray(xy, np.float32))
    atomic_write_json(directory / "ids.json", [str(r) for r in ids])
    atomic_write_json(
        directory / "manifest.json",
        {
            "format": FORMAT,
            "method": method,
            "method_used": method_used,
            "source": source,
            "files": {name: sha256_file(directory / name) for name in _FILES},
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        },
    )


_LOCKS: dict[tuple, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock_for(key: tuple) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, threading.Lock())


def space_map(store: Store, space: Space, method: MapMethod = "pca") -> Map2D:
    """The 2-D map of a recording-level space, from the verified cache or computed (and cached) now.

    Parameters
    ----------
    store : Store
    space : a recording-level :class:`~embedstore.store.Space`
    method : ``pca``, ``umap`` or ``tsne``

    Returns
    -------
    Map2D
    """
    check_choice("method", method, METHODS)
    if space.level != "recording":
        raise ConfigError(
            f"a map needs a recording-level space, not {space.space_id}",
            hint="list the spaces with `embedstore info --store ...`",
        )
    with _lock_for((store.uri, space.space_id, method)):
        source = _source(store, space)
        reasons = []
        for d in cache_dirs(store, space, method):
            why = check_map_cache(d, source=source, method=method)
            if why is None:
                got = _read_cache(d)
                if got is not None:
                    return Map2D(got[0], got[1], got[2], "cache")
                why = "cache unreadable"
            reasons.append(why)
        es = store.load(space, with_metadata=False)
        xy, used = project_2d(es.vectors, method)
        ids = [str(r) for r in es.recording_ids]
        for d in cache_dirs(store, space, method):
            try:
                _write_cache(d, source=source, method=method, method_used=used, ids=ids, xy=xy)
                break
            except OSError:
                continue
        return Map2D(ids, xy, used, "computed (" + reasons[0] + ")")
