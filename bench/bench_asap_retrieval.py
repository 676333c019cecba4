"""Same-piece retrieval and passage retrieval on ../shared/data/asap-dev (a bench script, not a test).

1. Recording level: every clip queries the store (its own recording excluded); relevant = same piece_id.
   Mean average precision over all 120 queries, with chance level.
2. Passage level (the harder case): seconds 10-20 of each clip query the windows of the other performances of
   the same piece (best window per recording). The truth maps the query's bars to the other performance's time
   line through the manifest's downbeat times (both clips start at the same bar): query time -> fractional bar
   index in the query clip -> time of that bar position in the other clip. A returned window is correct when it
   covers at least half of the true passage or the true passage covers at least half of the window. Pairs whose
   true passage runs past the end of the other clip are skipped (counted).

Usage::

    python bench/bench_asap_retrieval.py [--encoders chroma,bssl,logmel,mfcc] [--settings 10:5,10:2,5:2.5,5:1]

Writes bench/results/asap_retrieval.json and .md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from embedstore.config import cache_dir, shared_data_dir
from embedstore.evaluation.retrieval import evaluate_rankings
from embedstore.pipeline import index_paths
from embedstore.search import search
from embedstore.store import Store

RESULTS = Path(__file__).resolve().parent / "results"


from embedstore.utils import machine_description as machine  # noqa: E402


def bar_position(t: float, downbeats: np.ndarray) -> float:
    """Fractional bar index of time t (0 at the first downbeat), extrapolated past the last downbeat."""
    d = np.asarray(downbeats, float)
    if len(d) < 2:
        return float("nan")
    idx = np.arange(len(d), dtype=float)
    if t <= d[-1]:
        return float(np.interp(t, d, idx))
    return float(idx[-1] + (t - d[-1]) / (d[-1] - d[-2]))


def bar_time(b: float, downbeats: np.ndarray) -> float:
    d = np.asarray(downbeats, float)
    idx = np.arange(len(d), dtype=float)
    if b <= idx[-1]:
        return float(np.interp(b, idx, d))
    return float(d[-1] + (b - idx[-1]) * (d[-1] - d[-2]))


def window_correct(ws: float, we: float, ts: float, te: float) -> bool:
    ov = max(0.0, min(we, te) - max(ws, ts))
    return ov >= 0.5 * min(we - ws, te - ts)


def run(encoders, settings, q_start=10.0, q_end=20.0):
    data = shared_data_dir()
    if data is None:
        raise SystemExit("../shared data not found (set EMBEDSTORE_SHARED)")
    root = data / "asap-dev"
    man = pd.read_csv(root / "manifest.csv")
    dbs = {r.clip_id: np.array(json.loads(r.downbeats)) for r in man.itertuples()}
    out = {
        "machine": machine(),
        "query_passage_s": [q_start, q_end],
        "recording_level": [],
        "passage_level": [],
    }
    for enc in encoders:
        for w, h in settings:
            st = Store(cache_dir() / "bench" / f"asap-{enc}.lance")
            t0 = time.perf_counter()
            rep = index_paths(
                root / "audio",
                st,
                enc,
                metadata=root / "manifest.csv",
                window_s=w,
                hop_s=h,
                poolings=("mean",),
            )
            t_index = time.perf_counter() - t0
            key = rep.setup_key
            recs = st.recordings()
            by_clip = {r.clip_id: r for r in recs.itertuples()}
            # 1. recording level (only once per encoder: use the first setting)
            if (w, h) == settings[0]:
                space = st.find_space(encoder=key, level="recording")
                es = st.load(space)
                v = es.vectors / np.linalg.norm(es.vectors, axis=1, keepdims=True)
                sim = v @ v.T
                np.fill_diagonal(sim, -np.inf)
                order = np.argsort(-sim, axis=1)[:, :-1]
                ev = evaluate_rankings(order, es.metadata["piece_id"].to_numpy())
                # the same through the public search API for a sample of queries (sanity)
                res = search(
                    st, recording_id=str(es.recording_ids[0]), encoder=key, k=3, exclude_same_recording=True
                )
                assert res.hits[0].recording_id == str(es.recording_ids[order[0, 0]])
                out["recording_level"].append(
                    {
                        "encoder": enc,
                        "window_s": w,
                        "hop_s": h,
                        "map": ev["mean"]["map"],
                        "p@1": ev["mean"]["p@1"],
                        "mrr": ev["mean"]["mrr"],
                        "chance_map": ev["chance"]["map"],
                        "n_queries": ev["mean"]["n_queries"],
                        "index_s": round(t_index, 2),
                    }
                )
                print(
                    f"{enc:8s} recording-level MAP {ev['mean']['map']:.3f} (chance {ev['chance']['map']:.3f}), "
                    f"P@1 {ev['mean']['p@1']:.3f}"
                )
            # 2. passage level
            n_ok = n_pairs = n_skip = 0
            t0 = time.perf_counter()
            for r in man.itertuples():
                q = by_clip[r.clip_id]
                res = search(
                    st,
                    recording_id=q.recording_id,
                    encoder=key,
                    start_s=q_start,
                    end_s=q_end,
                    k=10,
                    where=f"piece_id = '{r.piece_id}'",
                    exclude_same_recording=True,
                )
                b0, b1 = bar_position(q_start, dbs[r.clip_id]), bar_position(q_end, dbs[r.clip_id])
                for hit in res.hits:
                    other = hit.metadata["clip_id"]
                    ts, te = bar_time(b0, dbs[other]), bar_time(b1, dbs[other])
                    if te > 30.0 + 1e-6 or not np.isfinite(ts):
                        n_skip += 1
                        continue
                    n_pairs += 1
                    n_ok += window_correct(hit.start_s, hit.end_s, ts, te)
            share = n_ok / max(n_pairs, 1)
            out["passage_level"].append(
                {
                    "encoder": enc,
                    "window_s": w,
                    "hop_s": h,
                    "correct_share": share,
                    "pairs": n_pairs,
                    "skipped_pairs": n_skip,
                    "search_s": round(time.perf_counter() - t0, 2),
                }
            )
            print(
                f"{enc:8s} window {w:g}/{h:g}: passage windows correct {share:.3f} ({n_ok}/{n_pairs}, "
                f"{n_skip} skipped)"
            )
    return out


def write(out):
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "asap_retrieval.json").write_text(json.dumps(out, indent=2))
    lines = [
        "# asap-dev retrieval",
        "",
        f"Machine: {out['machine']}",
        "",
        "## Same-piece retrieval (120 queries, recording level, mean pooling, cosine)",
        "",
        "| encoder | window/hop (s) | MAP | P@1 | MRR | chance MAP |",
        "|---|---|---|---|---|---|",
    ]
    for r in out["recording_level"]:
        lines.append(
            f"| {r['encoder']} | {r['window_s']:g}/{r['hop_s']:g} | {r['map']:.3f} | {r['p@1']:.3f} | "
            f"{r['mrr']:.3f} | {r['chance_map']:.3f} |"
        )
    lines += [
        "",
        f"## Passage retrieval (query seconds {out['query_passage_s'][0]:g}-{out['query_passage_s'][1]:g}, "
        "best window in each other performance of the piece)",
        "",
        "| encoder | window/hop (s) | correct windows | pairs | skipped |",
        "|---|---|---|---|---|",
    ]
    for r in out["passage_level"]:
        lines.append(
            f"| {r['encoder']} | {r['window_s']:g}/{r['hop_s']:g} | {r['correct_share']:.3f} | {r['pairs']} | "
            f"{r['skipped_pairs']} |"
        )
    (RESULTS / "asap_retrieval.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--encoders", default="chroma,bssl,logmel,mfcc")
    ap.add_argument("--settings", default="10:5,10:2,5:2.5,5:1")
    a = ap.parse_args()
    sets = [tuple(float(x) for x in s.split(":")) for s in a.settings.split(",")]
    write(run(a.encoders.split(","), sets))
