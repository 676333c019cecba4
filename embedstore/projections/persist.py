"""Saved projections and projected tables.

A trained projection is a folder (sentence-transformers style, never pickle):

- ``config.json``: the head's architecture, the training configuration, the label (column, kind, bin edges or
  classes), the training history and the **provenance of the input space** (encoder, model id, revision, window,
  hop, layer, level, pooling...);
- ``model.safetensors``: the head's weights and its input standardisation buffers (float32).

Reloading gives bit-identical weights and outputs. A projection refuses vectors of another space
(:class:`~embedstore.errors.ProvenanceError`); level and pooling may differ (a head trained on pooled recording
vectors also projects the window vectors of the same layer).

Projected tables (:func:`write_projection`) are ordinary embedding spaces of the store, so every search backend
serves them. Their setup key is ``<source setup>--<name>`` and their provenance is the source space's provenance
(so a query file is embedded exactly as the source was) plus ``kind="projection"``, ``source_space_id`` and a
``projection`` block (name, path, sha256 of the weights, loss, label, head, out_dim). Use
:func:`projection_for_space` to get the head that maps source vectors into a projected space.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from embedstore import __version__
from embedstore.errors import ConfigError, ProvenanceError, StoreError
from embedstore.store import Space, slug, sql_quote, utc_now
from embedstore.utils import crash_point, jsonable, sha256_file

if TYPE_CHECKING:  # pragma: no cover
    from embedstore.projections.heads import ProjectionHead
    from embedstore.store import Store

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
FORMAT = "embedstore-projection"
#: Provenance keys that must match between a projection's input space and the vectors it projects.
MATCH_KEYS = ("encoder", "model_id", "revision", "sample_rate", "dim", "params", "window_s", "hop_s", "layer")


@dataclass
class Projection:
    """A trained projection head with everything needed to reuse it safely.

    Attributes
    ----------
    head : ProjectionHead
    train_config : dict, the :class:`~embedstore.projections.train.TrainConfig` it was trained with
    label : dict, ``{"column", "kind": "continuous"|"class"|"binned", "bin_edges", "classes"}``
    input_provenance : dict, provenance of the input space (plus ``space_id``)
    history : dict, training curves, best epoch, split sizes
    """

    head: ProjectionHead
    train_config: dict = field(default_factory=dict)
    label: dict = field(default_factory=dict)
    input_provenance: dict = field(default_factory=dict)
    history: dict = field(default_factory=dict)

    @property
    def in_dim(self) -> int:
        """Dimension of the input vectors."""
        return self.head.in_dim

    @property
    def out_dim(self) -> int:
        """Dimension of the projected vectors."""
        return self.head.out_dim

    def transform(self, X: np.ndarray, *, batch_size: int = 8192) -> np.ndarray:
        """Project vectors.

        Parameters
        ----------
        X : array-like (n, in_dim)

        Returns
        -------
        np.ndarray (n, out_dim) float32, unit L2 norm per row
        """
        import torch

        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.in_dim:
            raise ConfigError(f"projection expects vectors of dim {self.in_dim}, got shape {X.shape}")
        self.head.eval()
        out = []
        with torch.no_grad():
            for i in range(0, len(X), batch_size):
                out.append(self.head(torch.from_numpy(np.ascontiguousarray(X[i : i + batch_size]))).numpy())
        return np.concatenate(out, axis=0) if out else np.zeros((0, self.out_dim), np.float32)

    # ------------------------------------------------------------------ provenance
    def check_input(self, provenance: dict | Space) -> None:
        """Raise :class:`ProvenanceError` when vectors of ``provenance`` (a dict or a Space) are not this head's input."""
        prov = provenance.provenance if hasattr(provenance, "provenance") else dict(provenance)
        mine = self.input_provenance
        if prov.get("kind") == "projection":
            raise ProvenanceError(
                "cannot apply a projection to an already projected space",
                hint=f"use the source space {prov.get('source_space_id', '')}",
            )
        diff = [k for k in MATCH_KEYS if k in mine and k in prov and mine[k] != prov[k]]
        if diff:
            details = "; ".join(f"{k}: {mine[k]!r} vs {prov[k]!r}" for k in diff)
            raise ProvenanceError(
                f"projection was trained on {mine.get('space_id', 'another space')}, not on these vectors ({details})",
                hint="project vectors of the same encoder, revision, window, hop and layer, or train a new projection",
            )

    # ------------------------------------------------------------------ persistence
    def config(self) -> dict:
        """The JSON config saved next to the weights (format, head, training options, label, provenance)."""
        return {
            "format": FORMAT,
            "format_version": 1,
            "embedstore_version": __version__,
            "head": self.head.config(),
            "train": self.train_config,
            "label": self.label,
            "input_provenance": self.input_provenance,
            "history": self.history,
        }

    def save(self, path: str | Path) -> Path:
        """Write ``config.json`` and ``model.safetensors`` into the folder ``path`` (created). Returns the folder."""
        from safetensors.torch import save_file

        p = Path(path)
        p.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.head.state_dict().items()}
        tmp_w = p / (WEIGHTS_NAME + ".tmp")
        save_file(state, str(tmp_w), metadata={"format": "pt"})  # one key: a stable header
        cfg = {**self.config(), "weights_sha256": sha256_file(tmp_w)}  # load refuses weights of another save
        crash_point("before_projection_weights")
        os.replace(tmp_w, p / WEIGHTS_NAME)
        crash_point("before_projection_config")
        tmp_c = p / (CONFIG_NAME + ".tmp")
        tmp_c.write_text(json.dumps(jsonable(cfg), indent=2, sort_keys=True) + "\n")
        os.replace(tmp_c, p / CONFIG_NAME)
        crash_point("after_projection_config")
        return p

    @classmethod
    def load(cls, path: str | Path) -> Projection:
        """Load a projection saved with :meth:`save`."""
        from safetensors.torch import load_file

        from embedstore.projections.heads import ProjectionHead  # lazy: torch

        p = Path(path)
        if not (p / CONFIG_NAME).is_file() or not (p / WEIGHTS_NAME).is_file():
            raise ConfigError(
                f"{p} is not a saved projection (needs {CONFIG_NAME} and {WEIGHTS_NAME})",
                hint="train one with `embedstore project ... --out DIR`",
            )
        cfg = json.loads((p / CONFIG_NAME).read_text())
        if cfg.get("format") != FORMAT:
            raise ConfigError(f"{p / CONFIG_NAME} is not an embedstore projection config")
        if cfg.get("weights_sha256") and cfg["weights_sha256"] != sha256_file(p / WEIGHTS_NAME):
            raise ConfigError(
                f"the projection at {p} is inconsistent: {WEIGHTS_NAME} is not the one {CONFIG_NAME} was saved "
                "with (an interrupted save?)",
                hint="train it again with `embedstore project ... --out DIR`",
            )
        head = ProjectionHead.from_config(cfg["head"])
        head.load_state_dict(load_file(str(p / WEIGHTS_NAME)), strict=True)
        head.eval()
        return cls(
            head=head,
            train_config=cfg.get("train", {}),
            label=cfg.get("label", {}),
            input_provenance=cfg.get("input_provenance", {}),
            history=cfg.get("history", {}),
        )


