"""The folder and the store agree: renamed files keep their recording, overwritten files lose the old one, files that
are gone are reported (and removed with ``prune``). See ``docs/write-protocol.md``."""

from __future__ import annotations

from pathlib import Path

from embedstore.pipeline.report import IndexReport
from embedstore.store import Store


def agree_with_folder(store: Store, seen_paths: dict[str, str], report: IndexReport, *, prune: bool) -> bool:
    """Bring the store in line with the folder after a complete run.

    Recordings whose path no longer holds their content are moved (the content is at another path read by this
    run: the recording takes the new path, keeping its vectors), overwritten (the path holds other content: removed,
    like a changed file) or missing (the file is gone: reported, removed with ``prune``).

    Parameters
    ----------
    store : Store
    seen_paths : dict
        path -> content hash of every input the run read.
    report : IndexReport
        ``moved``, ``overwritten``, ``missing`` and ``pruned`` are filled in.
    prune : bool

    Returns
    -------
    bool
        Whether anything was written.
    """
    rec = store.recordings()
    if rec.empty:
        return False
    content_at: dict[str, str] = {}
    for path, h in seen_paths.items():
        content_at.setdefault(h, path)
    claimed = set(rec["path"])
    moves, overwritten, missing = [], [], []
    for rid, path, h in zip(rec["recording_id"], rec["path"], rec["content_hash"]):
        now = seen_paths.get(path)
        if now == h or (now is None and Path(path).exists()):
            continue  # agrees, or outside the folders of this run
        new_path = content_at.get(h)
        if new_path is not None and (new_path not in claimed or seen_paths.get(new_path) == h):
            moves.append({"recording_id": rid, "path": new_path, "file_name": Path(new_path).name})
            report.moved.append((path, new_path))
            claimed.add(new_path)
        elif now is not None:
            overwritten.append(rid)
            report.overwritten.append(path)
        else:
            missing.append(rid)
            report.missing.append(path)
    if moves:
        store.update_metadata(moves)
    gone = overwritten + (missing if prune else [])
    if gone:
        store.delete_recordings(gone)
        report.pruned = len(missing) if prune else 0
    return bool(moves or gone)
