"""The store's invariants: check them (:func:`verify_store`, read-only) and restore them (:func:`repair_store`).

The invariants (``docs/write-protocol.md`` explains why each holds after a crash at any write boundary):

``broken_table``
    Every table folder holds a committed version (a process killed while creating a table leaves one that does not).
``path_conflict``
    At most one recording per path.
``unmarked_recording``
    Every recording has a completion marker in at least one setup.
``orphan_marker``
    Every completion marker belongs to a recording of the ``recordings`` table.
``duplicate_marker``
    At most one marker per (setup, recording).
``stray_vectors``
    No vectors without a completion marker of their setup.
``incomplete_recording``
    A marked recording has its rows in every space of the setup: ``n_windows`` rows in each window space, one in
    each pooled space (so every space and pooling of a setup has the same rows).
``duplicate_rows``
    No row key twice in a space.

``missing_file`` (a recording whose file is gone) is reported as a note, not a failure: the store may outlive the
folder on purpose; ``embedstore index <folder> --prune`` removes such recordings.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from embedstore.store.lock import write_lock
from embedstore.store.recordings import MARKERS_TABLE, RECORDINGS_TABLE
from embedstore.store.schema import sql_in, sql_quote
from embedstore.store.sequences import SEQUENCE_LEVEL
from embedstore.utils import sha256_file

if TYPE_CHECKING:  # pragma: no cover
    from embedstore.store.core import Store

#: The invariant kinds, in the order :func:`repair_store` restores them.
KINDS = (
    "broken_table",
    "path_conflict",
    "duplicate_marker",
    "orphan_marker",
    "duplicate_rows",
    "incomplete_recording",
    "unmarked_recording",
    "stray_vectors",
)
#: Kinds left by an interrupted run (their recordings are re-indexed by the next run).
PARTIAL_KINDS = ("stray_vectors", "unmarked_recording", "incomplete_recording", "orphan_marker")


@dataclass
class Problem:
    """One failing invariant.

    Attributes
    ----------
    kind : str
        One of :data:`KINDS`.
    detail : str
        What is wrong, in one line (names the table, space or path).
    recording_ids : list of str
        The recordings concerned (empty for ``broken_table``).
    setup_key, table : str
        Where ("" when store-wide).
    """

    kind: str
    detail: str
    recording_ids: list[str] = field(default_factory=list)
    setup_key: str = ""
    table: str = ""

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return {"kind": self.kind, "detail": self.detail, "recording_ids": self.recording_ids}


@dataclass
class VerifyReport:
    """What :func:`verify_store` found: ``problems`` (failing invariants) and ``notes`` (e.g. missing files)."""

    store: str
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    missing_files: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every invariant holds."""
        return not self.problems

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "store": self.store,
            "ok": self.ok,
            "problems": [p.as_dict() for p in self.problems],
            "notes": self.notes,
            "missing_files": self.missing_files,
        }


def verify_store(st: Store) -> VerifyReport:
    """Check every invariant of a store without writing anything.

    Parameters
    ----------
    st : Store

    Returns
    -------
    VerifyReport
    """
    rep = VerifyReport(store=st.uri)
    for name in st.broken_tables():
        rep.problems.append(
            Problem(
                "broken_table", f"table {name!r} has no committed version (creation interrupted)", table=name
            )
        )
    rec = st.recordings()
    rec_ids = set(rec["recording_id"]) if len(rec) else set()
    markers = st.read_table(MARKERS_TABLE)
    mk = markers.to_pandas() if markers is not None else None
    marked_any: set[str] = set(mk["recording_id"]) if mk is not None else set()
    if len(rec):
        for path, grp in rec.groupby("path"):
            if len(grp) > 1:
                rep.problems.append(
                    Problem("path_conflict", f"{len(grp)} recordings claim {path}", list(grp["recording_id"]))
                )
        for path in rec["path"]:
            if not st.is_remote and not Path(str(path)).exists():
                rep.missing_files.append(str(path))
        unmarked = sorted(rec_ids - marked_any)
        if unmarked:
            rep.problems.append(
                Problem(
                    "unmarked_recording", f"{len(unmarked)} recordings without a completion marker", unmarked
                )
            )
    if rep.missing_files:
        rep.notes.append(
            f"{len(rep.missing_files)} recordings whose file is gone (`embedstore index <folder> --prune` "
            "removes them)"
        )
    if mk is not None and len(mk):
        for (sk, rid), n in Counter(zip(mk["setup_key"], mk["recording_id"])).items():
            if n > 1:
                rep.problems.append(Problem("duplicate_marker", f"{sk}: {n} markers for {rid}", [rid], sk))
        orphans = sorted(set(mk["recording_id"]) - rec_ids)
        if orphans:
            rep.problems.append(
                Problem("orphan_marker", f"{len(orphans)} completion markers without a recording", orphans)
            )
    for sk in st.setups():
        _verify_setup(st, sk, mk, rep)
    return rep


