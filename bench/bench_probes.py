"""Probe benchmarks (a bench script, not a test): speed of the batched sweep, and probe quality on ../shared/data.

1. Speed: 13 layers x 5 grouped folds x 3 tasks (difficulty: classification + ordinal heads; technique: 7 labels;
   ratings: 19 targets) on 10,000 synthetic items of dim 768 with the closed-form ``ridge`` probe (inner-split
   alpha selection, refit per fold), then the same sweep's metrics with bootstrap CIs. Target: the sweep under
   30 s on 2 cores. The batched logistic probe is timed on the difficulty task too (reported, no target).
2. Quality, for the handcrafted encoders (chroma, logmel, mfcc, bssl) and the learned ones whose weights ship in
   their wheels (basic-pitch, transkun; every layer), 10 s windows, 5 s hop (transkun 10 s), mean pooling:
   - asap-dev difficulty (Henle levels of 23 pieces, 92 clips), 5 folds grouped by piece: ±1 accuracy (and
     accuracy, MAE) of the linear probes vs the majority baseline;
   - percepiano-dev ratings (19 PercePiano dimensions, 227 segments), folds grouped by performer (5 players):
     R² (mean over dimensions, and per dimension) vs the training-mean baseline;
   - percepiano-dev ranking: pairs derived from a rating within a passage ("Interpretation ... Convincing", and
     "Timbre_Soft_Loud" as an acoustic sanity check), folds grouped by piece: pairwise accuracy vs chance.
   Stores are built once in the embedstore cache (``$EMBEDSTORE_CACHE/bench/learned-<encoder>-<set>.lance``, by
   ``bench/bench_stores.py``, shared with the other benchmarks) and reused; transkun is never indexed here
   (``--cached-only``): index it ahead with ``bench/bench_stores.py``.

Usage::

    python bench/bench_probes.py [--speed-only | --quality-only] [--encoders chroma,logmel,mfcc,bssl,basic-pitch,transkun]
                                 [--n-items 10000] [--dim 768] [--threads 2]

Writes bench/results/probes.json and bench/results/probes.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
PERCEPIANO_RATINGS = (
    "Timing_Stable_Unstable",
    "Articulation_Short_Long",
    "Articulation_Soft_cushioned_Hard_solid",
    "Pedal_Sparse/dry_Saturated/wet",
    "Pedal_Clean_Blurred",
    "Timbre_Even_Colorful",
    "Timbre_Shallow_Rich",
    "Timbre_Bright_Dark",
    "Timbre_Soft_Loud",
    "Dynamic_Sophisticated/mellow_Raw/crude",
    "Dynamic_Little_dynamic_range_Large_dynamic_range",
    "Music_Making_Fast_paced_Slow_paced",
    "Music_Making_Flat_Spacious",
    "Music_Making_Disproportioned_Balanced",
    "Music_Making_Pure_Dramatic/expressive",
    "Emotion_&_Mood_Optimistic/pleasant_Dark",
    "Emotion_&_Mood_Low_Energy_High_Energy",
    "Emotion_&_Mood_Honest_Imaginative",
    "Interpretation_Unsatisfactory/doubtful_Convincing",
)
CONVINCING = "Interpretation_Unsatisfactory/doubtful_Convincing"  # the closest to an expertise judgement
SOFT_LOUD = "Timbre_Soft_Loud"  # an acoustic rating: a sanity check that the ranking probe learns when it can


from embedstore.utils import machine_description as machine  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_learned_encoders import commit  # noqa: E402


# ---------------------------------------------------------------------------------------------- speed
def synthetic_tasks(n: int, L: int, d: int, seed: int = 0):
    """A feature stack (L, n, d) whose deeper layers carry three tasks' labels, and the three TaskData."""
    from embedstore.probes.tasks import TaskData

    rng = np.random.default_rng(seed)
    n_pieces = n // 20
    piece = rng.integers(0, n_pieces, n)
    level = (piece % 9) + 1
    tech = (rng.random((n, 7)) < 0.2).astype(np.int8)
    ratings = rng.normal(size=(n, 19))
    X = rng.standard_normal((L, n, d), dtype=np.float32)
    for li in range(L):
        s = li / (L - 1)
        X[li, :, 0] += s * level
        X[li, :, 1:8] += 2 * s * tech
        X[li, :, 8:27] += s * ratings.astype(np.float32)
    groups = np.array([f"p{p}" for p in piece])
    ids = np.array([f"r{i}" for i in range(n)], dtype=object)
    t_diff = TaskData(
        "difficulty",
        ("classification", "ordinal"),
        ids,
        groups,
        "piece_id",
        y=level.astype(np.int64),
        target_names=["level"],
        classes=list(range(1, 10)),
        numeric_classes=True,
    )
    t_tech = TaskData(
        "technique",
        ("multilabel",),
        ids,
        groups,
        "piece_id",
        y=tech,
        target_names=[f"t{j}" for j in range(7)],
        classes=[f"t{j}" for j in range(7)],
    )
    t_rat = TaskData(
        "ratings",
        ("regression",),
        ids,
        groups,
        "piece_id",
        y=ratings,
        target_names=[f"r{j}" for j in range(19)],
    )
    return X, [t_diff, t_tech, t_rat]


