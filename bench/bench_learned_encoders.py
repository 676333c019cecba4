"""Benchmark: the learned encoders that ship their weights in a wheel, every layer, beside the handcrafted ones.

Two same-piece retrieval tasks on asap-dev (30 pieces x 4 performances, 30 s clips that start at the same bar);
relevant = the other performances of the query's piece; cosine; MAP with a 95 % cluster-bootstrap CI (resampling
pieces), chance MAP of a random ranking beside it; chroma is the plain baseline:

1. **recording** (easy, saturated): the mean of each clip's 10 s windows queries the other 119 clips.
2. **passage at other bars** (harder): the 10 s window starting at 20 s of each clip queries the 10 s windows
   starting at 0 s of the other 119 clips, so query and candidates hold different bars of the piece (the
   script counts the same-piece pairs whose bars overlap, from the manifest's downbeats: none unless one
   performance is twice as fast). Chosen over rendering ``asap-long`` (bench/alignment_eval_set.py, 60-120 s
   excerpts, ~3 h of audio) because it costs no extra encoding: transkun needs ~30 CPU minutes per hour of
   audio on this machine, and asap-long would triple that.

Every encoder's store is the cached ``learned-<encoder>-asap-dev.lance`` of ``bench/bench_stores.py`` (indexed
once, shared with the probe and interpretation benchmarks); its cost per hour of audio on this machine (wall and
CPU seconds, recorded when it was indexed) is in every row.

    python bench/bench_learned_encoders.py                  # basic-pitch, transkun, chroma, bssl, logmel, mfcc
    python bench/bench_learned_encoders.py --encoders basic-pitch,chroma

Writes ``bench/results/learned_encoders.md`` and ``.json`` (command, machine, load, commit).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_stores import SETS, cost_cell, open_store, read_cost  # noqa: E402  (bench/ is on sys.path)

from embedstore.evaluation.retrieval import evaluate_rankings  # noqa: E402
from embedstore.evaluation.stats import bootstrap_ci  # noqa: E402
from embedstore.utils import machine_description  # noqa: E402

RESULTS = ROOT / "bench" / "results"
ENCODERS = "basic-pitch,transkun,chroma,bssl,logmel,mfcc"
QUERY_START_S, CAND_START_S = 20.0, 0.0


def commit() -> str:
    """Short hash of the checked-out commit ('unknown' outside git)."""
    try:
        return subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True).strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def _score(sim: np.ndarray, labels: np.ndarray) -> dict:
    """MAP / P@1 of rankings by ``sim`` (query i = item i, self excluded), CI resampling pieces."""
    sim = sim.copy()
    np.fill_diagonal(sim, -np.inf)
    order = np.argsort(-sim, axis=1, kind="stable")[:, :-1]
    ev = evaluate_rankings(order, labels)
    aps = np.asarray([q["ap"] for q in ev["per_query"]], dtype=float)
    ci = bootstrap_ci(np.mean, aps, groups=labels, n_boot=1000, seed=0)
    return {
        "map": float(ev["mean"]["map"]),
        "map_ci": [float(ci.low), float(ci.high)],
        "p@1": float(ev["mean"]["p@1"]),
        "chance_map": float(ev["chance"]["map"]),
        "n_queries": int(ev["mean"]["n_queries"]),
        "ap": [round(float(a), 5) for a in aps],
    }


def _bar(t: float, db: np.ndarray) -> float:
    """Fractional bar index of clip time ``t`` (0 at the clip start, which is a downbeat)."""
    k = np.arange(len(db), dtype=float)
    if t <= db[-1]:
        return float(np.interp(t, db, k))
    return float(k[-1] + (t - db[-1]) / (db[-1] - db[-2]))


def overlapping_pairs(meta) -> tuple[int, int]:
    """(same-piece pairs whose query bars overlap the candidate's bars, all same-piece pairs)."""
    dbs = [np.asarray(json.loads(d), float) for d in meta["downbeats"]]
    pieces = meta["piece_id"].to_numpy()
    n_ov = n = 0
    for i in range(len(dbs)):
        for j in range(len(dbs)):
            if i == j or pieces[i] != pieces[j] or len(dbs[i]) < 2 or len(dbs[j]) < 2:
                continue
            n += 1
            n_ov += _bar(CAND_START_S + 10.0, dbs[j]) > _bar(QUERY_START_S, dbs[i])
    return n_ov, n


def best_rows(rows: list[dict]) -> dict:
    """encoder -> its row with the highest passage MAP."""
    out: dict = {}
    for r in rows:
        if r["encoder"] not in out or r["passage"]["map"] > out[r["encoder"]]["passage"]["map"]:
            out[r["encoder"]] = r
    return out


def paired_vs_baseline(rows: list[dict], *, labels, baseline: str = "chroma") -> dict:
    """encoder -> passage MAP difference of its best layer to the baseline, paired by query, CI by piece."""
    best = best_rows(rows)
    if baseline not in best:
        return {}
    b = np.asarray(best[baseline]["passage"]["ap"])
    out = {}
    for enc, r in best.items():
        if enc == baseline:
            continue
        a = np.asarray(r["passage"]["ap"])
        ci = bootstrap_ci(lambda x, y: float(np.mean(x - y)), a, b, groups=labels, n_boot=1000, seed=0)
        out[enc] = {"value": float(np.mean(a - b)), "ci": [float(ci.low), float(ci.high)]}
    return out


def run(encoders: list[str], *, cached_only: set[str]) -> dict:
    rows, missing, overlap, pieces = [], [], None, None
    for enc in encoders:
        got = open_store("asap-dev", enc, cached_only=cached_only)
        if got is None:
            missing.append(enc)
            continue
        st, key, cost = got
        spaces = sorted(
            (s for s in st.spaces() if s.setup_key == key and s.level == "recording" and s.pooling == "mean"),
            key=lambda s: s.layer,
        )
        for space in spaces:
            es = st.load(space)
            labels = es.metadata["piece_id"].to_numpy()
            rec = _score(_unit(es.vectors) @ _unit(es.vectors).T, labels)
            win = st.load(st.find_space(setup=key, layer=space.layer, level="window"))
            pos = {(r, round(float(s), 3)): i for i, (r, s) in enumerate(zip(win.recording_ids, win.start_s))}
            rid = list(es.recording_ids)
            q = _unit(win.vectors[[pos[(r, QUERY_START_S)] for r in rid]])
            c = _unit(win.vectors[[pos[(r, CAND_START_S)] for r in rid]])
            psg = _score(q @ c.T, labels)
            if overlap is None:
                overlap = overlapping_pairs(es.metadata)
                pieces = labels
            rows.append(
                {
                    "encoder": enc,
                    "setup": key,
                    "layer": space.layer_name,
                    "dim": int(es.vectors.shape[1]),
                    "recording": rec,
                    "passage": psg,
                    "cost": cost,
                }
            )
            print(
                f"{enc} {space.layer_name}: recording MAP {rec['map']:.3f}, passage MAP {psg['map']:.3f} "
                f"(chance {psg['chance_map']:.3f})"
            )
    diffs = paired_vs_baseline(rows, labels=pieces) if rows else {}
    return {
        "command": "python bench/bench_learned_encoders.py " + " ".join(sys.argv[1:]),
        "passage_vs_chroma": diffs,
        "machine": machine_description(),
        "load_avg": list(os.getloadavg()),
        "commit": commit(),
        "query_start_s": QUERY_START_S,
        "candidate_start_s": CAND_START_S,
        "overlapping_pairs": overlap,
        "not_run": missing,
        "rows": rows,
    }


def _cell(r: dict) -> str:
    return f"{r['map']:.3f} [{r['map_ci'][0]:.3f}, {r['map_ci'][1]:.3f}]"


def write(out: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "learned_encoders.json").write_text(json.dumps(out, indent=2))
    rows = out["rows"]
    ov = out["overlapping_pairs"] or (0, 0)
    lines = [
        "# Learned encoders (weights in their wheels), every layer, beside the handcrafted ones",
        "",
        f"Command: `{out['command'].strip()}` (commit {out['commit']})  ",
        f"Machine: {out['machine']}; load average at the end {out['load_avg'][0]:.1f}.",
        "",
        "Same-piece retrieval on asap-dev (120 clips of 30 pieces; relevant = the 3 other performances of the "
        "piece), cosine. MAP with a 95 % cluster-bootstrap CI (resampling pieces); chance = MAP of a random "
        "ranking; chroma is the plain baseline.",
        "",
        "- **recording**: mean of the 10 s windows of a clip vs the other clips (the clips all start at the same "
        "bar: the easy task, saturated).",
        f"- **passage at other bars**: the 10 s window at {out['query_start_s']:g}-{out['query_start_s'] + 10:g} s "
        f"of a clip vs the {out['candidate_start_s']:g}-{out['candidate_start_s'] + 10:g} s windows of the other "
        f"clips: query and candidates hold different bars ({ov[0]} of {ov[1]} same-piece pairs overlap by the "
        "manifest's downbeats).",
        "",
        "Cost = indexing wall / CPU seconds per hour of audio on this machine (decode + encode + write, 10 s "
        "windows; transkun at hop 10 s, the others at hop 5 s, see `bench/bench_stores.py`), recorded when the "
        "cached store was built; load average then in the JSON (4-7 on this shared 2-core machine while the "
        "learned encoders were indexed, so the wall figures are inflated: the CPU figure is the fairer one; "
        "transkun at hop 5 s would cost twice its figure). Best layer = the layer with the highest passage "
        "MAP, chosen on these queries (optimistic by the choice among the layers; every layer is listed below).",
        "",
        "## Best layer per encoder",
        "",
        "| encoder | best layer | passage MAP [95 % CI] | − chroma (paired) | passage P@1 | recording MAP "
        "[95 % CI] | chance MAP | cost (s / CPU s per hour of audio) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    diffs = out.get("passage_vs_chroma", {})
    for enc, b in best_rows(rows).items():
        n = sum(r["encoder"] == enc for r in rows)
        d = diffs.get(enc)
        dc = f"{d['value']:+.3f} [{d['ci'][0]:+.3f}, {d['ci'][1]:+.3f}]" if d else ""
        lines.append(
            f"| {enc} | {b['layer']} (of {n}) | {_cell(b['passage'])} | {dc} | {b['passage']['p@1']:.3f} | "
            f"{_cell(b['recording'])} | {b['passage']['chance_map']:.3f} | {cost_cell(b['cost'])} |"
        )
    lines += [
        "",
        "## Every layer",
        "",
        "| encoder | layer | dim | passage MAP [95 % CI] | P@1 | recording MAP [95 % CI] | P@1 | chance MAP |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['encoder']} | {r['layer']} | {r['dim']} | {_cell(r['passage'])} | {r['passage']['p@1']:.3f} | "
            f"{_cell(r['recording'])} | {r['recording']['p@1']:.3f} | {r['recording']['chance_map']:.3f} |"
        )
    lines += [
        "",
        "## Cost per hour of audio, every cached store (referenced by `probes.md` and `interpretation.md`)",
        "",
        "Indexing wall / CPU seconds per hour of audio on this machine, with the load average at the end of "
        "the run that built the store; 'not indexed' = no completed store. transkun on percepiano-dev was left "
        "out: its CPU budget here was ~60 minutes, 1,574 s went to asap-dev and 425 s to vienna-dev, and an "
        "attempt on percepiano-dev encoded 32 of its 226 segments in 392 CPU s (short segments pad to whole 10 s "
        "windows), i.e. ~45 CPU minutes for the set; it was stopped (the partial store resumes with "
        "`python bench/bench_stores.py --encoder transkun --sets percepiano-dev`).",
        "",
        "| encoder | " + " | ".join(SETS) + " |",
        "|---|" + "---|" * len(SETS),
    ]
    for enc in dict.fromkeys(r["encoder"] for r in rows):
        cells = []
        for set_ in SETS:
            c = read_cost(enc, set_)
            cells.append(f"{cost_cell(c)} (load {c['load_avg'][0]:.1f})" if c else "not indexed")
        lines.append(f"| {enc} | " + " | ".join(cells) + " |")
    if out["not_run"]:
        lines += [
            "",
            f"Not run (no cached store yet; index with `bench/bench_stores.py`): {', '.join(out['not_run'])}.",
        ]
    (RESULTS / "learned_encoders.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--encoders", default=ENCODERS)
    ap.add_argument(
        "--cached-only",
        default="transkun",
        help="encoders used only where their cached store exists (never indexed by this script)",
    )
    a = ap.parse_args()
    write(run(a.encoders.split(","), cached_only=set(a.cached_only.split(","))))
