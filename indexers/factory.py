"""Index factory: builds or loads any registered index kind.

:mod:`indexers.base` holds the interface and the registry and imports no backend; this module imports the
backends (so their ``@register_index`` runs) and sits above them, so there is no import cycle.
faiss itself is only imported when an index is built or loaded.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from embedstore.errors import ConfigError, StoreError
from indexers import exact, faiss_index, faiss_ivf  # noqa: F401  (registration side effects)
from indexers.base import INDEX_CONFIG, IndexSpec, VectorIndex, registered_indexes


def index_class(kind: str) -> type[VectorIndex]:
    """The registered index class of ``kind`` (``"exact"``, ``"faiss-hnsw"``, ``"faiss-ivfpq"``)."""
    registry = registered_indexes()
    if kind not in registry:
        valid = ", ".join(repr(k) for k in sorted(registry))
        raise ConfigError(f"invalid index kind={kind!r}; valid values: {valid}")
    return registry[kind]


def make_index(spec: IndexSpec) -> VectorIndex:
    """An unbuilt index as described by ``spec``."""
    return index_class(spec.kind)(**spec.params)


def load_index(directory: str | os.PathLike) -> VectorIndex:
    """Load any index saved with :meth:`VectorIndex.save` (dispatches on ``index.json``)."""
    directory = Path(directory)
    try:
        config = json.loads((directory / INDEX_CONFIG).read_text())
        kind = config["kind"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StoreError(
            f"no readable index in {directory}: {exc}",
            hint="rebuild the index (it is a derived cache of the store)",
        ) from exc
    return index_class(kind).load(directory)
