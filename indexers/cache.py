"""The FAISS (or exact) index of a space as a derived, verifiable on-disk cache.

A cache directory holds the files written by :meth:`VectorIndex.save` and ``manifest.json``::

    {"kind": "faiss-hnsw", "params": {...},
     "source": {"table_version": 7, "row_count": 100000, "fingerprint": "..."},
     "files": {"index.faiss": "<sha256>", "keys.npy": "<sha256>", "index.json": "<sha256>"},
     "index_sha256": "<sha256 of the main index file>",
     "created": "2025-01-01T00:00:00+00:00", "faiss_version": "1.15.1", "format": 1}

The cache is never trusted: :func:`load_or_build` rebuilds it from the table when the manifest is
missing or unreadable, when the index spec or the source (table version, row count, fingerprint)
changed, or when any file's sha256 differs (corrupt, truncated, missing). Files are written to a
temporary folder, moved in with ``os.replace``, and the manifest is written last, so an interrupted
write leaves no manifest that vouches for mismatched files. No pickle anywhere.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from embedstore.errors import EmbedstoreError, StoreError
from embedstore.utils import crash_point
from indexers.base import (
    IndexSpec,
    VectorIndex,
    atomic_write_json,
    sha256_file,
)
from indexers.factory import index_class, make_index

MANIFEST = "manifest.json"
FORMAT = 1
#: Main file of each kind (its sha256 is ``index_sha256``).
_MAIN_FILE = {
    "exact": "vectors.npy",
    "faiss-hnsw": "index.faiss",
    "faiss-ivfpq": "index.faiss",
    "faiss-ivf": "index.faiss",
}

Loader = Callable[[], tuple[np.ndarray, np.ndarray]]


def _normalise(obj: Any) -> Any:
    """JSON round trip, so tuples/numpy scalars compare equal to what the manifest holds."""
    return json.loads(json.dumps(obj, default=_json_default, sort_keys=True))


def _json_default(o: Any):
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")


def read_manifest(directory: str | os.PathLike) -> dict[str, Any] | None:
    """The manifest of a cache directory, or ``None`` when missing or unreadable."""
    try:
        manifest = json.loads((Path(directory) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def check_cache(directory: str | os.PathLike, spec: IndexSpec, *, source: dict[str, Any]) -> str | None:
    """Why the cache in ``directory`` cannot be used (``None`` when it is valid).

    Checks the manifest, the spec, the source and every file's sha256; does not load the index.
    """
    directory = Path(directory)
    path = directory / MANIFEST
    if not path.exists():
        return "manifest missing"
    manifest = read_manifest(directory)
    if manifest is None:
        return "manifest unreadable"
    if manifest.get("format") != FORMAT:
        return f"manifest format {manifest.get('format')!r} is not {FORMAT}"
    if manifest.get("kind") != spec.kind or manifest.get("params") != _normalise(spec.params):
        return f"index spec changed ({manifest.get('kind')!r} -> {spec.kind!r})"
    old = manifest.get("source")
    new = _normalise(source)
    if old != new:
        if not isinstance(old, dict):
            return "stale: manifest has no source"
        changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        detail = ", ".join(f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in changed)
        return f"stale: {detail}"
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        return "manifest lists no files"
    for name, digest in sorted(files.items()):
        if Path(name).name != name:
            return f"manifest lists a bad file name {name!r}"
        fpath = directory / name
        if not fpath.is_file():
            return f"index file {name} missing"
        if sha256_file(fpath) != digest:
            return f"index file {name} checksum mismatch (corrupt or truncated)"
    main = _MAIN_FILE.get(spec.kind)
    if main is not None and manifest.get("index_sha256") != files.get(main):
        return "index_sha256 does not match the index file"
    return None


def _has_files(directory: Path) -> bool:
    return directory.is_dir() and any(p.is_file() for p in directory.iterdir())


def _faiss_version() -> str | None:
    try:
        import faiss
    except ImportError:  # pragma: no cover - faiss is a dependency
        return None
    return getattr(faiss, "__version__", None)


def write_cache(
    directory: str | os.PathLike, index: VectorIndex, spec: IndexSpec, *, source: dict[str, Any]
) -> dict[str, Any]:
    """Save ``index`` into ``directory`` with a manifest vouching for ``source``; returns the manifest."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    old = read_manifest(directory)
    # 1. invalidate: from here until the new manifest lands, the cache reads as "manifest missing".
    try:
        os.remove(directory / MANIFEST)
    except FileNotFoundError:
        pass
    crash_point("cache_after_invalidate")
    # 2. write the index into a private folder, then move each file in atomically.
    staging = directory / f".staging-{uuid.uuid4().hex}"
    try:
        index.save(staging)
        names = sorted(p.name for p in staging.iterdir() if p.is_file() and not p.name.startswith("."))
        for name in names:
            os.replace(staging / name, directory / name)
            crash_point("cache_between_files")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    # 3. drop files of the previous cache that the new one does not use.
    if old is not None and isinstance(old.get("files"), dict):
        for name in set(old["files"]) - set(names):
            if Path(name).name == name and name != MANIFEST:
                try:
                    os.remove(directory / name)
                except OSError:
                    pass
    files = {name: sha256_file(directory / name) for name in names}
    main = _MAIN_FILE.get(spec.kind, names[0] if names else "")
    manifest = {
        "format": FORMAT,
        "kind": spec.kind,
        "params": _normalise(spec.params),
        "source": _normalise(source),
        "files": files,
        "index_sha256": files.get(main),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "faiss_version": _faiss_version(),
        "ntotal": len(index),
    }
    # 4. the manifest last.
    crash_point("cache_before_manifest")
    atomic_write_json(directory / MANIFEST, manifest)
    crash_point("cache_after_manifest")
    return manifest


