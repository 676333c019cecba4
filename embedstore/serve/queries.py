"""Searches the web page runs: neighbours of a stored recording, of a passage of it, or of an uploaded file.

Task
    Wrap :func:`embedstore.search.search` for the page: pick the space, apply the piece scope, describe the
    reference and the hits for display, and attach a time map per hit (:mod:`embedstore.serve.timemap`).

Conventions
    - Spaces are named by ``space_id`` (``<setup>.L<layer>.recording-<pooling>``); the map and the searches of
      one page use the same recording-level space (a passage query searches that setup and layer's windows).
    - Piece scope (``any_piece``): ``None`` keeps the library's default (plain mode searches every piece,
      interpretation mode the query's piece). ``False`` in plain mode restricts hits to the reference's piece
      (an extra ``piece_id`` condition ANDed to ``where``); ``True`` in interpretation mode searches every piece.
    - Seconds everywhere; scores are cosine similarities (interpretation mode: of the residuals).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from embedstore.errors import ConfigError, SearchError, StoreError, check_choice
from embedstore.search import MODES, search
from embedstore.serve.catalog import RECHECK_S, Catalog
from embedstore.serve.timemap import WindowVectors, time_maps
from embedstore.store import Space, Store, sql_in

PIECE_COLUMN = "piece_id"


class Spaces:
    """The store's spaces, re-read when the ``spaces`` table changes (checked at most every second)."""

    def __init__(self, store: Store):
        self.store = store
        self._all: list[Space] | None = None
        self._version: int | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def all(self) -> list[Space]:
        """Every space of the store (sorted by setup, layer, level, pooling)."""
        if self._all is not None and time.monotonic() - self._checked < RECHECK_S:
            return self._all
        with self._lock:
            v = self.store.table_version("spaces") if self.store.has_table("spaces") else -1
            self._checked = time.monotonic()
            if self._all is None or v != self._version:
                self._all, self._version = self.store.spaces(), v
            return self._all

    def recording_level(self) -> list[Space]:
        """Recording-level spaces (the ones a page can search and map)."""
        return [s for s in self.all() if s.level == "recording"]

    def default(self) -> Space:
        """The space a page starts with: mean pooling, last layer, first setup (alphabetically)."""
        spaces = self.recording_level()
        if not spaces:
            raise StoreError(
                f"store {self.store.uri} holds no embeddings yet", hint="run `embedstore index` first"
            )
        setup = sorted({s.setup_key for s in spaces})[0]
        cands = [s for s in spaces if s.setup_key == setup]
        mean = [s for s in cands if s.pooling == "mean"] or cands
        return max(mean, key=lambda s: s.layer)

    def resolve(self, space_id: str | None) -> Space:
        """A recording-level space by id (``None``: :meth:`default`)."""
        if not space_id:
            return self.default()
        for s in self.recording_level():
            if s.space_id == space_id:
                return s
        have = ", ".join(s.space_id for s in self.recording_level()[:12])
        raise StoreError(f"no recording-level space {space_id!r}", hint=f"spaces of this store: {have}")

    def window_of(self, space: Space) -> Space | None:
        """The window-level space of the same setup and layer, if stored."""
        for s in self.all():
            if s.setup_key == space.setup_key and s.layer == space.layer and s.level == "window":
                return s
        return None