def _verify_setup(st: Store, sk: str, mk, rep: VerifyReport) -> None:  # noqa: ANN001 - pandas frame or None
    """The vector invariants of one setup."""
    if mk is not None and len(mk):
        mine = mk[mk["setup_key"] == sk]
        done = set(mine["recording_id"])
        n_windows = dict(zip(mine["recording_id"], mine["n_windows"])) if "n_windows" in mine.columns else {}
    else:
        done, n_windows = set(), {}
    incomplete: dict[str, list[str]] = defaultdict(list)
    spaces = st.spaces(setup_key=sk, include_sequences=True)
    if not done and all(sp.window_s == 0 for sp in spaces):
        return  # a derived space written in one step without markers (e.g. `embedstore style --write-space`)
    for sp in spaces:
        tab = st.read_table(sp.table_name, columns=["row_key", "recording_id"])
        if tab is None:
            if done and sp.level != SEQUENCE_LEVEL:
                for rid in done:
                    incomplete[rid].append(sp.space_id)
            continue
        keys = tab.column("row_key").to_numpy()
        rids = tab.column("recording_id").to_pylist()
        u, c = np.unique(keys, return_counts=True)
        if (c > 1).any():
            dup_keys = set(u[c > 1].tolist())
            dup_rids = sorted({r for k, r in zip(keys.tolist(), rids) if k in dup_keys})
            rep.problems.append(
                Problem(
                    "duplicate_rows",
                    f"{sp.space_id}: {int((c[c > 1] - 1).sum())} duplicate rows",
                    dup_rids,
                    sk,
                    sp.table_name,
                )
            )
        counts = Counter(rids)
        stray = sorted(set(counts) - done)
        if stray:
            rep.problems.append(
                Problem(
                    "stray_vectors",
                    f"{sp.space_id}: rows of {len(stray)} recordings without a completion marker",
                    stray,
                    sk,
                    sp.table_name,
                )
            )
        if sp.level == SEQUENCE_LEVEL:
            continue
        for rid in done:
            have = counts.get(rid, 0)
            if sp.level == "window":
                want = n_windows.get(rid)
                bad = have == 0 or (want is not None and have != int(want))
            else:
                bad = have != 1
            if bad:
                incomplete[rid].append(sp.space_id)
    if incomplete:
        rep.problems.append(
            Problem(
                "incomplete_recording",
                f"{sk}: {len(incomplete)} marked recordings with missing or extra rows "
                f"(e.g. {next(iter(incomplete.values()))[0]})",
                sorted(incomplete),
                sk,
            )
        )


def repair_store(st: Store) -> list[str]:
    """Restore every invariant :func:`verify_store` checks; what cannot be trusted is removed (the next ``index``
    run re-indexes those files).

    Run at the start of every ``index`` run (under the store's lock), and by ``embedstore repair``.

    Parameters
    ----------
    st : Store

    Returns
    -------
    list of str
        One line per action taken; empty when the store was healthy.
    """
    done: list[str] = []
    for _ in range(3):  # one repair can expose another (e.g. a removed marker leaves an unmarked recording)
        rep = verify_store(st)
        if rep.ok:
            break
        for p in sorted(rep.problems, key=lambda p: KINDS.index(p.kind)):
            done.append(_repair_one(st, p))
    return done