def bench_speed(n: int, L: int, d: int, *, n_boot: int = 200, log=print) -> dict:
    from embedstore.probes.benchmark import (
        ProbeOptions,
        cross_validate,
        cross_validate_many,
        evaluate_head,
        make_folds,
    )
    from embedstore.probes.linear import GramCache

    X, tasks = synthetic_tasks(n, L, d)
    opts = ProbeOptions(n_splits=5, n_boot=n_boot)
    t0 = time.perf_counter()
    c0 = time.process_time()
    cache = GramCache(X)
    # the three tasks label the same items, so they share folds (grouped by piece) and are solved together
    folds = make_folds(tasks[1], opts)
    jobs = [(t, h) for t in tasks for h in t.heads]
    cvs = list(
        zip(
            cross_validate_many(
                X, jobs, probe="ridge", folds=folds, opts=opts, layers=list(range(L)), cache=cache
            ),
            [t for t, _ in jobs],
        )
    )
    t_fit = time.perf_counter() - t0
    c_fit = time.process_time() - c0
    log(f"sweep: {t_fit:.1f} s wall, {c_fit:.1f} s CPU")
    t1 = time.perf_counter()
    c1 = time.process_time()
    rows = [r for cv, t in cvs for r in evaluate_head(cv, t, opts)]
    t_eval = time.perf_counter() - t1
    c_eval = time.process_time() - c1
    log(f"metrics + CIs: {t_eval:.1f} s wall, {c_eval:.1f} s CPU")
    best = {}
    for r in rows:
        if r["metric"] in ("accuracy", "map", "r2") and r["target"] in ("", "mean"):
            k = f"{r['head']}/{r['metric']}"
            best[k] = max(best.get(k, -np.inf), r["value"])
    # logistic on the difficulty classification head, one fold (reported, no target)
    t2 = time.perf_counter()
    c2 = time.process_time()
    cross_validate(
        X,
        tasks[0],
        probe="logistic",
        head="classification",
        folds=folds[:1],
        opts=ProbeOptions(n_splits=5, lams=(1e-3, 1e-2), logistic_max_iter=50),
        layers=list(range(L)),
    )
    t_log = time.perf_counter() - t2
    c_log = time.process_time() - c2
    return {
        "n_items": n,
        "layers": L,
        "dim": d,
        "folds": 5,
        "tasks": 3,
        "heads": len(cvs),
        "probe": "ridge (closed form, 7 alphas on a grouped inner split, refit per fold); the 4 heads share "
        "folds, Gram matrices and factorisations, each picks its own alpha per layer",
        "sweep_seconds": round(t_fit, 2),
        "sweep_cpu_seconds": round(c_fit, 2),
        "metrics_ci_seconds": round(t_eval, 2),
        "metrics_ci_cpu_seconds": round(c_eval, 2),
        "n_boot": n_boot,
        "target_seconds": 30.0,
        "meets_target": bool(t_fit < 30.0),
        "logistic_difficulty_seconds": round(t_log, 2),
        "logistic_difficulty_cpu_seconds": round(c_log, 2),
        "load_average_at_end": list(os.getloadavg()),
        "logistic_note": "batched L-BFGS over 13 layers x 2 strengths, max 50 iterations, difficulty "
        "classification head, ONE fold (selection fit + refit)",
        "best_scores_sanity": {k: round(v, 3) for k, v in best.items()},
    }


