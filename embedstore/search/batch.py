"""Many queries in one call: :func:`search_many` resolves the space, the recordings and the index once, and ranks
every whole-recording query with one batched matrix search.

Queries are stored recordings (id, path, file name or stem), audio files, folders of audio files, a text file with
one path or id a line (:func:`expand_queries`), or every stored recording (``all_recordings=True``, each against
the rest). A query file already indexed with the setup uses its stored vector, so only unknown files are embedded.

Plain whole-recording search (the common case, and ``--all``) is one ``(q, dim)`` search through the backend's
batched search (:func:`embedstore.search.ranking.ranked`); interpretation mode computes the per-piece residuals
once and ranks every query against them. Passages, window hits and curve features are answered one query at a
time by :func:`embedstore.search.search`, in the same process and with the same open store, loaded spaces and
indexes. (``evaluate-retrieval`` ranks every item against the others with one similarity matrix already.)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embedstore.audio import is_audio_path
from embedstore.errors import ConfigError, SearchError
from embedstore.interpretation import residualize
from embedstore.search.engine import HIT_CORE_COLUMNS, _check_request, search
from embedstore.search.interpretation_mode import interpretation_search
from embedstore.search.passages import attach_best_windows
from embedstore.search.queries import query_vector
from embedstore.search.ranking import DEFAULT_MEMORY_BUDGET, load_space, ranked
from embedstore.search.results import Hit, SearchResult, hits_from_keys, plain
from embedstore.store import CORE_RECORDING_COLUMNS, Store
from embedstore.utils import sha256_file
from indexers.choose import parse_bytes

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

#: Stands in for "one query" when the request is checked before the queries are resolved.
_NO_VECTOR = np.zeros(1, np.float32)
#: One query: ``("path", "/a/b.wav")`` or ``("id", "rec-or-name")``.
Query = tuple[str, str]


def expand_queries(
    *,
    paths: Sequence[str | Path] = (),
    recording_ids: Sequence[str] = (),
    queries_from: str | Path | None = None,
) -> list[Query]:
    """The queries named by files, folders, ids and a list file, in the order given.

    Parameters
    ----------
    paths : sequence of path
        Audio files, or folders (their audio files, recursively, sorted).
    recording_ids : sequence of str
        Stored recordings (id, path, file name or stem).
    queries_from : path, optional
        A text file with one query a line: an existing path is a file (or folder), anything else a stored
        recording. Blank lines and lines starting with ``#`` are skipped.

    Returns
    -------
    list of (kind, value)
        ``kind`` is ``"path"`` or ``"id"``.
    """
    out: list[Query] = []

    def add_path(p: Path) -> None:
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and is_audio_path(f))
            if not files:
                raise ConfigError(f"no audio files in {p}")
            out.extend(("path", str(f)) for f in files)
        elif p.is_file():
            out.append(("path", str(p)))
        else:
            raise SearchError(f"query file not found: {p}")

    for p in paths:
        add_path(Path(p))
    out.extend(("id", str(r)) for r in recording_ids)
    if queries_from is not None:
        qf = Path(queries_from)
        if not qf.is_file():
            raise ConfigError(f"queries file not found: {qf}")
        for line in qf.read_text(encoding="utf-8").splitlines():
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            p = Path(s) if Path(s).is_absolute() else qf.parent / s
            if p.exists():
                add_path(p)
            elif Path(s).exists():
                add_path(Path(s))
            else:
                out.append(("id", s))
    return out


def search_many(
    store: Store | str | Path,
    queries: Sequence[Query] = (),
    *,
    all_recordings: bool = False,
    encoder: str | None = None,
    layer: int | str | None = None,
    pooling: str = "mean",
    k: int = 10,
    where: str | None = None,
    exclude_same_recording: bool = False,
    start_s: float | None = None,
    end_s: float | None = None,
    windows: bool = False,
    backend: str = "auto",
    mode: str = "plain",
    any_piece: bool = False,
    piece_column: str = "piece_id",
    refine: bool | None = None,
    features: str = "embeddings",
    memory_budget: int | str = DEFAULT_MEMORY_BUDGET,
) -> list[SearchResult]:
    """Search with many queries at once; one :class:`SearchResult` per query, in order.

    Parameters
    ----------
    store : Store, str or Path
    queries : sequence of (kind, value)
        From :func:`expand_queries`.
    all_recordings : bool
        Add every stored recording of the setup as a query (each excluded from its own hits).
    encoder, layer, pooling, k, where, exclude_same_recording, start_s, end_s, windows, backend, mode,
    any_piece, piece_column, refine, features, memory_budget
        As for :func:`embedstore.search.search`; they apply to every query.

    Returns
    -------
    list of SearchResult
        ``timings`` of each holds its share of the batch (``total`` = batch time / queries) and ``batch_total``.
    """
    t0 = time.perf_counter()
    _check_request(backend, mode, k, None, None, _NO_VECTOR, None, None)
    st = store if isinstance(store, Store) else Store(store, create=False)
    space = st.find_space(encoder=encoder, layer=layer, level="recording", pooling=pooling)
    recs = st.recordings()
    queries = list(queries)
    if all_recordings:
        done = set(st.indexed(space.setup_key).values())
        queries += [("id", r) for r in recs["recording_id"] if r in done]
        exclude_same_recording = True
    if not queries:
        raise ConfigError("no queries", hint="give --query, --id, --queries-from or --all")
    passage = start_s is not None or end_s is not None
    batched = features == "embeddings" and not passage and not windows
    if not batched:
        return [
            search(
                st,
                query_path=v if kind == "path" else None,
                recording_id=v if kind == "id" else None,
                encoder=encoder,
                layer=layer,
                pooling=pooling,
                k=k,
                where=where,
                exclude_same_recording=exclude_same_recording,
                start_s=start_s,
                end_s=end_s,
                windows=windows,
                backend=backend,
                mode=mode,
                any_piece=any_piece,
                piece_column=piece_column,
                refine=refine,
                features=features,
                memory_budget=memory_budget,
            )
            for kind, v in queries
        ]
    win_space = st.find_space(setup=space.setup_key, layer=space.layer, level="window")
    timings: dict[str, float] = {}

    t = time.perf_counter()
    es = load_space(st, space)
    lookup = _RecordingLookup(st, recs, st.indexed(space.setup_key))
    row_of = {str(r): i for i, r in enumerate(es.recording_ids)}
    qids: list[str | None] = []
    qvecs = np.zeros((len(queries), space.dim), np.float32)
    infos: list[dict[str, Any]] = []
    for i, (kind, v) in enumerate(queries):
        rid = lookup.resolve_id(v) if kind == "id" else lookup.of_file(v)
        qids.append(rid)
        info: dict[str, Any] = {"setup": space.setup_key, "layer": space.layer, "level": "recording"}
        info.update(
            {"recording_id": rid, "path": lookup.path_of(rid)}
            if kind == "id"
            else {"path": v, "recording_id": rid}
        )
        infos.append(info)
        if rid is not None and rid in row_of:
            qvecs[i] = es.vectors[row_of[rid]]
        else:
            qvecs[i] = query_vector(
                st,
                space,
                win_space,
                recording_id=rid,
                query_path=v if kind == "path" else None,
                stored_path=lookup.path_of(rid),
                vector=None,
                start_s=None,
                end_s=None,
                pooling=pooling,
            )
    timings["embed_query"] = time.perf_counter() - t

    t = time.perf_counter()
    allowed_ids: set[str] | None = set(st.recordings(where)["recording_id"]) if where else None
    allowed = None if allowed_ids is None else es.keys[np.isin(es.recording_ids, list(allowed_ids))]
    timings["filter"] = time.perf_counter() - t

    t = time.perf_counter()
    meta = _metadata_by_id(recs)
    all_hits: list[list[Hit]] = []
    if mode == "interpretation":  # residuals once, then each query against them
        pieces = _pieces(es, piece_column)
        resid = residualize(es.vectors, pieces)
        for i in range(len(queries)):
            rid = qids[i]
            hits, used = interpretation_search(
                es,
                qvecs[i],
                meta.get(rid, {}) if rid is not None else {},
                allowed_ids,
                k=k,
                windows=False,
                any_piece=any_piece,
                piece_column=piece_column,
                query_recording_id=rid,
                exclude_self=exclude_same_recording,
                residuals=resid,
            )
            if hits and hits[0].query_piece is not None:
                infos[i]["piece"] = hits[0].query_piece
            all_hits.append(hits)
        used = "exact (interpretation)"
    else:  # one (q, dim) search through the backend's batched search
        extra = 1 if exclude_same_recording else 0
        scores, keys, used = ranked(
            st, space, es, qvecs, k + extra, allowed, backend, memory_budget=parse_bytes(memory_budget)
        )
        for i in range(len(queries)):
            hits = hits_from_keys(es, scores[i], keys[i])
            if exclude_same_recording and qids[i] is not None:
                hits = [h for h in hits if h.recording_id != qids[i]]
            all_hits.append(hits[:k])
    timings["search"] = time.perf_counter() - t

    t = time.perf_counter()
    for i, hits in enumerate(all_hits):
        if hits:
            attach_best_windows(st, win_space, hits, qvecs[i])
        for h in hits:
            m = meta.get(h.recording_id)
            if m is not None:
                h.path = m.get("path", h.path)
                h.metadata = {kk: vv for kk, vv in m.items() if kk != "path"}
    timings["passages"] = time.perf_counter() - t
    timings["batch_total"] = time.perf_counter() - t0
    n = len(queries)
    share = {"total": timings["batch_total"] / n, "batch_total": timings["batch_total"], "batch_size": n}
    return [
        SearchResult(
            hits=hits, query=infos[i], space=space.space_id, backend=f"{used} (batch)", timings=share
        )
        for i, hits in enumerate(all_hits)
    ]


def search_queries(
    store: Store | str | Path,
    *,
    paths: Sequence[str | Path] = (),
    recording_ids: Sequence[str] = (),
    queries_from: str | Path | None = None,
    all_recordings: bool = False,
    **options: Any,
) -> list[SearchResult]:
    """:func:`expand_queries` then :func:`search_many` (what ``embedstore search`` runs for several queries).

    Parameters
    ----------
    store : Store, str or Path
    paths, recording_ids, queries_from
        As for :func:`expand_queries`.
    all_recordings : bool
        Every stored recording as a query.
    **options
        Keyword options of :func:`search_many` (``k``, ``where``, ``encoder``, ...).

    Returns
    -------
    list of SearchResult
        One per query, in order.
    """
    queries = expand_queries(paths=paths, recording_ids=recording_ids, queries_from=queries_from)
    return search_many(store, queries, all_recordings=all_recordings, **options)


class _RecordingLookup:
    """Stored recordings by id, path, file name and stem, and indexed content hashes, read once for a batch."""

    def __init__(self, st: Store, recs: pd.DataFrame, indexed: dict[str, str]):
        self.st = st
        self.indexed = indexed
        self.ids = set(recs["recording_id"])
        self.paths = dict(zip(recs["path"], recs["recording_id"])) if "path" in recs else {}
        self.by_id_path = {r: p for p, r in self.paths.items()}
        names = recs["file_name"].astype(str) if "file_name" in recs else []
        self.names: dict[str, list[str]] = {}
        self.stems: dict[str, list[str]] = {}
        for name, rid in zip(names, recs["recording_id"]):
            self.names.setdefault(name, []).append(rid)
            self.stems.setdefault(Path(name).stem, []).append(rid)

    def resolve_id(self, key: str) -> str:
        """The recording id of a stored recording named by id, path, file name or stem."""
        if key in self.ids:
            return key
        rid = self.paths.get(str(Path(key).resolve()))
        if rid is not None:
            return rid
        for table, k in ((self.names, Path(key).name), (self.stems, key)):
            if len(table.get(k, [])) == 1:
                return table[k][0]
        return str(self.st.recording(key)["recording_id"])  # raises the usual error

    def of_file(self, path: str) -> str | None:
        """The recording id of a query file whose content the setup indexed, else ``None``."""
        p = Path(path)
        if not p.is_file():
            raise SearchError(f"query file not found: {p}")
        return self.indexed.get(sha256_file(p))

    def path_of(self, rid: str | None) -> str | None:
        """The stored path of a recording."""
        return None if rid is None else self.by_id_path.get(rid)


def _pieces(es: Any, piece_column: str) -> np.ndarray:
    """The piece label of each row of a loaded space (a missing column is the interpretation-mode error)."""
    meta = es.metadata
    if meta is None or piece_column not in meta.columns:
        raise SearchError(
            f"interpretation mode needs a {piece_column!r} metadata column",
            hint="index with --metadata <csv with a piece column> or pass --piece-column",
        )
    return meta[piece_column].astype(str).to_numpy()


def _metadata_by_id(recs: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """recording id -> the hit metadata of :func:`embedstore.search.engine._attach_metadata` (built once)."""
    keep = [
        c for c in recs.columns if c not in CORE_RECORDING_COLUMNS or c in HIT_CORE_COLUMNS or c == "path"
    ]
    out = {}
    for row in recs[["recording_id", *[c for c in keep if c != "recording_id"]]].to_dict("records"):
        out[str(row.pop("recording_id"))] = {kk: plain(vv) for kk, vv in row.items()}
    return out