def repair_locked(st: Store) -> tuple[list[str], VerifyReport]:
    """:func:`repair_store` under the store's write lock (refused while an ``index`` run writes), then
    :func:`verify_store` again.

    Returns
    -------
    actions : list of str
    after : VerifyReport
    """
    with write_lock(st.uri):
        actions = repair_store(st)
    return actions, verify_store(st)


def _repair_one(st: Store, p: Problem) -> str:
    """Fix one problem; returns what was done."""
    if p.kind == "broken_table":
        st.remove_broken_table(p.table)
        return f"removed table folder {p.table!r} whose creation never committed"
    if p.kind == "path_conflict":
        rec = st.recordings(sql_in("recording_id", p.recording_ids))
        path = str(rec["path"].iloc[0])
        try:
            h = sha256_file(path)
        except OSError:
            h = ""
        current = rec[rec["content_hash"] == h]
        keep = str((current if len(current) else rec.sort_values("added_at")).iloc[-1]["recording_id"])
        drop = [r for r in p.recording_ids if r != keep]
        st.delete_recordings(drop)
        return f"{path}: kept recording {keep} (current content), removed {', '.join(drop)}"
    if p.kind in ("orphan_marker", "unmarked_recording"):
        ids = p.recording_ids
        if p.kind == "orphan_marker":
            st.delete_recordings(ids, keep_row=True)
            return f"removed {len(ids)} completion markers (and their vectors) without a recording"
        st.delete_rows(RECORDINGS_TABLE, sql_in("recording_id", ids))
        return f"removed {len(ids)} recordings whose indexing never completed (they are re-indexed next run)"
    if p.kind == "duplicate_marker":
        rid = p.recording_ids[0]
        where = f"setup_key = {sql_quote(p.setup_key)} AND recording_id = {sql_quote(rid)}"
        tab = st.read_table(MARKERS_TABLE, where=where)
        st.delete_rows(MARKERS_TABLE, where)
        if tab is not None and tab.num_rows:
            st.add_rows(MARKERS_TABLE, tab.slice(0, 1))
        return f"{p.setup_key}: kept one completion marker of {rid}"
    # duplicate_rows, incomplete_recording, stray_vectors: remove the setup's rows (and markers) of these
    ids = p.recording_ids
    if p.kind != "stray_vectors":
        st.delete_rows(
            MARKERS_TABLE, f"setup_key = {sql_quote(p.setup_key)} AND " + sql_in("recording_id", ids)
        )
    for sp in st.spaces(setup_key=p.setup_key, include_sequences=True):
        if p.kind != "stray_vectors" or sp.table_name == p.table:
            st.delete_rows(sp.table_name, sql_in("recording_id", ids))
    return f"{p.detail}: removed their rows (re-indexed next run)"


def audit_folder(st: Store, files: list[str | Path]) -> dict[str, list[str]]:
    """Compare a store with the audio files it should hold (every file indexable and distinct by content).

    Parameters
    ----------
    st : Store
    files : list of str or Path
        The files as they are now.

    Returns
    -------
    dict
        ``lost``: files whose content has no recording; ``duplicated``: contents with more than one recording or
        paths with more than one recording; ``stale``: recordings whose path does not hold their content.
    """
    rec = st.recordings()
    by_hash: dict[str, list[str]] = defaultdict(list)
    for f in files:
        by_hash[sha256_file(f)].append(str(Path(f).resolve()))
    stored = Counter(rec["content_hash"]) if len(rec) else Counter()
    lost = sorted(p for h, ps in by_hash.items() if h not in stored for p in ps)
    duplicated = sorted(h for h, n in stored.items() if n > 1)
    if len(rec):
        duplicated += sorted(str(p) for p, n in Counter(rec["path"]).items() if n > 1)
    stale = []
    for path, h in zip(rec["path"], rec["content_hash"]) if len(rec) else ():
        try:
            ok = sha256_file(path) == h
        except OSError:
            ok = False
        if not ok:
            stale.append(str(path))
    return {"lost": lost, "duplicated": duplicated, "stale": sorted(stale)}
