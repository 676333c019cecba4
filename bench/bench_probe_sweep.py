"""Probe sweep speed (issue 10, part 4): 13 layers x 5 grouped folds x 3 tasks over 10,000 items of dim 768.

Goal: the ridge sweep in <= 30 s wall on this machine. Three implementations are timed in one run, interleaved
(reference, current, scikit-learn, current, reference), on the same synthetic data and the same folds:

- ``reference``: the sweep as implemented before the numpy rewrite (``embedstore/probes`` at ``--rev``, extracted
  from git into a temporary package at run time; torch Gram matrices, per-alpha validation products);
- ``current``: :func:`embedstore.probes.crossval.cross_validate_many` with :class:`embedstore.probes.ridge.GramCache`
  (numpy: syrk Gram matrices, every alpha scored with one product per layer, layers in parallel threads);
- ``sklearn``: what a user would write: per layer and fold, ``StandardScaler`` + ``RidgeCV`` on every level,
  technique and rating column at once (the same relative alpha grid, generalised cross-validation, one alpha per
  column) and ``StandardScaler`` + ``LogisticRegression`` (default C = 1, up to 1,000 iterations) for the
  difficulty classes.

Both embedstore implementations pick each head's alpha per layer on a grouped inner split of every training fold
and refit on the whole training fold (4 heads: difficulty classes (one-hot ridge) and levels, 7 techniques,
19 ratings). The check: their out-of-fold outputs and scores agree; scikit-learn's scores are reported beside them
(its alpha selection differs: leave-one-out GCV instead of a grouped split), with the training-fold baseline
(majority class / mean / prevalence) and chance.

Usage::

    nice -n 10 python bench/bench_probe_sweep.py            # full size, writes bench/results/probe_sweep.{md,json}
    python bench/bench_probe_sweep.py --n 2000 --layers 3 --dim 64 --out /tmp/sweep   # a quick look
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from embedstore.probes.crossval import cross_validate_many, make_folds  # noqa: E402
from embedstore.probes.gram import GramCache  # noqa: E402
from embedstore.probes.metrics import baseline_predict, metric_functions  # noqa: E402
from embedstore.probes.models import ProbeOptions  # noqa: E402
from embedstore.probes.ridge import ALPHAS  # noqa: E402
from embedstore.probes.tasks import TaskData, decode  # noqa: E402
from embedstore.utils import machine_description  # noqa: E402

#: The commit whose embedstore/probes is the reference (the last one before the numpy ridge).
REFERENCE_REV = "a2743f160b30f066387dc05263bc672f5de071d3"
#: Primary metric per head (point estimate on the pooled out-of-fold predictions).
PRIMARY = {
    "classification": "accuracy",
    "ordinal": "within1_accuracy",
    "multilabel": "map",
    "regression": ("mean", "r2"),
}


# ---------------------------------------------------------------------------------------------- data
def synthetic_tasks(n: int, L: int, d: int, seed: int = 0) -> tuple[np.ndarray, list[TaskData]]:
    """A feature stack (L, n, d) whose deeper layers carry three tasks' labels, and the three tasks.

    The recipe of ``bench/bench_probes.py``: 20 items per piece (the CV groups), difficulty level 1-9 set by the
    piece, 7 techniques present with probability 0.2, 19 Gaussian ratings; layer ``l`` adds ``l / (L - 1)`` times
    the labels to a few feature columns of standard normal noise.
    """
    rng = np.random.default_rng(seed)
    piece = rng.integers(0, max(n // 20, 2), n)
    level = (piece % 9) + 1
    tech = (rng.random((n, 7)) < 0.2).astype(np.int8)
    ratings = rng.normal(size=(n, 19))
    X = rng.standard_normal((L, n, d), dtype=np.float32)
    for li in range(L):
        s = li / max(L - 1, 1)
        X[li, :, 0] += s * level
        X[li, :, 1:8] += 2 * s * tech
        X[li, :, 8:27] += s * ratings.astype(np.float32)
    groups = np.array([f"p{p}" for p in piece])
    ids = np.array([f"r{i}" for i in range(n)], dtype=object)
    common = {"recording_ids": ids, "groups": groups, "group_by": "piece_id"}
    tasks = [
        TaskData(
            "difficulty",
            ("classification", "ordinal"),
            **common,
            y=level.astype(np.int64),
            target_names=["level"],
            classes=list(range(1, 10)),
            numeric_classes=True,
        ),
        TaskData(
            "technique",
            ("multilabel",),
            **common,
            y=tech,
            target_names=[f"t{j}" for j in range(7)],
            classes=[f"t{j}" for j in range(7)],
        ),
        TaskData("ratings", ("regression",), **common, y=ratings, target_names=[f"r{j}" for j in range(19)]),
    ]
    return X, tasks


# ---------------------------------------------------------------------------------------------- implementations
def load_reference(rev: str) -> object:
    """``embedstore/probes`` at ``rev`` as the package ``probes_ref`` (its benchmark module is returned)."""
    names = subprocess.run(
        ["git", "-C", str(ROOT), "ls-tree", "--name-only", f"{rev}:embedstore/probes"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    tmp = Path(tempfile.mkdtemp(prefix="probes_ref_"))
    (tmp / "probes_ref").mkdir()
    for name in (n for n in names if n.endswith(".py")):
        text = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{rev}:embedstore/probes/{name}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        (tmp / "probes_ref" / name).write_text(text.replace("embedstore.probes", "probes_ref"))
    sys.path.insert(0, str(tmp))
    import probes_ref.benchmark as ref

    return ref


def jobs_of(tasks: list[TaskData]) -> list[tuple[TaskData, str]]:
    return [(t, h) for t in tasks for h in t.heads]


def sweep_reference(ref: object, X: np.ndarray, tasks: list[TaskData], opts: ProbeOptions) -> dict:
    from probes_ref.linear import GramCache as RefGramCache

    cache = RefGramCache(X)
    folds = ref.make_folds(tasks[1], opts)
    cvs = ref.cross_validate_many(
        X, jobs_of(tasks), probe="ridge", folds=folds, opts=opts, layers=list(range(len(X))), cache=cache
    )
    return {"folds": folds, "raw": [c.raw for c in cvs], "hyper": [c.hyper for c in cvs]}


def sweep_current(X: np.ndarray, tasks: list[TaskData], opts: ProbeOptions) -> dict:
    cache = GramCache(X)
    folds = make_folds(tasks[1], opts)
    cvs = cross_validate_many(
        X, jobs_of(tasks), probe="ridge", folds=folds, opts=opts, layers=list(range(len(X))), cache=cache
    )
    return {"folds": folds, "raw": [c.raw for c in cvs], "hyper": [c.hyper for c in cvs]}


def sweep_sklearn(X: np.ndarray, tasks: list[TaskData], folds: list, layers: list[int]) -> dict:
    """Per layer (of ``layers``) and fold: one RidgeCV on every ridge target column (levels, techniques, ratings;
    alpha per column by GCV over the same relative grid) and LogisticRegression on the difficulty classes."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    L, n = len(layers), X.shape[1]
    diff, tech, rat = tasks
    Y = np.concatenate(
        [np.asarray(diff.y, np.float64)[:, None], np.asarray(tech.y, np.float64), rat.y], axis=1
    )
    cols = np.cumsum([0, 1, tech.y.shape[1], rat.y.shape[1]])
    ridge = np.zeros((L, n, Y.shape[1]), np.float32)
    classes = np.zeros((L, n, len(diff.classes)), np.float32)
    seconds = {"ridgecv": 0.0, "logistic": 0.0}
    for i, li in enumerate(layers):
        for tr, te in folds:
            t0 = time.perf_counter()
            m = make_pipeline(
                StandardScaler(), RidgeCV(alphas=np.asarray(ALPHAS) * len(tr), alpha_per_target=True)
            )
            ridge[i, te] = m.fit(X[li, tr], Y[tr]).predict(X[li, te])
            t1 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                m = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
                m.fit(X[li, tr], diff.class_index()[tr])
            classes[i, te] = m.predict_log_proba(X[li, te])
            seconds["ridgecv"] += t1 - t0
            seconds["logistic"] += time.perf_counter() - t1
    return {"raw": [classes] + [ridge[:, :, cols[k] : cols[k + 1]] for k in range(3)], "seconds": seconds}