def weights_sha256(path: str | Path) -> str:
    """sha256 of a saved projection's ``model.safetensors`` (64 hex digits)."""
    return sha256_file(Path(path) / WEIGHTS_NAME)


# ---------------------------------------------------------------------- projected tables
def projected_setup_key(source_setup_key: str, name: str) -> str:
    """The setup key of a projection's spaces: ``<source setup>--<slug of name>``."""
    return f"{source_setup_key}--{slug(name)}"


def projected_space(
    source: Space, projection: Projection, *, name: str, path: str | Path, sha256: str
) -> Space:
    """The Space a projection of ``source`` is written to (provenance included)."""
    prov = dict(source.provenance)
    prov.update(
        kind="projection",
        source_space_id=source.space_id,
        source_setup_key=source.setup_key,
        level=source.level,
        pooling=source.pooling,
        projection={
            "name": name,
            "path": str(Path(path).resolve()),
            "sha256": sha256,
            "loss": projection.train_config.get("loss"),
            "label": projection.label.get("column"),
            "head": projection.head.config(),
            "out_dim": projection.out_dim,
            "trained_on_space": projection.input_provenance.get("space_id"),
        },
    )
    return Space(
        setup_key=projected_setup_key(source.setup_key, name),
        encoder=f"{source.encoder}+{name}",
        layer=source.layer,
        layer_name=source.layer_name,
        level=source.level,
        pooling=source.pooling,
        window_s=source.window_s,
        hop_s=source.hop_s,
        dim=projection.out_dim,
        provenance=prov,
    )


