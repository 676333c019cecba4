"""The catalogue of embedding spaces (the ``spaces`` table): declare, list, find and drop spaces.

One row per space, with the full provenance as JSON. Declaring a space again is a no-op; declaring it with other
provenance is a :class:`~embedstore.errors.ProvenanceError`, so vectors of two different models never share a table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from embedstore.errors import ProvenanceError, StoreError, check_choice
from embedstore.store.schema import LEVELS, POOLINGS, SEQUENCE_LEVEL, Space, setup_key, sql_in
from embedstore.store.tables import LanceTables

if TYPE_CHECKING:  # pragma: no cover
    from embedstore.encoders import Encoder

SPACES_TABLE = "spaces"


class SpaceCatalog(LanceTables):
    """Spaces of a store (see :class:`~embedstore.store.schema.Space`)."""

    def spaces(self, *, setup_key: str | None = None, include_sequences: bool = False) -> list[Space]:
        """Every vector space (or those of one setup), sorted by (setup, layer, level, pooling).

        ``include_sequences`` adds the setups' sequence spaces (frame sequences, :mod:`embedstore.store.sequences`),
        which hold no vectors and are left out by default.
        """
        tab = self.read_table(SPACES_TABLE)
        if tab is None:
            return []
        out = [Space.from_row(r) for r in tab.to_pylist()]
        if not include_sequences:
            out = [s for s in out if s.level != SEQUENCE_LEVEL]
        if setup_key:
            out = [s for s in out if s.setup_key == setup_key]
        return sorted(out, key=lambda s: (s.setup_key, s.layer, s.level, s.pooling))

    def space(self, space_id: str) -> Space:
        """The space with this id; a missing one is a :class:`StoreError`."""
        for s in self.spaces(include_sequences=True):
            if s.space_id == space_id:
                return s
        raise StoreError(f"no space {space_id!r} in {self.uri}")

    def setups(self) -> dict[str, dict]:
        """Encoder setups in the store.

        Returns
        -------
        dict
            setup key -> ``{"encoder", "window_s", "hop_s", "layers", "layer_names", "poolings", "dim",
            "provenance"}`` (the provenance of the setup's first space).
        """
        out: dict[str, dict] = {}
        for s in self.spaces():
            d = out.setdefault(
                s.setup_key,
                {
                    "encoder": s.encoder,
                    "window_s": s.window_s,
                    "hop_s": s.hop_s,
                    "layers": [],
                    "layer_names": [],
                    "poolings": [],
                    "dim": s.dim,
                    "provenance": s.provenance,
                },
            )
            if s.layer not in d["layers"]:
                d["layers"].append(s.layer)
                d["layer_names"].append(s.layer_name)
            if s.level == "recording" and s.pooling not in d["poolings"]:
                d["poolings"].append(s.pooling)
        return out

    def register_spaces(self, spaces: Sequence[Space]) -> None:
        """Declare spaces (idempotent). A space that exists with other provenance is a :class:`ProvenanceError`.

        The ``embedstore_version`` provenance key is ignored in the comparison.
        """
        existing = {s.space_id: s for s in self.spaces(include_sequences=True)}
        new = []
        for s in spaces:
            old = existing.get(s.space_id)
            if old is None:
                new.append(s)
                continue
            a = {k: v for k, v in old.provenance.items() if k != "embedstore_version"}
            b = {k: v for k, v in s.provenance.items() if k != "embedstore_version"}
            if a != b:
                diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
                raise ProvenanceError(
                    f"space {s.space_id} exists with other provenance (differs in: {', '.join(diff)})",
                    hint="index into a new store, or use another window/hop so the setups do not collide",
                )
        if new:
            self.add_rows(SPACES_TABLE, [s.to_row() for s in new])

    def register_setup(
        self, encoder: Encoder, *, window_s: float, hop_s: float, poolings: Sequence[str] = ("mean",)
    ) -> list[Space]:
        """Declare the spaces an encoder setup writes: every layer at window level and pooled per recording.

        Parameters
        ----------
        encoder : Encoder
            Its name, layer names, dim and provenance define the spaces.
        window_s, hop_s : float
            Analysis window and hop, seconds.
        poolings : sequence of str
            Recording-level poolings (``"mean"``, ``"max"``).

        Returns
        -------
        list of Space
            Per layer: the window space, then one recording space per pooling.
        """
        for p in poolings:
            check_choice("pooling", p, POOLINGS)
        key = setup_key(encoder.name, window_s, hop_s)
        prov = dict(encoder.provenance())
        prov.update(window_s=float(window_s), hop_s=float(hop_s))
        spaces = []
        for li, lname in enumerate(encoder.layer_names):
            for level, pooling in [("window", "none")] + [("recording", p) for p in poolings]:
                spaces.append(
                    Space(
                        setup_key=key,
                        encoder=encoder.name,
                        layer=li,
                        layer_name=lname,
                        level=level,
                        pooling=pooling,
                        window_s=float(window_s),
                        hop_s=float(hop_s),
                        dim=int(encoder.dim),
                        provenance={**prov, "layer": li, "level": level, "pooling": pooling},
                    )
                )
        self.register_spaces(spaces)
        return spaces

    def find_space(
        self,
        *,
        encoder: str | None = None,
        setup: str | None = None,
        layer: int | str | None = None,
        level: str = "recording",
        pooling: str = "mean",
        window_s: float | None = None,
        hop_s: float | None = None,
    ) -> Space:
        """Pick one space; ambiguity or absence is a :class:`StoreError` that lists what the store holds.

        Parameters
        ----------
        encoder : str, optional
            Encoder name or setup key.
        setup : str, optional
            Setup key.
        layer : int or str, optional
            Layer index, layer name or ``"last"`` (default: the last layer).
        level : str
            ``"window"`` or ``"recording"``.
        pooling : str
            Pooling of a recording-level space.
        window_s, hop_s : float, optional
            Restrict to setups with this window / hop (seconds).
        """
        check_choice("level", level, LEVELS)
        cands = self.spaces()
        if not cands:
            raise StoreError(f"store {self.uri} holds no embeddings yet", hint="run `embedstore index` first")
        allc = cands
        if setup:
            cands = [s for s in cands if s.setup_key == setup]
        if encoder:
            cands = [s for s in cands if s.encoder == encoder or s.setup_key == encoder]
        if window_s is not None:
            cands = [s for s in cands if abs(s.window_s - window_s) < 1e-9]
        if hop_s is not None:
            cands = [s for s in cands if abs(s.hop_s - hop_s) < 1e-9]
        cands = [s for s in cands if s.level == level and (level == "window" or s.pooling == pooling)]
        setups = sorted({s.setup_key for s in cands})
        if len(setups) > 1:
            raise StoreError(
                f"several encoder setups match: {', '.join(setups)}",
                hint="choose one with --encoder <setup key>",
            )
        if layer is None or layer == "last":
            layers = sorted({s.layer for s in cands})
            layer = layers[-1] if layers else 0
        elif isinstance(layer, str) and not layer.lstrip("-").isdigit():
            named = [s for s in cands if s.layer_name == layer]
            layer = named[0].layer if named else layer
        want = layer if isinstance(layer, int) else int(layer) if layer.lstrip("-").isdigit() else None
        for s in cands:
            if s.layer == want:
                return s
        have = sorted({s.space_id for s in allc})
        raise StoreError(
            f"no space for encoder={encoder or setup} layer={layer} level={level} pooling={pooling}",
            hint="the store holds: " + ", ".join(have[:12]) + (" ..." if len(have) > 12 else ""),
        )

    def drop_space(self, space: Space | str) -> None:
        """Remove a space: its vectors table, its row in ``spaces`` and its cached search indexes."""
        sp = self.space(space) if isinstance(space, str) else space
        self.drop_table(sp.table_name)
        self.delete_rows(SPACES_TABLE, sql_in("space_id", [sp.space_id]))
        self.drop_index_dir(sp.space_id)
