"""Embed a query file exactly as a stored setup was indexed.

A store records, for every encoder setup, the encoder's provenance (name, model id, revision, sample rate, params)
and the window and hop. :func:`encoder_for_setup` rebuilds that encoder and refuses one whose provenance differs
(e.g. other weights behind the same name); :func:`embed_file` decodes a file (or a passage of it), cuts the same
windows and embeds them, returning a :class:`QueryEmbedding` that pools like the stored recordings
(:func:`~embedstore.store.pool_windows` with the same window weights).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embedstore.audio import frame_windows, load_audio
from embedstore.encoders import Encoder, get_encoder
from embedstore.errors import ConfigError, ProvenanceError, StoreError
from embedstore.store import Store, pool_windows, window_weights
from embedstore.utils import sha256_file

#: Provenance keys that must match between the stored setup and the rebuilt encoder.
PROVENANCE_KEYS = ("encoder", "model_id", "revision", "sample_rate", "dim", "params")
#: Windows per encoder forward pass when embedding a query.
QUERY_BATCH_WINDOWS = 32

_ENCODER_CACHE: dict[tuple, Encoder] = {}


def setup_info(store: Store, setup: str) -> dict:
    """The setup's summary (:meth:`Store.setups`); a missing setup is a :class:`StoreError` listing the others."""
    setups = store.setups()
    if setup not in setups:
        raise StoreError(f"no encoder setup {setup!r} in {store.uri}", hint="setups: " + ", ".join(setups))
    return setups[setup]


def encoder_for_setup(store: Store, setup: str) -> Encoder:
    """Rebuild the encoder a setup was indexed with, and check its provenance matches.

    Encoders are cached per (name, load options) for the life of the process.

    Parameters
    ----------
    store : Store
    setup : str
        Setup key, e.g. ``chroma-w10-h5``.

    Returns
    -------
    Encoder

    Raises
    ------
    StoreError
        When the store has no such setup.
    ProvenanceError
        When the encoder available now differs from the one the store was built with.
    """
    prov = setup_info(store, setup)["provenance"]
    name = prov["encoder"]
    kwargs = dict(prov.get("load_kwargs") or {})
    ck = (name, tuple(sorted(kwargs.items())))
    if ck not in _ENCODER_CACHE:
        _ENCODER_CACHE[ck] = get_encoder(name, **kwargs)
    enc = _ENCODER_CACHE[ck]
    now = enc.provenance()
    for k in PROVENANCE_KEYS:
        if k in prov and prov[k] != now.get(k):
            raise ProvenanceError(
                f"encoder {name} now differs from the one this store was built with ({k}: {prov[k]!r} vs "
                f"{now.get(k)!r})",
                hint="queries must be embedded exactly as the index was built; re-index or load the same model",
            )
    return enc


@dataclass
class QueryEmbedding:
    """The windows of a query file embedded like a stored setup.

    Attributes
    ----------
    path : str
    content_hash : str
        sha256 of the file's bytes.
    window_vectors : np.ndarray
        (n_layers, n_windows, dim) float32.
    starts_s, ends_s : np.ndarray
        (n_windows,) window bounds, seconds from the start of the file.
    weights : np.ndarray
        (n_windows,) share of real audio in each window.
    duration_s : float
        Length of the whole file, seconds.
    """

    path: str
    content_hash: str
    window_vectors: np.ndarray
    starts_s: np.ndarray
    ends_s: np.ndarray
    weights: np.ndarray
    duration_s: float

    def pooled(self, pooling: str = "mean") -> np.ndarray:
        """Recording-level vectors of every layer, pooled like the stored ones: (n_layers, dim) float32."""
        return pool_windows(self.window_vectors, self.weights, pooling)

    def passage_vector(self, layer: int) -> np.ndarray:
        """One vector for the whole query at a layer: the window vectors averaged by their share of real audio.

        Returns
        -------
        np.ndarray
            (dim,) float32.
        """
        w = self.weights / max(float(self.weights.sum()), 1e-9)
        return (self.window_vectors[layer] * w[:, None]).sum(axis=0).astype(np.float32)


def embed_file(
    path: str | Path,
    *,
    store: Store,
    setup_key: str,
    start_s: float | None = None,
    end_s: float | None = None,
) -> QueryEmbedding:
    """Embed a file (or a passage of it) exactly as ``setup_key`` was indexed.

    Parameters
    ----------
    path : str or Path
        Audio file.
    store : Store
        The store holding the setup.
    setup_key : str
        The setup to imitate (encoder, window, hop).
    start_s, end_s : float, optional
        The passage to embed, seconds (default: the whole file). A passage shorter than the setup's window is
        embedded as one zero-padded window.

    Returns
    -------
    QueryEmbedding
        Window times are relative to the start of the file.
    """
    s = setup_info(store, setup_key)
    enc = encoder_for_setup(store, setup_key)
    audio = load_audio(path, sample_rate=enc.sample_rate)
    dur = audio.duration_s
    a = 0.0 if start_s is None else max(0.0, float(start_s))
    b = dur if end_s is None else min(dur, float(end_s))
    if b <= a:
        raise ConfigError(f"empty passage [{start_s}, {end_s}] in a {dur:.1f} s recording")
    seg = audio.samples[int(round(a * enc.sample_rate)) : int(round(b * enc.sample_rate))]
    windows, starts = frame_windows(seg, enc.sample_rate, window_s=s["window_s"], hop_s=s["hop_s"])
    vec = np.concatenate(
        [
            np.asarray(enc.embed(windows[i : i + QUERY_BATCH_WINDOWS]), np.float32)
            for i in range(0, len(windows), QUERY_BATCH_WINDOWS)
        ],
        axis=1,
    )
    return QueryEmbedding(
        path=str(path),
        content_hash=sha256_file(path),
        window_vectors=vec,
        starts_s=starts + a,
        ends_s=starts + a + s["window_s"],
        weights=window_weights(starts, s["window_s"], b - a),
        duration_s=dur,
    )