def _drop_space(store: Store, space: Space) -> None:
    store.drop_space(space)


def write_projection(
    store: Store,
    projection: Projection,
    *,
    name: str,
    path: str | Path,
    source: Space | None = None,
    overwrite: bool = False,
    where: str | None = None,
) -> list[Space]:
    """Project every level of the source layer (windows and pooled recordings) and write them as new spaces.

    Parameters
    ----------
    store : Store
    projection : a trained (and saved) Projection
    name : short name of the projection; the new setup key is ``<source setup>--<name>``
    path : the folder the projection was saved to (recorded in the provenance with the weights' sha256)
    source : the space it was trained on (default: ``projection.input_provenance["space_id"]``); all spaces of the
        same setup and layer are projected
    overwrite : replace existing projected spaces of the same name
    where : only project recordings matching this filter

    Returns
    -------
    list of the written Spaces

    Notes
    -----
    The projected spaces hold the recordings present when they were written; after indexing more recordings,
    re-project with ``embedstore project --from DIR --name NAME --overwrite``.
    """
    if source is None:
        sid = projection.input_provenance.get("space_id")
        if not sid:
            raise ConfigError("the projection does not name its input space; pass source=")
        source = store.space(sid)
    projection.check_input(source)
    sha = weights_sha256(path)
    sources = [s for s in store.spaces(setup_key=source.setup_key) if s.layer == source.layer]
    targets = [projected_space(s, projection, name=name, path=path, sha256=sha) for s in sources]
    existing = {s.space_id: s for s in store.spaces()}
    clash = [t for t in targets if t.space_id in existing]
    if clash and not overwrite:
        raise StoreError(
            f"projected space {clash[0].space_id} already exists",
            hint="pass --overwrite to replace it, or choose another --name",
        )
    for t in clash:
        _drop_space(store, existing[t.space_id])
    written = []
    all_rids: set[str] = set()
    for s, t in zip(sources, targets):
        if not store.has_table(s.table_name):
            continue
        es = store.load(s, where=where, with_metadata=False)
        if not len(es):
            continue
        Z = projection.transform(es.vectors)
        store.write_vectors(t, es.recording_ids, es.window_index, es.start_s, es.end_s, Z)
        all_rids |= set(map(str, es.recording_ids))
        written.append(t)
    if not written:
        raise StoreError(f"no vectors to project in the spaces of {source.setup_key} layer {source.layer}")
    _mark_indexed(store, written[0].setup_key, source.setup_key, sorted(all_rids))
    return written


def _mark_indexed(store: Store, setup: str, source_setup: str, recording_ids: list[str]) -> None:
    """Completion markers for the projected setup (so `info` counts its recordings and `verify` accepts them)."""
    src = store.read_table("indexed", where=f"setup_key = {sql_quote(source_setup)}")
    if src is None:
        return
    done = {r["recording_id"]: r for r in src.to_pylist()}
    store.delete_rows("indexed", f"setup_key = {sql_quote(setup)}")
    rows = [
        {
            "setup_key": setup,
            "recording_id": rid,
            "content_hash": done[rid]["content_hash"],
            "n_windows": int(done[rid].get("n_windows", 0) or 0),
            "indexed_at": utc_now(),
        }
        for rid in recording_ids
        if rid in done
    ]
    if rows:
        store.add_rows("indexed", rows)


def projection_for_space(space: Space) -> Projection | None:
    """The head that maps source-space vectors into a projected space (``None`` for an ordinary space).

    Search uses it to embed a query file: embed with the source setup (the projected space's provenance names the
    same encoder, window and hop), then ``projection.transform(vectors)``. The weights' sha256 is checked.
    """
    prov = space.provenance
    if prov.get("kind") != "projection":
        return None
    meta = prov.get("projection", {})
    path = Path(meta.get("path", ""))
    if not (path / WEIGHTS_NAME).is_file():
        raise StoreError(
            f"the projection of space {space.space_id} is missing at {path}",
            hint="re-run `embedstore project` or restore the projection folder",
        )
    if meta.get("sha256") and weights_sha256(path) != meta["sha256"]:
        raise ProvenanceError(
            f"the projection at {path} changed since space {space.space_id} was written",
            hint="re-run `embedstore project --from DIR --overwrite` to re-project the store",
        )
    return Projection.load(path)