# ---------------------------------------------------------------------------------------------- quality
def open_stores(name: str, encoders, log, cached_only=frozenset()) -> list[tuple[object, str, dict | None]]:
    """The cached store of every encoder on the shared set ``name`` (``bench/bench_stores.py``; one store per
    encoder, shared with the other benchmarks), as (store, setup key, indexing cost); encoders in ``cached_only``
    without a completed store are skipped (logged)."""
    from bench_stores import open_store

    out = []
    for enc in encoders:
        got = open_store(name, enc, cached_only=cached_only, log=log)
        if got is None:
            log(f"  {name}/{enc}: no cached store (index it with bench/bench_stores.py): skipped")
            continue
        out.append(got)
    return out


def probe_all(stores, task_args: dict, probes, opts, log):
    """``run_probe`` on every store (its own task: recordings can differ by a duplicate), rows pooled."""
    from embedstore.probes.benchmark import load_task, run_probe

    rows, task = [], None
    for st, setup, _ in stores:
        t = load_task(st, **task_args)
        task = task or t
        # the encoder's own setup only: projection benchmarks may have added projected spaces to the cached store
        rows += run_probe(st, t, encoders=[setup], probes=probes, opts=opts, progress=log).rows
    return task, rows


def _layers(rows, setup) -> list[str]:
    return list(dict.fromkeys(r["layer_name"] for r in rows if r["setup"] == setup and not r["is_baseline"]))


def _pick(rows, *, setup, head, metric, target="", baseline=False, probe=None, layer=None):
    out = [
        r
        for r in rows
        if r["setup"] == setup
        and r["head"] == head
        and r["metric"] == metric
        and r["target"] == target
        and bool(r["is_baseline"]) == baseline
        and (probe is None or r["probe"] == probe)
        and (layer is None or baseline or r.get("layer_name") == layer)
    ]
    return out


def _est(r) -> dict:
    return {
        "value": round(float(r["value"]), 4),
        "ci": [round(float(r["ci_low"]), 4), round(float(r["ci_high"]), 4)],
        "fold_mean": round(float(r["fold_mean"]), 4),
        "fold_std": round(float(r["fold_std"]), 4),
        "layer": r["layer"],
        "layer_name": r.get("layer_name", str(r["layer"])),
        "probe": r["probe"],
    }


def _costs(stores) -> dict:
    return {key: cost for _, key, cost in stores}


def _not_run(stores, encoders) -> list[str]:
    have = {st_key.split("-w")[0] for _, st_key, _ in stores}
    return [e for e in encoders if e not in have]


