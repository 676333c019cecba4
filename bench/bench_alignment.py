"""Alignment bench: passage search, beat transfer, performer retrieval from curves, and cost (one run).

Data (dev only, ``../shared/data``; nothing here was tuned on these figures' held-out half):
- **asap-long**: 60-120 s excerpts of the 120 full asap-dev performances, each starting inside a different bar
  (``bench/alignment_eval_set.py``; rendered with ``../shared/tools/render.sh``). Truth from ASAP's downbeats,
  bar by bar.
- the shared 30 s asap-dev clips (same start bar, manifest beats) and vienna-dev (3 pianists x 4 pieces).

1. **Passage search** on asap-long: for every excerpt, 3 passages of 10 s at seeded random places query the other
   performances of the piece (a pair counts when the passage's bars lie inside the target excerpt). Correct when
   the returned span overlaps >= 50 % of the true span; boundary error = |start - true start| and |end - true
   end| pooled. Methods: (a) today's window matching (``embedstore search --windows``, chroma store, 10 s / 5 s
   windows: the best window of each target); (b) a plain chroma-statistics baseline without the project
   (librosa CENS mean+std over 10 s windows every 1 s, cosine); (c) two-stage, what ``embedstore search --start/--end``
   now does by default on a chroma store (50 window candidates from the index, then subsequence DTW around them on
   the stored frame sequences, best region per recording); (d) subsequence DTW over the whole target (no
   candidate stage).
2. **Beat transfer** (mir_eval F-measure, 70 ms): from each piece's first performer to the other three, (a) on
   the shared 30 s clips (corresponding beats: the clips start at the same bar) and (b) on asap-long (beats
   whose bar position lies in both excerpts; free-end alignment of partially overlapping excerpts).
3. **Performer retrieval across pieces** (relevant = the same pianist's other recordings; exact chance of a
   random ranking): vienna-dev and the shared asap-dev clips; window matching in interpretation mode (chroma,
   bssl) vs the style space (z-scored style statistics from alignment curves), and on vienna-dev also with MIDI
   chord asynchrony added (where note onsets are known).
3b. **PercePiano**: does the style space predict the 19 ratings? ``embedstore probe --task ratings`` (ridge, folds
   grouped by performer) on the style space vs the bssl and chroma recording embeddings.
4. **Cost**: feature extraction time per hour of audio, bytes per hour (stored sequence and feature cache),
   alignment time and memory (an hour-long pair, in a subprocess, peak RSS above the process's own), passage-search
   time.
5. **Queries/s** of passage search on a 1,000-recording store (15 s segments of asap-long), window matching vs
   refined.

Figures are reported for all pieces and separately for the development composers (used while choosing the
method: Chopin, Bach, Haydn, Mozart, Scriabin) and the held-out ones (Beethoven, Liszt, Ravel, Schubert).

Usage::

    python bench/bench_alignment.py [--parts passages,beats,performers,percepiano,qps,cost]

Writes bench/results/alignment.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from alignment_eval_set import DEV_COMPOSERS, Excerpt, build_excerpts, write_and_render  # noqa: E402

from embedstore.alignment.features import FRAME_RATE, STORED_RATE  # noqa: E402
from embedstore.alignment.subsequence import find_matches  # noqa: E402
from embedstore.alignment.sync import align_features  # noqa: E402
from embedstore.alignment.transfer import transfer_times  # noqa: E402
from embedstore.config import cache_dir, shared_data_dir  # noqa: E402
from embedstore.evaluation.stats import bootstrap_ci  # noqa: E402
from embedstore.performance.passages import passage_features  # noqa: E402
from embedstore.performance.sources import cached_features  # noqa: E402
from embedstore.pipeline import index_paths  # noqa: E402
from embedstore.search import search  # noqa: E402
from embedstore.store import Store  # noqa: E402
from embedstore.utils import dumps, machine_description  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
PASSAGE_S = 10.0
QUERIES_PER_EXCERPT = 3
AMBIGUOUS_MARGIN = 0.1  # a two-stage hit whose margin is below this is reported as ambiguous (repeated music)


def half(composer: str) -> str:
    return "dev" if composer in DEV_COMPOSERS else "held-out"


def store_for(name: str, audio_dir: Path, manifest: Path, encoder: str) -> tuple[Store, str]:
    st = Store(cache_dir() / "alignment" / f"bench-{name}-{encoder}.lance")
    rep = index_paths(audio_dir, st, encoder, metadata=manifest, window_s=10.0, hop_s=5.0, poolings=("mean",))
    return st, rep.setup_key


# ------------------------------------------------------------------------------------------ 1. passages
def plain_chroma_windows(path: Path, cache: dict) -> tuple[np.ndarray, np.ndarray]:
    """Baseline without the project: librosa CENS (default settings), mean+std over 10 s windows every 1 s."""
    if path not in cache:
        import librosa
        import soundfile as sf

        y, sr = sf.read(path, dtype="float32")
        c = librosa.feature.chroma_cens(y=y, sr=sr).T  # (n, 12), hop 512
        fr = sr / 512
        w, h = int(round(PASSAGE_S * fr)), int(round(fr))
        starts = np.arange(0, max(1, len(c) - w + 1), h)
        v = np.array([np.concatenate([c[s : s + w].mean(0), c[s : s + w].std(0)]) for s in starts])
        v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)
        cache[path] = (starts / fr, v, c, fr)
    return cache[path]


def plain_query(path: Path, s: float, e: float, cache: dict) -> np.ndarray:
    _, _, c, fr = plain_chroma_windows(path, cache)
    seg = c[int(round(s * fr)) : int(round(e * fr))]
    v = np.concatenate([seg.mean(0), seg.std(0)])
    return v / max(np.linalg.norm(v), 1e-9)


def span_scores(found: tuple[float, float], true: tuple[float, float]) -> tuple[bool, float, float]:
    overlap = max(0.0, min(found[1], true[1]) - max(found[0], true[0]))
    return overlap >= 0.5 * (true[1] - true[0]), abs(found[0] - true[0]), abs(found[1] - true[1])


def passages(ex: list[Excerpt]) -> dict:
    data_dir = cache_dir() / "alignment" / "asap-long"
    st, key = store_for("asap-long-frames", data_dir / "audio", data_dir / "manifest.csv", "chroma")
    recs = st.recordings().set_index("file_name")
    rid = {e.clip_id: recs.loc[f"{e.clip_id}.flac", "recording_id"] for e in ex}
    rng = np.random.default_rng(0)
    by_piece: dict[str, list[Excerpt]] = {}
    for e in ex:
        by_piece.setdefault(e.piece_id, []).append(e)
    plain_cache: dict = {}
    rows = []
    times = {"window": [], "two_stage": [], "plain": [], "full_dtw": []}
    for e in ex:
        qfeat = passage_features(e.audio)
        for _ in range(QUERIES_PER_EXCERPT):
            s = float(rng.uniform(0.0, e.dur - PASSAGE_S))
            q_end = s + PASSAGE_S
            targets = []
            for o in by_piece[e.piece_id]:
                if o is e:
                    continue
                t0, t1 = (float(x) for x in e.map_to(o, [s, q_end]))
                if t0 >= 0 and t1 <= o.dur:
                    targets.append((o, (t0, t1)))
            if not targets:
                continue
            where = f"piece_id = '{e.piece_id}'"
            tic = time.perf_counter()
            res = search(
                st,
                recording_id=rid[e.clip_id],
                start_s=s,
                end_s=q_end,
                windows=True,
                k=400,
                where=where,
                refine=False,
            )
            times["window"].append(time.perf_counter() - tic)
            tic = time.perf_counter()
            res2 = search(st, recording_id=rid[e.clip_id], start_s=s, end_s=q_end, k=10, where=where)
            times["two_stage"].append(time.perf_counter() - tic)
            refined_by_rec = {h.recording_id: h for h in res2.hits}
            qv = plain_query(e.audio, s, q_end, plain_cache)
            q = qfeat.slice(s, q_end)
            for o, true in targets:
                hits = [h for h in res.hits if h.recording_id == rid[o.clip_id]]
                hits.sort(key=lambda h: -h.score)
                win = (hits[0].start_s, hits[0].end_s)
                tic = time.perf_counter()
                starts, v, _, _ = plain_chroma_windows(o.audio, plain_cache)
                b = int(np.argmax(v @ qv))
                plain = (float(starts[b]), float(starts[b]) + PASSAGE_S)
                times["plain"].append(time.perf_counter() - tic)
                tic = time.perf_counter()
                of = passage_features(o.audio)
                fm = find_matches(q.chroma, of.chroma, frame_rate=of.frame_rate)
                times["full_dtw"].append(time.perf_counter() - tic)
                ref = refined_by_rec.get(rid[o.clip_id])
                full = fm[0] if fm else None
                row = {
                    "piece": e.piece_id,
                    "half": half(e.composer),
                    "query": e.clip_id,
                    "query_start": s,
                    "target": o.clip_id,
                }
                row["true"] = true
                for name, span in (
                    ("window", win),
                    ("plain", plain),
                    ("two_stage", (ref.start_s, ref.end_s) if ref else (0.0, 0.0)),
                    ("full_dtw", (full.start_s, full.end_s) if full else (0.0, 0.0)),
                ):
                    ok, e0, e1 = span_scores(span, true)
                    row[name] = {"span": span, "correct": ok, "err": [e0, e1]}
                al = (ref.alignment or {}) if ref else {}
                row["two_stage"]["confidence"] = al.get("confidence", 0.0)
                row["two_stage"]["cost"] = al.get("cost")
                row["two_stage"]["margin"] = al.get("margin")
                rows.append(row)
        print(f"  passages: {e.clip_id} done ({len(rows)} pairs)", flush=True)
    summary = {}
    for subset in ("all", "dev", "held-out"):
        rr = [r for r in rows if subset == "all" or r["half"] == subset]
        summary[subset] = {}
        for m in ("window", "plain", "two_stage", "full_dtw"):
            acc = np.array([r[m]["correct"] for r in rr], float)
            err = np.array([x for r in rr for x in r[m]["err"]])
            pieces = np.array([r["piece"] for r in rr])
            summary[subset][m] = {
                "accuracy": float(acc.mean()),
                "accuracy_ci": bootstrap_ci(np.mean, acc, groups=pieces, seed=0).as_dict(),
                "median_boundary_error_s": float(np.median(err)),
                "p90_boundary_error_s": float(np.percentile(err, 90)),
                "pairs": len(rr),
            }
    conf_ok = [r["two_stage"]["confidence"] for r in rows if r["two_stage"]["correct"]]
    conf_bad = [r["two_stage"]["confidence"] for r in rows if not r["two_stage"]["correct"]]
    mg = np.array(
        [np.nan if r["two_stage"]["margin"] is None else r["two_stage"]["margin"] for r in rows], float
    )
    ok = np.array([r["two_stage"]["correct"] for r in rows])
    flagged = ~(mg >= AMBIGUOUS_MARGIN)  # NaN (no alternative inside the candidate regions) is not flagged
    flagged &= np.isfinite(mg)
    return {
        "summary": summary,
        "confidence": {
            "median_correct": float(np.median(conf_ok)) if conf_ok else None,
            "median_wrong": float(np.median(conf_bad)) if conf_bad else None,
        },
        "margin": {
            "threshold": AMBIGUOUS_MARGIN,
            "flagged_share": float(flagged.mean()),
            "accuracy_flagged": float(ok[flagged].mean()) if flagged.any() else None,
            "accuracy_unflagged": float(ok[~flagged].mean()) if (~flagged).any() else None,
            "wrong_flagged": int((flagged & ~ok).sum()),
            "wrong": int((~ok).sum()),
        },
        "timing_s": {k: {"median": float(np.median(v)), "n": len(v)} for k, v in times.items() if v},
        "n_queries": len({(r["query"], r["query_start"]) for r in rows}),
        "rows": rows,
    }


# ------------------------------------------------------------------------------------------ 2. beats
def f_measure(ref: np.ndarray, est: np.ndarray) -> float:
    import mir_eval

    return float(mir_eval.beat.f_measure(np.sort(ref), np.sort(est), f_measure_threshold=0.07))


def beats_shared() -> list[dict]:
    import csv

    base = shared_data_dir() / "asap-dev"
    with open(base / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(r["piece_id"], []).append(r)
    out = []
    for pid, rs in sorted(by.items()):
        ref = rs[0]
        fa = cached_features(base / ref["audio"])
        ba = np.array(json.loads(ref["beats"]))
        for r in rs[1:]:
            bb = np.array(json.loads(r["beats"]))
            n = min(len(ba), len(bb))
            al = align_features(fa, cached_features(base / r["audio"]))
            est, kept = transfer_times(ba[:n], al.time_map)
            err = np.abs(al.time_map(ba[:n]) - bb[:n])
            out.append(
                {
                    "piece": pid,
                    "half": half(ref["composer"]),
                    "target": r["clip_id"],
                    "f": f_measure(bb[:n], est),
                    "median_abs_err_s": float(np.median(err)),
                    "confidence": al.confidence,
                }
            )
    return out


def beats_long(ex: list[Excerpt]) -> list[dict]:
    by: dict[str, list[Excerpt]] = {}
    for e in ex:
        by.setdefault(e.piece_id, []).append(e)
    out = []
    for pid, es in sorted(by.items()):
        ref = es[0]
        fa = cached_features(ref.audio)
        for o in es[1:]:
            al = align_features(fa, cached_features(o.audio))
            # bars both excerpts hold, 0.25 bar inside each end
            lo = max(ref.bar_position(0.0), o.bar_position(0.0)) + 0.25
            hi = min(ref.bar_position(ref.dur), o.bar_position(o.dur)) - 0.25
            if hi - lo < 2:
                continue
            rb = ref.beats[(ref.bar_position(ref.beats) >= lo) & (ref.bar_position(ref.beats) <= hi)]
            ob = o.beats[(o.bar_position(o.beats) >= lo) & (o.bar_position(o.beats) <= hi)]
            est, kept = transfer_times(rb, al.time_map)
            out.append(
                {
                    "piece": pid,
                    "half": half(ref.composer),
                    "target": o.clip_id,
                    "f": f_measure(ob, est),
                    "shared_s": float(o.time_of_bar(hi) - o.time_of_bar(lo)),
                    "dropped": int((~kept).sum()),
                    "confidence": al.confidence,
                    "valid_b": al.time_map.valid_b,
                }
            )
    return out


def beat_summary(rows: list[dict]) -> dict:
    out = {}
    for subset in ("all", "dev", "held-out"):
        rr = [r for r in rows if subset == "all" or r["half"] == subset]
        f = np.array([r["f"] for r in rr])
        out[subset] = {
            "f_mean": float(f.mean()),
            "f_ci": bootstrap_ci(np.mean, f, groups=np.array([r["piece"] for r in rr]), seed=0).as_dict(),
            "f_median": float(np.median(f)),
            "share_f_ge_0.9": float((f >= 0.9).mean()),
            "pairs": len(rr),
        }
    return out


# ------------------------------------------------------------------------------------------ 3. performers
def performers() -> list[dict]:
    from embedstore.performance.style import STYLE_VECTOR, style_table, write_style_space
    from embedstore.projections.retrieval import evaluate_retrieval, evaluate_store_retrieval

    data = shared_data_dir()
    rows = []
    for name in ("vienna-dev", "asap-dev"):
        audio, man = data / name / "audio", data / name / "manifest.csv"
        stores = {enc: store_for(name, audio, man, enc) for enc in ("chroma", "bssl")}
        st = stores["chroma"][0]
        t0 = time.perf_counter()
        tab = style_table(st)
        t_style = time.perf_counter() - t0
        space = write_style_space(st, tab, provenance={"piece_column": "piece_id", "grid_s": 1.0})
        for across in (None, "piece_id"):
            cand = "other pieces only" if across else "all other recordings"
            for enc, (s, key) in stores.items():
                sp = s.find_space(setup=key, level="recording", pooling="mean")
                r = evaluate_store_retrieval(
                    s, space=sp, relevant_by="performer_code", mode="interpretation", across=across
                )
                rows.append(perf_row(name, f"window matching, {enc}, interpretation mode", cand, r))
            r = evaluate_store_retrieval(st, space=space, relevant_by="performer_code", across=across)
            rows.append(
                perf_row(name, "style statistics (alignment curves)", cand, r, extra={"style_s": t_style})
            )
            if name == "vienna-dev":
                asyn = midi_asynchrony(man)
                recs = st.recordings().set_index("recording_id")
                z = tab[[f"z_{k}" for k in STYLE_VECTOR]].to_numpy(float)
                a = np.array([asyn.get(recs.loc[r, "clip_id"], np.nan) for r in tab["recording_id"]])
                za = np.zeros_like(a)
                for p in tab["piece"].unique():
                    m = (tab["piece"] == p).to_numpy()
                    za[m] = (a[m] - np.nanmean(a[m])) / (np.nanstd(a[m]) or 1.0)
                labels = tab["recording_id"].map(recs["performer_code"]).to_numpy()
                pieces = tab["piece"].to_numpy()
                r = evaluate_retrieval(np.column_stack([z, za]), labels, across=pieces if across else None)
                rows.append(perf_row(name, "style statistics + MIDI chord asynchrony", cand, r))
    return rows


def midi_asynchrony(manifest: Path) -> dict[str, float]:
    import csv

    import pretty_midi

    from embedstore.alignment.curves import chord_asynchrony

    out = {}
    with open(manifest, newline="") as f:
        for r in csv.DictReader(f):
            pm = pretty_midi.PrettyMIDI(str(manifest.parent / r["midi"]))
            onsets = [n.start for ins in pm.instruments for n in ins.notes]
            out[r["clip_id"]] = chord_asynchrony(onsets)
    return out


def perf_row(name: str, method: str, cand: str, r: dict, extra: dict | None = None) -> dict:
    aps = np.array([q["ap"] for q in r["per_query"]], float)
    ok = np.isfinite(aps)
    row = {
        "set": name,
        "method": method,
        "candidates": cand,
        "map": r["mean"]["map"],
        "map_ci": bootstrap_ci(np.mean, aps[ok], seed=0).as_dict(),
        "p@1": r["mean"]["p@1"],
        "chance_map": r["chance"]["map"],
        "ratio_to_chance": r["mean"]["map"] / r["chance"]["map"],
        "n_queries": r["mean"]["n_queries"],
        **(extra or {}),
    }
    print(
        f"  {name:10s} {method:45s} {cand:21s} MAP {row['map']:.3f} (chance {row['chance_map']:.3f})",
        flush=True,
    )
    return row


def percepiano() -> dict:
    """Do the style statistics predict PercePiano's ratings? ``embedstore probe`` (ridge, folds grouped by
    performer) on the style space vs the bssl and chroma recording embeddings, in one store."""
    from embedstore.performance.style import style_table, write_style_space

    data = shared_data_dir() / "percepiano-dev"
    st = Store(cache_dir() / "alignment" / "bench-percepiano.lance")
    keys = []
    for enc in ("bssl", "chroma"):
        rep = index_paths(
            data / "audio",
            st,
            enc,
            metadata=data / "manifest.csv",
            window_s=10.0,
            hop_s=5.0,
            poolings=("mean",),
        )
        keys.append(rep.setup_key)
    t0 = time.perf_counter()
    tab = style_table(st, piece_column="segment_id")
    style_s = time.perf_counter() - t0
    space = write_style_space(
        st, tab, columns="raw", provenance={"piece_column": "segment_id", "grid_s": 1.0}
    )
    out_dir = cache_dir() / "alignment" / "probe-percepiano"
    with open(data / "manifest.csv", newline="") as f:
        header = next(iter(__import__("csv").reader(f)))
    ratings = header[header.index("mean_velocity") + 1 :]
    cmd = [
        sys.executable, "-m", "embedstore.cli", "probe", "--task", "ratings", "--store", st.uri,
        "--target", ",".join(ratings),
        "--encoder", ",".join([space.setup_key, *keys]), "--group-by", "performer_code", "--probe", "ridge",
        "--out", str(out_dir), "--no-save", "--json",
    ]  # fmt: skip
    p = subprocess.run(cmd, capture_output=True, text=True)
    rows = []
    res_csv = out_dir / "results.csv"
    if p.returncode == 0 and res_csv.exists():
        import csv

        with open(res_csv, newline="") as f:
            for r in csv.DictReader(f):
                if r.get("metric") == "r2" and r.get("target") == "mean":
                    rows.append(
                        {k: r.get(k) for k in ("setup", "probe", "is_baseline", "value", "ci_low", "ci_high")}
                    )
    return {
        "command": "embedstore probe " + " ".join(cmd[4:]),
        "recordings_with_style": len(tab),
        "style_s": style_s,
        "returncode": p.returncode,
        "stderr_tail": p.stderr[-2000:],
        "summary": rows,
    }


# ------------------------------------------------------------------------------------------ 4. cost
HOUR_SCRIPT = r"""
import json, sys, time
from pathlib import Path
import numpy as np
sys.path.insert(0, sys.argv[1])
from test_alignment_dtw import known_warp, notes, warped
from embedstore.alignment.sync import align_features
rate = float(sys.argv[2])
a = notes(int(3600 * rate), seed=5, rate=rate)
b = warped(a, known_warp(int(3600 * rate * 1.1), len(a), depth=0.05))
align_features(a.slice(0, 60), b.slice(0, 66))  # compile (or load) the kernels first
def status(key):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1]) / 1024
Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
before = status("VmRSS")
t = time.perf_counter()
al = align_features(a, b)
dt = time.perf_counter() - t
w = known_warp(len(b), len(a), depth=0.05)
j = np.arange(0, len(b), 97)
err = np.abs(al.time_map.inverse()(j / rate) - w[j] / rate)
print(json.dumps({"seconds": dt, "peak_rss_mb": status("VmHWM"), "rss_before_mb": before,
                  "cells": sum(l["cells"] for l in al.levels), "levels": al.levels, "median_err_s": float(np.median(err))}))
