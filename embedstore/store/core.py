"""The :class:`Store` handle: every job of the store in one object, plus the store-wide summary and health check.

:class:`Store` is assembled from one class per job, each in its own module, each building on the one below:

====================  =================================================================================
``tables.py``         :class:`~embedstore.store.tables.LanceTables`: the LanceDB database and its tables
``spaces.py``         :class:`~embedstore.store.spaces.SpaceCatalog`: declare, list, find and drop spaces
``recordings.py``     :class:`~embedstore.store.recordings.RecordingCatalog`: recordings, completion markers
``vectors.py``        :class:`~embedstore.store.vectors.VectorTables`: write and load vectors
``rejects.py``        :class:`~embedstore.store.rejects.RejectLog`: files that could not be indexed
====================  =================================================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from embedstore.errors import StoreError
from embedstore.store.rejects import RejectLog
from embedstore.store.schema import CORE_RECORDING_COLUMNS
from embedstore.store.vectors import VectorTables


class Store(VectorTables, RejectLog):
    """A LanceDB-backed store of recordings and their embeddings.

    Parameters
    ----------
    uri : str or Path
        Directory of the LanceDB database (created when ``create=True``), or an object-store URI (``s3://``,
        ``gs://``, ``az://``; :mod:`embedstore.store.location`).
    create : bool
        Create the store when missing. With ``False`` a missing store is a :class:`StoreError`.
    storage_options : mapping, optional
        Object-store options (endpoint, region, credentials) for a remote URI.

    Examples
    --------
    >>> st = Store("piano.lance")                                      # doctest: +SKIP
    >>> st.find_space(encoder="chroma", level="recording")             # doctest: +SKIP
    >>> st.load(space, where="composer = 'Chopin'").vectors.shape      # doctest: +SKIP
    """

    def verify_setup(self, setup: str) -> list[str]:
        """Problems found in a setup's tables (duplicate row keys, rows without completion markers).

        Returns
        -------
        list of str
            One line per problem; empty when healthy.
        """
        problems = []
        done = set(self.indexed(setup).values())
        for sp in self.spaces(setup_key=setup, include_sequences=True):
            tab = self.read_table(sp.table_name, columns=["row_key", "recording_id"])
            if tab is None:
                continue
            keys = tab.column("row_key").to_numpy()
            n_unique = len(np.unique(keys))
            if n_unique != len(keys):
                problems.append(f"{sp.space_id}: {len(keys) - n_unique} duplicate rows")
            stray = set(tab.column("recording_id").to_pylist()) - done
            if stray:
                problems.append(f"{sp.space_id}: {len(stray)} recordings without completion marker")
        return problems

    def info(self) -> dict[str, Any]:
        """A summary of the store.

        Returns
        -------
        dict
            ``store`` (URI), ``recordings``, ``total_duration_s``, ``metadata_columns``, ``setups`` (one dict per
            setup: encoder, model id, revision, window/hop, dim, layers, poolings, recordings, windows, and
            ``frames``: whether it stores frame sequences),
            ``rejects``, ``reject_reasons`` (reason -> count) and ``table_versions``.
        """
        rec = self.recordings()
        rej = self.rejects()
        out_setups = []
        for key, s in self.setups().items():
            win = [sp for sp in self.spaces(setup_key=key) if sp.level == "window"]
            n_windows = self.count_rows(win[0].table_name) if win else 0
            out_setups.append(
                {
                    "setup": key,
                    "encoder": s["encoder"],
                    "model_id": s["provenance"].get("model_id", ""),
                    "revision": s["provenance"].get("revision", ""),
                    "window_s": s["window_s"],
                    "hop_s": s["hop_s"],
                    "dim": s["dim"],
                    "layers": len(s["layers"]),
                    "layer_names": s["layer_names"],
                    "poolings": s["poolings"],
                    "recordings": len(self.indexed(key)),
                    "windows": n_windows,
                    "frames": self.sequence_space(key) is not None,
                }
            )
        versions = {}
        for name in self.table_names():
            try:
                versions[name] = self.table_version(name)
            except StoreError:
                pass
        return {
            "store": self.uri,
            "recordings": int(len(rec)),
            "total_duration_s": float(rec["duration_s"].sum()) if len(rec) else 0.0,
            "metadata_columns": [c for c in rec.columns if c not in CORE_RECORDING_COLUMNS],
            "setups": out_setups,
            "rejects": int(len(rej)),
            "reject_reasons": rej["reason"].value_counts().to_dict() if len(rej) else {},
            "table_versions": versions,
        }


def open_store(
    uri: str | Path, *, create: bool = False, storage_options: Mapping[str, str] | None = None
) -> Store:
    """Open an existing store (``create=False``: a missing store is a :class:`StoreError` naming the command
    that builds one); ``storage_options`` for an object-store URI."""
    return Store(uri, create=create, storage_options=storage_options)