def bench_quality(data: Path, encoders, log, *, n_boot: int = 1000, cached_only=frozenset()) -> dict:
    """Difficulty, ratings and ranking probes for every encoder (every layer; the best layer is headlined)."""
    from embedstore.probes.benchmark import ProbeOptions

    opts = ProbeOptions(n_splits=5, n_boot=n_boot)
    out: dict = {"costs": {}, "not_run": {}}
    # --- asap-dev difficulty
    stores = open_stores("asap-dev", encoders, log, cached_only)
    out["costs"]["asap-dev"] = _costs(stores)
    out["not_run"]["asap-dev"] = _not_run(stores, encoders)
    t, rows = probe_all(
        stores,
        {"task": "difficulty", "target": "henle", "group_by": "piece_id"},
        ["linear", "mlp"],
        opts,
        log,
    )
    res = {
        "recordings": t.n,
        "pieces": int(len(set(t.groups))),
        "classes": t.classes,
        "per_encoder": {},
        "per_layer": {},
    }
    for setup in dict.fromkeys(r["setup"] for r in rows):
        per_layer = {}
        for layer in _layers(rows, setup):
            e = {}
            for head in ("classification", "ordinal"):
                for metric in ("within1_accuracy", "accuracy", "mae"):
                    base = _pick(rows, setup=setup, head=head, metric=metric, baseline=True)
                    for probe in ("linear", "mlp"):
                        m = _pick(rows, setup=setup, head=head, metric=metric, probe=probe, layer=layer)
                        if m:
                            e[f"{head}/{probe}/{metric}"] = _est(m[0])
                    if base:
                        e[f"{head}/majority/{metric}"] = _est(base[0])
            per_layer[layer] = e
        best = max(per_layer, key=lambda k: per_layer[k]["ordinal/linear/within1_accuracy"]["value"])
        res["per_encoder"][setup] = {**per_layer[best], "best_layer": best, "n_layers": len(per_layer)}
        if len(per_layer) > 1:
            res["per_layer"][setup] = per_layer
    out["asap_difficulty"] = res
    # --- percepiano-dev ratings (grouped by performer) and ranking (grouped by piece)
    stores = open_stores("percepiano-dev", encoders, log, cached_only)
    out["costs"]["percepiano-dev"] = _costs(stores)
    out["not_run"]["percepiano-dev"] = _not_run(stores, encoders)
    t, rows = probe_all(
        stores,
        {"task": "ratings", "target": list(PERCEPIANO_RATINGS), "group_by": "performer_code"},
        ["ridge"],
        opts,
        log,
    )
    res = {
        "recordings": t.n,
        "performers": int(len(set(t.groups))),
        "targets": len(t.target_names),
        "per_encoder": {},
        "per_layer": {},
    }
    for setup in dict.fromkeys(r["setup"] for r in rows):
        per_layer = {}
        for layer in _layers(rows, setup):
            kw = {"setup": setup, "head": "regression", "layer": layer}
            e = {
                "mean/r2": _est(_pick(rows, **kw, metric="r2", target="mean", probe="ridge")[0]),
                "mean/r2_baseline": _est(_pick(rows, **kw, metric="r2", target="mean", baseline=True)[0]),
                "mean/pearson": _est(_pick(rows, **kw, metric="pearson", target="mean", probe="ridge")[0]),
            }
            per = {}
            for tgt in PERCEPIANO_RATINGS:
                m = _pick(rows, **kw, metric="r2", target=tgt, probe="ridge")
                b = _pick(rows, **kw, metric="r2", target=tgt, baseline=True)
                per[tgt] = {"r2": round(float(m[0]["value"]), 4), "baseline": round(float(b[0]["value"]), 4)}
            e["per_target_r2"] = per
            per_layer[layer] = e
        best = max(per_layer, key=lambda k: per_layer[k]["mean/r2"]["value"])
        res["per_encoder"][setup] = {**per_layer[best], "best_layer": best, "n_layers": len(per_layer)}
        if len(per_layer) > 1:
            res["per_layer"][setup] = {
                k: {x: v[x] for x in ("mean/r2", "mean/pearson")} for k, v in per_layer.items()
            }
    out["percepiano_ratings"] = res
    out["percepiano_ranking"] = {}
    for rating in (CONVINCING, SOFT_LOUD):
        t, rows = probe_all(
            stores,
            {"task": "ranking", "pairs_from": rating, "within": "segment_id", "group_by": "piece_id"},
            ["linear"],
            opts,
            log,
        )
        res = {"pairs": int(len(t.pairs)), "recordings": t.n, "rating": rating, "per_encoder": {}}
        # reference: rank by the segment's mean MIDI velocity (metadata, not audio) - a near-oracle loudness cue
        st = stores[0][0]
        vel = (
            st.recordings()
            .set_index("recording_id")
            .loc[list(t.recording_ids), "mean_velocity"]
            .to_numpy(float)
        )
        dv = vel[t.pairs[:, 0]] - vel[t.pairs[:, 1]]
        res["mean_velocity_reference_accuracy"] = round(
            float(np.mean(np.where(dv == 0, 0.5, (dv > 0) == t.pair_labels))), 4
        )
        for setup in dict.fromkeys(r["setup"] for r in rows):
            layers = _layers(rows, setup)
            kw = {"setup": setup, "head": "ranking"}

            def acc(layer, kw=kw, rows=rows):
                return _pick(rows, **kw, metric="pairwise_accuracy", probe="linear", layer=layer)[0]

            best = max(layers, key=lambda k: acc(k)["value"])
            b = _pick(rows, **kw, metric="pairwise_accuracy", baseline=True)
            a = _pick(rows, **kw, metric="antisymmetry_error", probe="linear", layer=best)
            i = _pick(rows, **kw, metric="intransitive_share", probe="linear", layer=best)
            res["per_encoder"][setup] = {
                "pairwise_accuracy": _est(acc(best)),
                "chance": _est(b[0]),
                "antisymmetry_error": float(a[0]["value"]),
                "intransitive_share": float(i[0]["value"]),
                "best_layer": best,
                "n_layers": len(layers),
            }
        out["percepiano_ranking"][rating] = res
    return out