"""


def cost(ex: list[Excerpt]) -> dict:
    from embedstore.alignment.features import features_from_file

    hours = sum(e.dur for e in ex[:12]) / 3600
    t = time.perf_counter()
    for e in ex[:12]:
        features_from_file(e.audio)
    feat_s = time.perf_counter() - t
    pair_times = []
    for e, o in zip(ex[0:40:4], ex[1:40:4]):
        fa, fb = cached_features(e.audio), cached_features(o.audio)
        t = time.perf_counter()
        align_features(fa, fb)
        pair_times.append((time.perf_counter() - t, (e.dur + o.dur) / 2))
    tests = Path(__file__).resolve().parent.parent / "tests"
    hour = {}
    warm = "import sys; sys.path.insert(0, sys.argv[1]); from test_alignment_dtw import notes, warped, known_warp; "
    warm += "from embedstore.alignment.sync import align_features; a = notes(3000); "
    warm += "align_features(a, warped(a, known_warp(3300, 3000)), max_band_cells=20000)"
    subprocess.run([sys.executable, "-c", warm, str(tests)], check=True)  # compile (and cache) the kernels
    for rate in (FRAME_RATE, STORED_RATE):
        p = subprocess.run(
            [sys.executable, "-c", HOUR_SCRIPT, str(tests), str(rate)],
            capture_output=True,
            text=True,
            check=True,
        )
        hour[f"{rate:g}"] = json.loads(p.stdout.strip().splitlines()[-1])
    return {
        "features_s_per_hour_audio": feat_s / hours,
        "features_realtime_factor": hours * 3600 / feat_s,
        "stored_bytes_per_hour": int(14 * 2 * STORED_RATE * 3600),
        "cache_bytes_per_hour": int((12 * 2 + 12 * 2 + 4 + 4) * FRAME_RATE * 3600),
        "pair_align_s_median": float(np.median([p[0] for p in pair_times])),
        "pair_mean_duration_s": float(np.mean([p[1] for p in pair_times])),
        "hour_long": hour,
    }


# ------------------------------------------------------------------------------------------ 5. queries/s
QPS_RECORDINGS = 1000
QPS_SEGMENT_S = 15.0


def qps(ex: list[Excerpt]) -> dict:
    """Passage queries per second on a 1,000-recording store (15 s segments cut from the asap-long excerpts),
    window search alone vs refined with the stored frame sequences (``embedstore search --start/--end``)."""
    import soundfile as sf

    folder = cache_dir() / "alignment" / "qps-1000"
    folder.mkdir(parents=True, exist_ok=True)
    per = int(np.ceil(QPS_RECORDINGS / len(ex)))
    made = 0
    for e in ex:
        if made >= QPS_RECORDINGS:
            break
        starts = np.linspace(0.0, max(0.0, e.dur - QPS_SEGMENT_S), per)
        y = None
        for k, s0 in enumerate(starts):
            if made >= QPS_RECORDINGS:
                break
            out = folder / f"{e.clip_id}__{k}.flac"
            if not out.exists():
                if y is None:
                    y, sr = sf.read(e.audio, dtype="float32")
                a = int(s0 * sr)
                sf.write(out, y[a : a + int(QPS_SEGMENT_S * sr)], sr)
            made += 1
    st = Store(cache_dir() / "alignment" / "bench-qps-1000.lance")
    t0 = time.perf_counter()
    rep = index_paths(folder, st, "chroma", window_s=10.0, hop_s=5.0, poolings=("mean",))
    index_s = time.perf_counter() - t0
    recs = st.recordings()
    rng = np.random.default_rng(0)
    queries = [recs.iloc[int(i)]["recording_id"] for i in rng.choice(len(recs), 40, replace=False)]
    out = {"recordings": int(len(recs)), "index_s_this_run": index_s, "added": len(rep.added)}
    for refine in (False, True):
        search(st, recording_id=queries[0], start_s=2.0, end_s=12.0, k=10, refine=refine)  # warm caches
        t0 = time.perf_counter()
        stages: dict[str, float] = {}
        for q in queries:
            r = search(st, recording_id=q, start_s=2.0, end_s=12.0, k=10, refine=refine)
            for kk, v in r.timings.items():
                stages[kk] = stages.get(kk, 0.0) + v
        dt = time.perf_counter() - t0
        out["refined" if refine else "windows"] = {
            "queries_per_s": len(queries) / dt,
            "ms_per_query": 1000 * dt / len(queries),
            "stage_ms": {kk: 1000 * v / len(queries) for kk, v in stages.items()},
        }
    print(json.dumps(out, indent=1), flush=True)
    return out


# ------------------------------------------------------------------------------------------ report
def write_report(res: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    slim = dict(res)
    if "passages" in res:  # keep the pairs some method got wrong (the JSON stays small)
        pas = dict(res["passages"])
        pas["rows"] = [
            r for r in pas["rows"] if not all(r[m]["correct"] for m in ("window", "plain", "two_stage"))
        ]
        pas["rows_kept"] = "pairs where window matching, the plain baseline or the two-stage search was wrong"
        slim["passages"] = pas
    (RESULTS / "alignment.json").write_text(dumps(slim) + "\n")
    L = ["# Alignment: passage search, beat transfer, performer retrieval from curves", ""]
    L.append(f"Command: `{res['command']}`  ")
    L.append(
        f"Machine: {res['machine']}; load average at start {res['load_start']}, at end {res['load_end']}.  "
    )
    L.append(
        "All audio is rendered from MIDI with one soundfont (synthetic timbre): absolute figures are optimistic."
    )
    L.append(
        "Development composers (used while choosing the method): "
        + ", ".join(DEV_COMPOSERS)
        + "; the others are held out."
    )
    L.append("")
    if "passages" in res:
        p = res["passages"]
        L += [
            "## 1. Passage search (asap-long: 60-120 s excerpts starting at different bars)",
            "",
            f"{p['n_queries']} queries of {PASSAGE_S:g} s, {p['summary']['all']['window']['pairs']} query-target pairs. "
            "Correct: the returned span overlaps >= 50 % of the true span. Boundary error: start and end errors pooled. "
            "95 % CIs resample pieces.",
            "",
            "| method | pieces | accuracy | median boundary error (s) | 90th pct (s) | pairs |",
            "|---|---|---|---|---|---|",
        ]
        names = {
            "window": "window matching (embedstore search --windows, chroma 10 s / 5 s)",
            "plain": "plain chroma statistics (librosa CENS mean+std, 10 s windows every 1 s)",
            "two_stage": "two-stage (embedstore search --start/--end, default: refined with stored frames)",
            "full_dtw": "subsequence DTW over the whole target",
        }
        for m, label in names.items():
            for subset in ("all", "dev", "held-out"):
                s = p["summary"][subset][m]
                ci = s["accuracy_ci"]
                L.append(
                    f"| {label} | {subset} | {s['accuracy']:.3f} [{ci['ci_low']:.3f}, {ci['ci_high']:.3f}] | "
                    f"{s['median_boundary_error_s']:.2f} | {s['p90_boundary_error_s']:.2f} | {s['pairs']} |"
                )
        mg = p.get("margin", {})
        L += [
            "",
            f"Two-stage confidence: median {p['confidence']['median_correct']:.2f} on correct hits, "
            f"{p['confidence']['median_wrong']:.2f} on wrong ones (confidence measures how well the passage matches; "
            "most wrong hits are the same music elsewhere: repeats, returning themes). The margin to the next-best "
            f"place flags {mg.get('wrong_flagged')} of the {mg.get('wrong')} wrong hits as ambiguous (margin < "
            f"{mg.get('threshold')}; {100 * mg.get('flagged_share', 0):.1f} % of all hits flagged, accuracy "
            f"{mg.get('accuracy_flagged') or 0:.3f} flagged vs {mg.get('accuracy_unflagged') or 0:.3f} unflagged).",
            "",
            "Median time: "
            + ", ".join(f"{k} {v['median'] * 1000:.1f} ms" for k, v in p["timing_s"].items())
            + " (window and two-stage: per query, one search call over the piece's 4 recordings, query embedding"
            " included; plain and full DTW: per query-target pair, features precomputed).",
            "",
        ]
    if "beats" in res:
        b = res["beats"]
        L += [
            "## 2. Beat transfer (mir_eval F-measure, 70 ms), first performer of each piece -> the other three",
            "",
            "| data | pieces | mean F | 95 % CI | median F | share of pairs with F >= 0.9 | pairs |",
            "|---|---|---|---|---|---|---|",
        ]
        for key, label in (
            ("shared", "shared 30 s clips (same start bar)"),
            ("long", "asap-long (different start bars)"),
        ):
            for subset in ("all", "dev", "held-out"):
                s = b[key]["summary"][subset]
                L.append(
                    f"| {label} | {subset} | {s['f_mean']:.3f} | [{s['f_ci']['ci_low']:.3f}, {s['f_ci']['ci_high']:.3f}] | "
                    f"{s['f_median']:.3f} | {s['share_f_ge_0.9']:.2f} | {s['pairs']} |"
                )
        worst = sorted(b["long"]["rows"], key=lambda r: r["f"])[:5]
        L += ["", "Lowest pairs on asap-long: " + "; ".join(f"{r['target']} {r['f']:.2f}" for r in worst), ""]
    if "performers" in res:
        L += [
            "## 3. Same pianist across pieces (relevant = the pianist's other recordings)",
            "",
            "| set | method | candidates | MAP [95 % CI] | P@1 | chance MAP | MAP / chance | queries |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in res["performers"]:
            ci = r["map_ci"]
            L.append(
                f"| {r['set']} | {r['method']} | {r['candidates']} | {r['map']:.3f} [{ci['ci_low']:.3f}, {ci['ci_high']:.3f}] | "
                f"{r['p@1']:.3f} | {r['chance_map']:.3f} | {r['ratio_to_chance']:.2f} | {r['n_queries']} |"
            )
        L.append("")
    if "percepiano" in res:
        q = res["percepiano"]
        L += [
            "## 3b. Do style statistics predict PercePiano ratings?",
            "",
            f"`{q['command']}` ({q['recordings_with_style']} segments with style statistics: consensus within "
            "each `segment_id`, raw statistics). Mean R² over the 19 rating dimensions, folds grouped by performer.",
            "",
            "| space | probe | mean R² [95 % CI] |",
            "|---|---|---|",
        ]
        for r in q["summary"]:
            name = (
                "baseline (training mean)" if str(r["is_baseline"]).lower() in ("true", "1") else r["probe"]
            )
            L.append(
                f"| {r['setup']} | {name} | {float(r['value']):.3f} [{float(r['ci_low']):.3f}, {float(r['ci_high']):.3f}] |"
            )
        if q["returncode"]:
            L.append(f"(probe failed: {q['stderr_tail'][-300:]})")
        L.append("")
    if "cost" in res:
        c = res["cost"]
        L += [
            "## 4. Cost",
            "",
            f"- Features (50 frames/s, with onsets): {c['features_s_per_hour_audio']:.0f} s per hour of audio "
            f"({c['features_realtime_factor']:.0f}x realtime, one process).",
            f"- Stored sequence (14 x float16 at {STORED_RATE:g} frames/s): {c['stored_bytes_per_hour'] / 1e6:.2f} MB per hour; "
            f"feature cache (50 frames/s): {c['cache_bytes_per_hour'] / 1e6:.1f} MB per hour.",
            f"- Aligning two excerpts of {c['pair_mean_duration_s']:.0f} s on average: {c['pair_align_s_median'] * 1000:.0f} ms (median).",
        ]
        for rate, h in c["hour_long"].items():
            L.append(
                f"- An hour against 66 min at {rate} frames/s (synthetic features): {h['seconds']:.1f} s, "
                f"{h['cells'] / 1e6:.1f} M DTW cells (a full grid: {3600 * float(rate) * 3960 * float(rate) / 1e6:.0f} M), "
                f"{h['peak_rss_mb'] - h['rss_before_mb']:.0f} MB above the process's {h['rss_before_mb']:.0f} MB (peak RSS), "
                f"median error {h['median_err_s'] * 1000:.0f} ms."
            )
        L.append("")
    if "qps" in res:
        q = res["qps"]
        L += [
            f"## 5. Passage queries per second, {q['recordings']}-recording store",
            "",
            "15 s segments of the asap-long excerpts, chroma 10 s / 5 s windows with stored frame sequences; 40 "
            "stored-recording queries of a 10 s passage, k = 10, backend auto, one process (see the load above).",
            "",
            "| search | queries/s | ms per query | stages (ms) |",
            "|---|---|---|---|",
        ]
        for key, label in (
            ("windows", "window matching (`--no-refine`)"),
            ("refined", "two-stage, refined (default)"),
        ):
            v = q[key]
            stages = ", ".join(f"{k2} {x:.1f}" for k2, x in v["stage_ms"].items())
            L.append(f"| {label} | {v['queries_per_s']:.1f} | {v['ms_per_query']:.0f} | {stages} |")
        L.append("")
    (RESULTS / "alignment.md").write_text("\n".join(L) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", default="passages,beats,performers,percepiano,qps,cost")
    a = ap.parse_args()
    parts = a.parts.split(",")
    old = (
        json.loads((RESULTS / "alignment.json").read_text()) if (RESULTS / "alignment.json").exists() else {}
    )
    res = {
        k: v for k, v in old.items() if k in ("passages", "beats", "performers", "percepiano", "qps", "cost")
    }
    if any(parts):
        res.update(
            command="python bench/bench_alignment.py"
            + (f" --parts {a.parts}" if a.parts != ap.get_default("parts") else ""),
            machine=machine_description(),
            load_start=[round(x, 2) for x in os.getloadavg()],
        )
    else:  # re-render the report from the results file only
        res.update({k: old[k] for k in ("command", "machine", "load_start", "load_end") if k in old})
    ex = build_excerpts()
    write_and_render(ex)
    if "passages" in parts:
        res["passages"] = passages(ex)
        print(json.dumps(res["passages"]["summary"]["all"], indent=1))
    if "beats" in parts:
        sh, lg = beats_shared(), beats_long(ex)
        res["beats"] = {
            "shared": {"summary": beat_summary(sh), "rows": sh},
            "long": {"summary": beat_summary(lg), "rows": lg},
        }
        print(json.dumps({k: v["summary"]["all"] for k, v in res["beats"].items()}, indent=1))
    if "performers" in parts:
        res["performers"] = performers()
    if "percepiano" in parts:
        res["percepiano"] = percepiano()
        print(json.dumps(res["percepiano"]["summary"], indent=1)[:3000])
    if "qps" in parts:
        res["qps"] = qps(ex)
    if "cost" in parts:
        res["cost"] = cost(ex)
        print(json.dumps({k: v for k, v in res["cost"].items() if k != "hour_long"}, indent=1))
    if any(parts):
        res["load_end"] = [round(x, 2) for x in os.getloadavg()]
    write_report(res)
    print(f"wrote {RESULTS / 'alignment.md'}")


if __name__ == "__main__":
    main()