def load_or_build(
    directory: str | os.PathLike,
    spec: IndexSpec,
    *,
    source: dict[str, Any],
    loader: Loader,
) -> tuple[VectorIndex, str]:
    """Load the cached index in ``directory`` if it is valid for ``spec`` and ``source``, else build it.

    Parameters
    ----------
    directory : path
        Cache folder of one embedding space (created if needed).
    spec : IndexSpec
        What to build (see :func:`indexers.choose.choose_index`).
    source : dict
        Identity of the data, e.g. ``{"table_version": 7, "row_count": 100000, "fingerprint": "..."}``.
        Any change triggers a rebuild.
    loader : callable
        ``loader() -> (vectors (n, dim) float32, keys (n,) int64)``, called only when building.

    Returns
    -------
    index : VectorIndex
    status : str
        ``"loaded"``, ``"built"`` (no cache before) or ``"rebuilt: <reason>"``.
    """
    directory = Path(directory)
    reason = check_cache(directory, spec, source=source)
    if reason is None:
        try:
            index = index_class(spec.kind).load(directory)
        except (EmbedstoreError, OSError, ValueError, RuntimeError) as exc:
            reason = f"unreadable index ({exc})"
        else:
            expected = source.get("row_count") if isinstance(source, dict) else None
            if expected is None or len(index) == int(expected):
                return index, "loaded"
            reason = f"index holds {len(index)} vectors, source row_count is {expected}"
    first = reason == "manifest missing" and not _has_files(directory)

    vectors, keys = loader()
    expected = source.get("row_count") if isinstance(source, dict) else None
    if expected is not None and int(expected) != len(keys):
        raise StoreError(
            f"the loader returned {len(keys)} vectors but the source says row_count={expected}",
            hint="the table changed while the index was being built; try again",
        )
    index = make_index(spec)
    index.build(vectors, keys)
    write_cache(directory, index, spec, source=source)
    return index, "built" if first else f"rebuilt: {reason}"