# ---------------------------------------------------------------------------------------------- scores
def head_scores(tasks: list[TaskData], raws: list[np.ndarray]) -> dict[str, list[float]]:
    """Primary metric per head and layer from out-of-fold raw outputs (pooled point estimates)."""
    out = {}
    for (t, h), raw in zip(jobs_of(tasks), raws):
        fn = metric_functions(h, t)[PRIMARY[h]]
        pred = decode(h, t, raw)
        out[h] = [float(fn(np.asarray(t.y), pred[li])) for li in range(len(raw))]
    return out


def baseline_scores(tasks: list[TaskData], folds: list) -> dict[str, float]:
    """The head's training-fold baseline (majority class / mean / prevalence), pooled out of fold."""
    out = {}
    for t, h in jobs_of(tasks):
        est = None
        for tr, te in folds:
            p = baseline_predict(h, t, tr, len(te))
            if est is None:
                est = np.empty((t.n, *p.shape[1:]), dtype=p.dtype)
            est[te] = p
        if h == "multilabel":  # constant scores: AP = prevalence
            out[h] = float(np.asarray(t.y).mean(axis=0).mean())
        else:
            out[h] = float(metric_functions(h, t)[PRIMARY[h]](np.asarray(t.y), est))
    return out


def chance_scores(tasks: list[TaskData]) -> dict[str, float]:
    """Chance: uniform guessing of a class / level (±1 for levels), prevalence (AP), R² 0 of a constant."""
    diff, tech, _ = tasks
    k = len(diff.classes)
    levels = np.asarray(diff.classes)
    within1 = np.mean([np.mean(np.abs(levels - c) <= 1) for c in levels])
    return {
        "classification": 1.0 / k,
        "ordinal": float(within1),
        "multilabel": float(np.asarray(tech.y).mean()),
        "regression": 0.0,
    }