# ---------------------------------------------------------------------------------------------- output
def _ci(e: dict) -> str:
    return f"{e['value']:.3f} [{e['ci'][0]:.3f}, {e['ci'][1]:.3f}]"


def _setup_name(setup: str, e: dict) -> str:
    """Setup key, with the best layer for a multi-layer encoder."""
    n = e.get("n_layers", 1)
    return setup if n == 1 else f"{setup} ({e['best_layer']}, best of {n})"


def _cost_table(q: dict) -> list[str]:
    md = [
        "Cost of every encoder: indexing wall / CPU seconds per hour of audio on this machine, recorded when its "
        "cached store was built (decode + encode + write; load average then in `probes.json`):",
        "",
        "| set | encoder | cost (s / CPU s per hour of audio) |",
        "|---|---|---|",
    ]
    for set_, costs in q.get("costs", {}).items():
        for setup, c in costs.items():
            cell = (
                f"{c['s_per_audio_hour']:,.0f} / {c['cpu_s_per_audio_hour']:,.0f}" if c else "(not recorded)"
            )
            md.append(f"| {set_} | {setup} | {cell} |")
    for set_, missing in q.get("not_run", {}).items():
        if missing:
            md.append(
                f"\nNot run on {set_}: {', '.join(missing)} (no completed cached store; transkun needs ~30 CPU "
                "minutes per hour of audio here and was indexed within a CPU budget, see `learned_encoders.md`)."
            )
    return md + [""]


def _per_layer_difficulty(a: dict) -> list[str]:
    if not a.get("per_layer"):
        return []
    md = [
        "",
        "Every layer (linear probes; majority baseline as above):",
        "",
        "| encoder | layer | classification ±1 acc. | classification acc. | ordinal ±1 acc. | ordinal acc. | "
        "ordinal MAE |",
        "|---|---|---|---|---|---|---|",
    ]
    for setup, layers in a["per_layer"].items():
        for layer, e in layers.items():
            md.append(
                f"| {setup} | {layer} | {_ci(e['classification/linear/within1_accuracy'])} | "
                f"{_ci(e['classification/linear/accuracy'])} | {_ci(e['ordinal/linear/within1_accuracy'])} | "
                f"{_ci(e['ordinal/linear/accuracy'])} | {_ci(e['ordinal/linear/mae'])} |"
            )
    return md