def neighbours(
    store: Store,
    catalog: Catalog,
    windows: WindowVectors | None = None,
    *,
    spaces: Spaces | None = None,
    recording_id: str | None = None,
    query_path: str | Path | None = None,
    query_name: str | None = None,
    space_id: str | None = None,
    k: int = 10,
    start_s: float | None = None,
    end_s: float | None = None,
    where: str | None = None,
    mode: str = "plain",
    any_piece: bool | None = None,
    exclude_self: bool = True,
) -> dict:
    """Run one search and describe it for the page.

    Parameters
    ----------
    store, catalog : the open store and its :class:`~embedstore.serve.catalog.Catalog`
    windows : cache of window vectors for the time maps (``None``: time maps by equal offsets only)
    spaces : cache of the store's spaces (``None``: read them now)
    recording_id : a stored recording (exact id), or
    query_path : an audio file to embed exactly as the store's setup (``search --query``)
    query_name : the name shown for an uploaded file
    space_id : recording-level space (default: :meth:`Spaces.default`)
    k : number of hits, 1..1000
    start_s, end_s : a passage of the query, seconds
    where : SQL filter over the recordings table (validated by the store)
    mode : ``plain`` or ``interpretation``
    any_piece : piece scope (see the module docstring)
    exclude_self : leave the query's own recording out of the hits

    Returns
    -------
    dict
        ``query``, ``reference`` (the query recording as :meth:`Catalog.describe` shows it, or the upload's
        name), ``space``, ``backend``, ``timings_ms`` and ``hits`` (each: ``rank``, ``score``, ``start_s``,
        ``end_s``, the recording's display fields and ``time_map``).
    """
    t0 = time.perf_counter()
    check_choice("mode", mode, MODES)
    if not 1 <= int(k) <= 1000:
        raise ConfigError(f"k must be between 1 and 1000 (got {k})")
    if (recording_id is None) == (query_path is None):
        raise ConfigError("give exactly one query: a stored recording id or an uploaded file")
    passage = None
    if start_s is not None or end_s is not None:
        a = 0.0 if start_s is None else float(start_s)
        b = float("inf") if end_s is None else float(end_s)
        if not (a >= 0 and b > a):
            raise ConfigError(f"a passage needs 0 <= start < end (got start={start_s}, end={end_s})")
        passage = (a, b)
    spaces = spaces or Spaces(store)
    space = spaces.resolve(space_id)
    ref_row = None
    if recording_id is not None:
        ref_row = catalog.get(recording_id)
        if ref_row is None:
            raise StoreError(f"no recording {recording_id!r}", hint="list them with GET /api/recordings")
    piece = None if ref_row is None else ref_row.get(PIECE_COLUMN)
    full_where = where or None
    if mode == "plain" and any_piece is False:
        if PIECE_COLUMN not in catalog.frame().columns:
            raise SearchError(
                f"'same piece' needs a {PIECE_COLUMN!r} metadata column",
                hint="index with --metadata <csv with a piece_id column>",
            )
        if piece is not None:
            cond = sql_in(PIECE_COLUMN, [str(piece)])
            full_where = cond if not where else f"({where}) AND {cond}"
    res = search(
        store,
        recording_id=recording_id,
        query_path=query_path,
        encoder=space.setup_key,
        layer=space.layer,
        pooling=space.pooling,
        k=int(k),
        where=full_where,
        exclude_same_recording=exclude_self,
        start_s=None if passage is None else passage[0],
        end_s=None if passage is None or passage[1] == float("inf") else passage[1],
        mode=mode,
        any_piece=bool(any_piece),
        piece_column=PIECE_COLUMN,
    )
    q_rid = res.query.get("recording_id")
    if ref_row is None and q_rid:
        ref_row = catalog.get(str(q_rid))  # an uploaded file that is already in the store
    maps = time_maps(
        res.hits,
        windows=windows,
        window_space=spaces.window_of(space),
        query_recording_id=None if q_rid is None else str(q_rid),
        query_passage=passage if passage is None or passage[1] != float("inf") else None,
    )
    hits = []
    for i, (h, tm) in enumerate(zip(res.hits, maps), 1):
        d = catalog.shown(h.recording_id) or catalog.describe({"recording_id": h.recording_id})
        d.update(
            rank=i, score=round(float(h.score), 4), start_s=tm["hit_passage"][0], end_s=tm["hit_passage"][1]
        )
        d["time_map"] = tm
        hits.append(d)
    if ref_row is not None:
        reference = catalog.shown(str(ref_row["recording_id"])) or catalog.describe(ref_row)
    else:
        reference = {"recording_id": None, "title": query_name or "uploaded file", "upload": True}
    return {
        "query": {
            "recording_id": None if q_rid is None else str(q_rid),
            "upload": query_name if query_path is not None else None,
            "start_s": None if passage is None else passage[0],
            "end_s": None if passage is None or passage[1] == float("inf") else passage[1],
            "mode": mode,
            "any_piece": any_piece,
            "where": where or None,
            "piece": None if piece is None else str(piece),
            "k": int(k),
        },
        "reference": reference,
        "space": space.space_id,
        "searched_space": res.space,
        "backend": res.backend,
        "timings_ms": {
            **{kk: round(v * 1000, 1) for kk, v in res.timings.items()},
            "server_total": round((time.perf_counter() - t0) * 1000, 1),
        },
        "hits": hits,
    }
