"""Cached benchmark stores: one encoder on one shared data set, indexed once, with its indexing cost beside it.

Every benchmark that compares encoders (``bench_learned_encoders.py``, ``bench_probes.py``,
``bench_retrieval_interpretation.py``) opens its stores here, so an expensive encoder (transkun: minutes of CPU
per hour of audio) is run once per data set and reused by all of them. The store lives at
``$EMBEDSTORE_CACHE/bench/learned-<encoder>-<set>.lance`` (never in the repository) with the common benchmark
setup: 10 s windows, 5 s hop, mean pooling, every layer of the encoder. The indexing cost of the runs that
encoded something is kept in ``learned-<encoder>-<set>.cost.json`` next to it (wall and CPU seconds per hour of
audio, load average at the end, thread count), so a reused store still reports what it cost.

Usage (index ahead, e.g. the expensive encoder at low priority on one core)::

    OMP_NUM_THREADS=1 nice -n 10 python bench/bench_stores.py --encoder transkun --sets asap-dev,vienna-dev
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from embedstore.config import cache_dir, shared_data_dir  # noqa: E402
from embedstore.pipeline import index_paths  # noqa: E402
from embedstore.store import Store  # noqa: E402
from embedstore.utils import machine_description  # noqa: E402

WINDOW_S, HOP_S = 10.0, 5.0
#: Encoders indexed with a longer hop than the common 5 s to fit the CPU budget of this 2-core machine: transkun
#: encodes each window separately (~0.5 CPU s per second of window audio here), so hop 5 s would double its cost.
#: A recording-level mean over 10 s / 10 s windows differs from one over 10 s / 5 s windows only in the weight of
#: the clip edges; window-level tasks use windows that exist in both grids (starts at multiples of 10 s).
HOP_OVERRIDE = {"transkun": 10.0}
SETS = ("asap-dev", "vienna-dev", "percepiano-dev")
LEARNED = ("basic-pitch", "transkun")


def store_path(encoder: str, set_name: str) -> Path:
    """Where the cached store of ``encoder`` on ``set_name`` lives (under the embedstore cache)."""
    return cache_dir() / "bench" / f"learned-{encoder}-{set_name}.lance"


def read_cost(encoder: str, set_name: str) -> dict | None:
    """The recorded indexing cost of a cached store, or None when nothing was ever encoded into it."""
    p = store_path(encoder, set_name).with_suffix(".cost.json")
    return json.loads(p.read_text()) if p.is_file() else None


def cached_store(set_name: str, encoder: str) -> tuple[Store, str, dict] | None:
    """The cached store of ``encoder`` on ``set_name`` when an indexing run into it completed, else None.

    Never indexes: for encoders too expensive to run inside a benchmark (index them with this script first).
    A store still being written by another process has no cost file yet and counts as absent.
    """
    cost = read_cost(encoder, set_name)
    if cost is None:
        return None
    st = Store(store_path(encoder, set_name))
    keys = sorted({s.setup_key for s in st.spaces() if s.encoder == encoder})
    if len(keys) != 1:
        return None
    return st, keys[0], cost


def bench_store(set_name: str, encoder: str, *, log=print) -> tuple[Store, str, dict | None]:
    """Open (indexing what is missing) the cached store of ``encoder`` on the shared set ``set_name``.

    Returns
    -------
    (store, setup key, cost) where cost holds ``s_per_audio_hour`` (wall), ``cpu_s_per_audio_hour``,
    ``audio_h`` encoded, ``load_avg`` at the end and ``threads``; accumulated over the runs that encoded
    something (an interrupted run resumes), None when the store predates cost recording.
    """
    data = shared_data_dir()
    if data is None:
        raise SystemExit("../shared data not found (set EMBEDSTORE_SHARED)")
    root = data / set_name
    path = store_path(encoder, set_name)
    st = Store(path)
    before = set(st.recordings()["recording_id"]) if path.exists() else set()
    t0, c0 = time.perf_counter(), time.process_time()
    rep = index_paths(
        root / "audio",
        st,
        encoder,
        metadata=root / "manifest.csv",
        window_s=WINDOW_S,
        hop_s=HOP_OVERRIDE.get(encoder, HOP_S),
        poolings=("mean",),
        frames=False,
    )
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    if rep.rejected:
        log(f"  {set_name}/{encoder}: {len(rep.rejected)} files rejected")
    cost_file = path.with_suffix(".cost.json")
    cost = read_cost(encoder, set_name)
    if rep.added:
        rec = st.recordings()
        new = rec[~rec["recording_id"].isin(before)]
        audio_s = float(new["duration_s"].sum())
        prev = cost or {"wall_s": 0.0, "cpu_s": 0.0, "audio_s": 0.0, "runs": 0}
        cost = {
            "encoder": encoder,
            "set": set_name,
            "wall_s": round(prev["wall_s"] + wall, 1),
            "cpu_s": round(prev["cpu_s"] + cpu, 1),
            "audio_s": round(prev["audio_s"] + audio_s, 1),
            "runs": prev["runs"] + 1,
            "load_avg": [round(x, 2) for x in os.getloadavg()],
            "threads": int(os.environ.get("OMP_NUM_THREADS", "0")) or os.cpu_count(),
            "machine": machine_description(),
            "window_s": WINDOW_S,
            "hop_s": HOP_OVERRIDE.get(encoder, HOP_S),
        }
        h = cost["audio_s"] / 3600.0
        cost["audio_h"] = round(h, 3)
        cost["s_per_audio_hour"] = round(cost["wall_s"] / h, 1)
        cost["cpu_s_per_audio_hour"] = round(cost["cpu_s"] / h, 1)
        cost_file.write_text(json.dumps(cost, indent=2) + "\n")
        log(
            f"  {set_name}/{encoder}: +{len(rep.added)} in {wall:.0f} s wall, {cpu:.0f} s CPU "
            f"({cost['s_per_audio_hour']:,.0f} s per hour of audio)"
        )
    return st, rep.setup_key, cost


def open_store(
    set_name: str, encoder: str, *, cached_only: set[str] | frozenset[str] = frozenset(), log=print
) -> tuple[Store, str, dict | None] | None:
    """:func:`bench_store`, or :func:`cached_store` for the encoders in ``cached_only`` (None when absent)."""
    if encoder in cached_only:
        return cached_store(set_name, encoder)
    return bench_store(set_name, encoder, log=log)


def cost_cell(cost: dict | None) -> str:
    """'wall s / CPU s per hour of audio' for a table cell (blank when unknown)."""
    if not cost:
        return ""
    return f"{cost['s_per_audio_hour']:,.0f} / {cost['cpu_s_per_audio_hour']:,.0f}"


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--encoder", required=True)
    ap.add_argument("--sets", default=",".join(SETS))
    a = ap.parse_args()
    if os.environ.get("OMP_NUM_THREADS"):
        import torch

        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    for s in a.sets.split(","):
        _, key, c = bench_store(s, a.encoder)
        print(s, key, json.dumps(c))