def write_md(res: dict) -> str:
    md = ["# Probe benchmarks", "", f"Machine: {res['machine']}", ""]
    sp = res.get("speed")
    if sp:
        md += [
            "## Speed: batched ridge sweep",
            "",
            f"{sp['layers']} layers x {sp['folds']} grouped folds x {sp['tasks']} tasks ({sp['heads']} heads) on "
            f"{sp['n_items']:,} items of dim {sp['dim']}, {res.get('threads')} threads: "
            f"**{sp['sweep_seconds']} s** wall, {sp['sweep_cpu_seconds']} s CPU (target < "
            f"{sp['target_seconds']:.0f} s; {'met' if sp['meets_target'] else 'NOT met'} on wall time; load "
            f"average at the end {sp['load_average_at_end'][0]:.1f} on this shared machine). Metrics with "
            f"{sp['n_boot']}-resample bootstrap CIs for all {sp['layers']} layers: {sp['metrics_ci_seconds']} s "
            f"wall, {sp['metrics_ci_cpu_seconds']} s CPU. Batched logistic regression on the difficulty head "
            f"({sp['logistic_note']}): {sp['logistic_difficulty_seconds']} s wall, "
            f"{sp['logistic_difficulty_cpu_seconds']} s CPU.",
            "",
        ]
    q = res.get("quality")
    if q:
        a = q["asap_difficulty"]
        if "quality_command" in res:
            md += [
                f"Quality part: `{res['quality_command']}` (commit {res['quality_commit']}); load average at the "
                f"end {res['quality_load_avg'][0]:.1f}. Every encoder's store is the cached "
                "`learned-<encoder>-<set>.lance` of `bench/bench_stores.py` (10 s windows, hop 5 s; transkun hop "
                "10 s). Multi-layer (learned) encoders: every layer is probed; the main tables show the best layer "
                "(difficulty: ordinal linear ±1 accuracy; ratings: ridge R²; ranking: pairwise accuracy), chosen "
                "on these folds, so optimistic by the choice among the layers; every layer is listed after them.",
                "",
            ]
            md += _cost_table(q)
        md += [
            "## asap-dev difficulty (Henle levels), 5 folds grouped by piece",
            "",
            f"{a['recordings']} clips of {a['pieces']} pieces with a level; classes {a['classes']}. "
            "Best layer per encoder (handcrafted encoders have one). Pooled out-of-fold values with "
            "cluster-bootstrap 95 % CIs.",
            "",
            "| encoder | head | probe | ±1 accuracy | accuracy | MAE (levels) |",
            "|---|---|---|---|---|---|",
        ]
        for setup, e in a["per_encoder"].items():
            name = _setup_name(setup, e)
            for head in ("classification", "ordinal"):
                for probe in ("majority", "linear", "mlp"):
                    k = f"{head}/{probe}/"
                    if k + "within1_accuracy" not in e:
                        continue
                    md.append(
                        f"| {name} | {head} | {probe} | {_ci(e[k + 'within1_accuracy'])} | "
                        f"{_ci(e[k + 'accuracy'])} | {_ci(e[k + 'mae'])} |"
                    )
        md += _per_layer_difficulty(a)
        r = q["percepiano_ratings"]
        md += [
            "",
            "## percepiano-dev ratings, folds grouped by performer",
            "",
            f"{r['recordings']} segments, {r['performers']} performers, {r['targets']} rating dimensions; ridge "
            "probe (alpha chosen on inner performer-grouped splits). R² is the mean over the dimensions.",
            "",
            "| encoder | R² (ridge) | R² (training-mean baseline) | Pearson (ridge) |",
            "|---|---|---|---|",
        ]
        for setup, e in r["per_encoder"].items():
            md.append(
                f"| {_setup_name(setup, e)} | {_ci(e['mean/r2'])} | {_ci(e['mean/r2_baseline'])} | "
                f"{_ci(e['mean/pearson'])} |"
            )
        if r.get("per_layer"):
            md += ["", "Every layer (ridge R², mean over the 19 dimensions; Pearson):", ""]
            md += ["| encoder | layer | R² (ridge) | Pearson |", "|---|---|---|---|"]
            for setup, layers in r["per_layer"].items():
                for layer, v in layers.items():
                    md.append(f"| {setup} | {layer} | {_ci(v['mean/r2'])} | {_ci(v['mean/pearson'])} |")
        best_setup = max(r["per_encoder"], key=lambda s: r["per_encoder"][s]["mean/r2"]["value"])
        md += [
            "",
            f"Per dimension ({best_setup}): "
            + ", ".join(
                f"{k.split('_', 1)[0]}:{k.split('_', 1)[1][:18]} {v['r2']:.2f} (base {v['baseline']:.2f})"
                for k, v in r["per_encoder"][best_setup]["per_target_r2"].items()
            ),
            "",
        ]
        for rating, k in q["percepiano_ranking"].items():
            md += [
                f"## percepiano-dev ranking: pairs from `{rating}` within a passage, folds grouped by piece",
                "",
                f"{k['pairs']} pairs over {k['recordings']} segments; linear siamese probe (exactly antisymmetric; "
                "the intransitive share of its predicted preferences is 0 by construction). Reference: ranking by "
                f"the segments' mean MIDI velocity (metadata) gives {k['mean_velocity_reference_accuracy']:.3f}.",
                "",
                "| encoder | pairwise accuracy | chance | antisymmetry error | intransitive share |",
                "|---|---|---|---|---|",
            ]
            for setup, e in k["per_encoder"].items():
                md.append(
                    f"| {_setup_name(setup, e)} | {_ci(e['pairwise_accuracy'])} | {_ci(e['chance'])} | "
                    f"{e['antisymmetry_error']:.1e} | {e['intransitive_share']:.2f} |"
                )
            md.append("")
        md += [
            "",
            "All audio is synthetic (one soundfont), so these numbers are not comparable with results on "
            "real recordings.",
        ]
    return "\n".join(md) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--speed-only", action="store_true")
    ap.add_argument("--quality-only", action="store_true")
    ap.add_argument("--encoders", default="chroma,logmel,mfcc,bssl,basic-pitch,transkun")
    ap.add_argument("--n-items", type=int, default=10_000)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--layers", type=int, default=13)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument(
        "--cached-only",
        default="transkun",
        help="encoders used only where bench/bench_stores.py has built their store (never indexed here)",
    )
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(args.threads)
    out_json = RESULTS / "probes.json"
    res = json.loads(out_json.read_text()) if out_json.exists() else {}
    res.update(machine=machine())

    def log(m):
        print(m, flush=True)

    if not args.quality_only:
        res["threads"] = args.threads
        log("speed ...")
        res["speed"] = bench_speed(args.n_items, args.layers, args.dim, log=log)
        log(json.dumps(res["speed"], indent=1))
    if not args.speed_only:
        from embedstore.config import shared_data_dir

        data = shared_data_dir()
        if data is None:
            log("../shared data not found (set EMBEDSTORE_SHARED): quality part skipped")
        else:
            t = time.perf_counter()
            res["quality"] = bench_quality(
                data,
                [e.strip() for e in args.encoders.split(",") if e.strip()],
                log,
                n_boot=args.n_boot,
                cached_only={e for e in args.cached_only.split(",") if e},
            )
            res["quality_command"] = "python bench/bench_probes.py " + " ".join(sys.argv[1:])
            res["quality_load_avg"] = list(os.getloadavg())
            res["quality_commit"] = commit()
            res["quality_seconds"] = round(time.perf_counter() - t, 1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(res, indent=2))
    (RESULTS / "probes.md").write_text(write_md(res))
    print((RESULTS / "probes.md").read_text())


if __name__ == "__main__":
    main()