# ---------------------------------------------------------------------------------------------- timing
def timed(fn: Callable[[], dict]) -> tuple[dict, dict]:
    gc.collect()
    load0 = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    res = fn()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    load1 = os.getloadavg()[0]
    return res, {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "load_before": load0, "load_after": load1}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--layers", type=int, default=13)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2, help="timed runs of each embedstore implementation")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--rev", default=REFERENCE_REV, help="commit of the reference embedstore/probes")
    ap.add_argument("--no-sklearn", action="store_true")
    ap.add_argument(
        "--sklearn-layers",
        default="first,middle,last",
        help="layers the scikit-learn baseline fits ('all', or first,middle,last); its time is scaled to all layers",
    )
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "probe_sweep"))
    ap.add_argument(
        "--report-only", action="store_true", help="re-render OUT.md from OUT.json (no measuring)"
    )
    a = ap.parse_args()
    if a.report_only:
        out = Path(a.out)
        out.with_suffix(".md").write_text(markdown(json.loads(out.with_suffix(".json").read_text())))
        return

    import torch  # the reference needs it; imported here so no timed run pays for the import
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(a.threads)
    threadpool_limits(a.threads)
    X, tasks = synthetic_tasks(a.n, a.layers, a.dim)
    opts = ProbeOptions(n_splits=a.folds)
    ref = load_reference(a.rev)
    runs: list[dict] = []
    results: dict[str, dict] = {}

    def run(name: str, fn: Callable[[], dict]) -> None:
        res, t = timed(fn)
        runs.append({"implementation": name, **t})
        print(
            f"{name}: {t['wall_s']:.1f} s wall, {t['cpu_s']:.1f} s CPU, load {t['load_before']:.1f}",
            flush=True,
        )
        results.setdefault(name, res)

    sk_layers = (
        list(range(a.layers)) if a.sklearn_layers == "all" else sorted({0, a.layers // 2, a.layers - 1})
    )
    order = ["reference", "current"]
    for r in range(a.rounds):
        for name in order if r % 2 == 0 else order[::-1]:
            fn = (
                (lambda: sweep_reference(ref, X, tasks, opts))
                if name == "reference"
                else (lambda: sweep_current(X, tasks, opts))
            )
            run(name, fn)
        if r == 0 and not a.no_sklearn:
            run(
                "sklearn", lambda folds=results["current"]["folds"]: sweep_sklearn(X, tasks, folds, sk_layers)
            )
    write(a, X, tasks, runs, results, sk_layers)


def _summary(runs: list[dict], name: str) -> dict:
    mine = [r for r in runs if r["implementation"] == name]
    return {
        "runs": len(mine),
        "wall_s_mean": round(float(np.mean([r["wall_s"] for r in mine])), 2),
        "wall_s_min": round(float(min(r["wall_s"] for r in mine)), 2),
        "cpu_s_mean": round(float(np.mean([r["cpu_s"] for r in mine])), 2),
        "load_mean": round(float(np.mean([(r["load_before"] + r["load_after"]) / 2 for r in mine])), 2),
    }


def write(
    a: argparse.Namespace,
    X: np.ndarray,
    tasks: list[TaskData],
    runs: list[dict],
    results: dict,
    sk_layers: list[int],
) -> None:
    cur, ref = results["current"], results["reference"]
    same_folds = all(
        np.array_equal(x[0], y[0]) and np.array_equal(x[1], y[1]) for x, y in zip(cur["folds"], ref["folds"])
    )
    raw_diff = max(float(np.max(np.abs(c - r))) for c, r in zip(cur["raw"], ref["raw"]))
    raw_scale = max(float(np.max(np.abs(r))) for r in ref["raw"])
    alpha_diff = sum(int(np.sum(c != r)) for c, r in zip(cur["hyper"], ref["hyper"]))
    alpha_total = sum(c.size for c in cur["hyper"])
    scores = {name: head_scores(tasks, res["raw"]) for name, res in results.items()}
    score_diff = max(
        abs(a_ - b_)
        for h in scores["current"]
        for a_, b_ in zip(scores["current"][h], scores["reference"][h])
    )
    base = baseline_scores(tasks, cur["folds"])
    chance = chance_scores(tasks)
    summary = {name: _summary(runs, name) for name in results}
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout
    payload = {
        "command": "python " + " ".join(sys.argv),
        "commit": head.strip(),
        "machine": machine_description(),
        "threads": a.threads,
        "size": {"items": a.n, "layers": a.layers, "dim": a.dim, "folds": a.folds, "tasks": 3, "heads": 4},
        "reference_rev": a.rev,
        "goal_wall_s": 30.0,
        "runs": runs,
        "summary": summary,
        "agreement": {
            "same_folds": same_folds,
            "max_abs_output_diff": raw_diff,
            "output_scale": raw_scale,
            "alpha_choices_differing": alpha_diff,
            "alpha_choices": alpha_total,
            "max_abs_score_diff": score_diff,
        },
        "scores": {k: v for k, v in scores.items() if k != "sklearn"},
        "baseline": base,
        "chance": chance,
    }
    payload["niceness"] = os.nice(0)
    if "sklearn" in results:
        scale = a.layers / len(sk_layers)
        payload["sklearn"] = {
            "layers": sk_layers,
            "seconds": results["sklearn"]["seconds"],
            "scale_to_all_layers": scale,
            "wall_s_all_layers": round(summary["sklearn"]["wall_s_mean"] * scale, 1),
            "cpu_s_all_layers": round(summary["sklearn"]["cpu_s_mean"] * scale, 1),
        }
        # compare on the layers it fitted
        for name in ("current", "reference"):
            payload.setdefault("scores_on_sklearn_layers", {})[name] = {
                h: [v[li] for li in sk_layers] for h, v in scores[name].items()
            }
        payload["scores_on_sklearn_layers"]["sklearn"] = scores["sklearn"]
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(payload, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(payload))
    print(out.with_suffix(".md").read_text())


def markdown(p: dict) -> str:
    s, g, sz = p["summary"], p["agreement"], p["size"]
    lines = [
        "# Probe sweep speed",
        "",
        f"Command: `{p['command']}` (commit `{p.get('commit', '?')[:10]}`)  ",
        f"Machine: {p['machine']}; {p['threads']} threads; niceness {p.get('niceness', 0)}; load average (1 min) "
        "while measuring in the tables (a shared machine: wall time grows with the load, CPU time much less).",
        "",
        f"{sz['layers']} layers x {sz['folds']} grouped folds x {sz['tasks']} tasks ({sz['heads']} heads: difficulty "
        f"classes and levels, 7 techniques, 19 ratings) over {sz['items']:,} items of dim {sz['dim']}; closed-form "
        "ridge, alpha per head and layer on a grouped inner split, refit per fold. Goal: <= "
        f"{p['goal_wall_s']:.0f} s wall. Runs interleaved in one process, in the order of the second table.",
        "",
        "| implementation | runs | wall s (mean) | wall s (min) | CPU s (mean) | load |",
        "|---|---|---|---|---|---|",
    ]
    names = {
        "reference": f"embedstore before (`{p['reference_rev'][:7]}`, torch Grams)",
        "current": "embedstore now (numpy ridge)",
        "sklearn": "scikit-learn RidgeCV + LogisticRegression per layer and fold",
    }
    for k, v in s.items():
        lines.append(
            f"| {names[k]} | {v['runs']} | {v['wall_s_mean']:.1f} | {v['wall_s_min']:.1f} | {v['cpu_s_mean']:.1f} | "
            f"{v['load_mean']:.1f} |"
        )
    cur, ref = s["current"], s["reference"]
    goal = p["goal_wall_s"]
    if cur["wall_s_mean"] <= goal:
        verdict = f"met ({cur['wall_s_mean']:.1f} s on average)"
    elif cur["wall_s_min"] <= goal:
        verdict = (
            f"met by the fastest run ({cur['wall_s_min']:.1f} s), missed on average by "
            f"{cur['wall_s_mean'] - goal:.1f} s"
        )
    else:
        verdict = f"missed by {cur['wall_s_mean'] - goal:.1f} s on average"
    lines += [
        "",
        f"Goal (<= {goal:.0f} s wall at load {cur['load_mean']:.1f}, niceness {p.get('niceness', 0)}): {verdict}. "
        f"CPU {cur['cpu_s_mean']:.1f} s vs {ref['cpu_s_mean']:.1f} s before ({ref['cpu_s_mean'] / cur['cpu_s_mean']:.1f}x "
        f"less); wall {ref['wall_s_mean'] / cur['wall_s_mean']:.1f}x less. With 2 threads on 2 cores the wall time "
        f"cannot go below CPU / 2 = {cur['cpu_s_mean'] / 2:.1f} s; here it was {cur['wall_s_mean'] / cur['cpu_s_mean']:.1f}x "
        "the CPU time: what limits it is the share of the loaded machine it got.",
    ]
    if "sklearn" in p:
        sk = p["sklearn"]
        lines += [
            "",
            f"scikit-learn ran on layers {', '.join(map(str, sk['layers']))} ({len(sk['layers'])} of {sz['layers']}, "
            f"every fold): RidgeCV {sk['seconds']['ridgecv']:.1f} s, LogisticRegression "
            f"{sk['seconds']['logistic']:.1f} s; scaled to all {sz['layers']} layers: **{sk['wall_s_all_layers']:.0f} s "
            f"wall**, {sk['cpu_s_all_layers']:.0f} s CPU.",
        ]
    lines += [
        "",
        "Every run, in order:",
        "",
        "| # | implementation | wall s | CPU s | load before | load after |",
        "|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(p["runs"], 1):
        lines.append(
            f"| {i} | {r['implementation']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['load_before']:.1f} | "
            f"{r['load_after']:.1f} |"
        )
    lines += [
        "",
        "## Do the scores agree?",
        "",
        f"Current vs reference: same folds: {g['same_folds']}; largest out-of-fold output difference "
        f"{g['max_abs_output_diff']:.2e} (outputs up to {g['output_scale']:.1f}); alpha choices that differ: "
        f"{g['alpha_choices_differing']} of {g['alpha_choices']}; largest score difference {g['max_abs_score_diff']:.2e}.",
        "",
        "Primary metric per head (pooled out of fold) beside the training-fold baseline and chance: best over all "
        "layers, then layer by layer where scikit-learn ran.",
        "",
        "| head | metric | layer | reference | current | scikit-learn | baseline | chance |",
        "|---|---|---|---|---|---|---|---|",
    ]
    metric_names = {
        "classification": "accuracy",
        "ordinal": "±1 accuracy",
        "multilabel": "mAP",
        "regression": "mean R²",
    }
    ref_s, cur_s = p["scores"]["reference"], p["scores"]["current"]
    on_sk = p.get("scores_on_sklearn_layers")
    for h in cur_s:
        tail = f" {p['baseline'][h]:.3f} | {p['chance'][h]:.3f} |"
        lines.append(
            f"| {h} | {metric_names[h]} | best | {max(ref_s[h]):.3f} | {max(cur_s[h]):.3f} | – |" + tail
        )
        for i, li in enumerate(p["sklearn"]["layers"] if on_sk else []):
            r, c, k = (on_sk[name][h][i] for name in ("reference", "current", "sklearn"))
            lines.append(f"| {h} | {metric_names[h]} | {li} | {r:.3f} | {c:.3f} | {k:.3f} |" + tail)
    lines += [
        "",
        "scikit-learn's classification column is LogisticRegression (C = 1); its other columns are RidgeCV, whose "
        "alpha is chosen by leave-one-out GCV on the training fold rather than on a grouped inner split.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
