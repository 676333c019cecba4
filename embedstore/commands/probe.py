"""`embedstore probe`, `embedstore benchmark` and `embedstore predict`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from embedstore.commands._common import console, err_console, handle_errors, print_json


def _split(v: str | None) -> list[str] | None:
    if v is None:
        return None
    return [s.strip() for s in v.split(",") if s.strip()]


def _summary_rows(rows) -> list[dict]:
    """Best row and baseline per task/head (for the terminal and --json)."""
    from embedstore.probes.benchmark import best_row
    from embedstore.probes.tasks import PRIMARY

    out = []
    for task in dict.fromkeys(r["task"] for r in rows):
        tr = [r for r in rows if r["task"] == task]
        for head in dict.fromkeys(r["head"] for r in tr):
            b = best_row(tr, head)
            if b is None:
                continue
            metric = PRIMARY[head][0]
            base = next(
                (
                    r
                    for r in tr
                    if r["head"] == head
                    and r["is_baseline"]
                    and r["metric"] == metric
                    and r["target"] == b["target"]
                    and r["setup"] == b["setup"]
                    and r["pooling"] == b["pooling"]
                ),
                None,
            )
            out.append(
                {
                    "task": task,
                    "head": head,
                    "metric": metric,
                    "target": b["target"],
                    "setup": b["setup"],
                    "pooling": b["pooling"],
                    "probe": b["probe"],
                    "layer": b["layer"],
                    "value": b["value"],
                    "ci_low": b["ci_low"],
                    "ci_high": b["ci_high"],
                    "baseline": None
                    if base is None
                    else {
                        "probe": base["probe"],
                        "value": base["value"],
                        "ci_low": base["ci_low"],
                        "ci_high": base["ci_high"],
                    },
                }
            )
    return out


def _print_summary(summary: list[dict], paths: dict, models: dict) -> None:
    from rich.table import Table

    t = Table(
        "task",
        "head",
        "metric",
        "best (setup / pooling / probe / layer)",
        "value [95% CI]",
        "baseline",
        title="best per task (out-of-fold, grouped CV)",
    )
    for s in summary:
        b = s["baseline"]
        t.add_row(
            s["task"],
            s["head"],
            s["metric"] + (f" ({s['target']})" if s["target"] else ""),
            f"{s['setup']} / {s['pooling']} / {s['probe']} / {s['layer']}",
            f"{s['value']:.3f} [{s['ci_low']:.3f}, {s['ci_high']:.3f}]",
            "" if b is None else f"{b['probe']} {b['value']:.3f}",
        )
    c = console()
    c.print(t)
    c.print(f"report: {paths.get('report.md')}")
    for task, p in models.items():
        c.print(f"probe ({task}): {p}")


@handle_errors
def probe(
    task: Annotated[
        str,
        typer.Option(
            "--task",
            "-t",
            help="difficulty, technique, ratings, ranking, "
            "classification, ordinal, regression or multilabel.",
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="Report folder (report.md, results.csv/json, plots/, <task>/model)."
        ),
    ],
    store: Annotated[Path, typer.Option("--store", "-s", help="Store directory.")] = Path("embedstore.lance"),
    labels: Annotated[
        Path | None,
        typer.Option(
            "--labels", "-l", help="Label table (CSV/TSV/JSON/Parquet); default: the store's metadata."
        ),
    ] = None,
    on: Annotated[
        str | None,
        typer.Option(
            "--on",
            help="Join column (default: recording_id, path, file name or "
            "a metadata column, whichever matches most).",
        ),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option("--target", help="Label column(s), comma-separated; patterns like 'Timbre_*' allowed."),
    ] = None,
    pairs: Annotated[
        Path | None, typer.Option("--pairs", help="Ranking pairs: columns a, b and a_better (or winner).")
    ] = None,
    pairs_from: Annotated[
        str | None, typer.Option("--pairs-from", help="Derive ranking pairs from this rating column.")
    ] = None,
    within: Annotated[
        str, typer.Option("--within", help="Pairs only within this column (same passage).")
    ] = "segment_id",
    min_diff: Annotated[
        float,
        typer.Option("--min-diff", help="Skip derived pairs whose ratings differ by no more than this."),
    ] = 0.0,
    lower_is_better: Annotated[
        bool, typer.Option("--lower-is-better", help="Derived pairs: a lower rating is better.")
    ] = False,
    group_by: Annotated[
        str, typer.Option("--group-by", "-g", help="CV groups: a column, or piece, performer, recording.")
    ] = "piece_id",
    encoder: Annotated[
        str | None,
        typer.Option("--encoder", "-e", help="Setup keys or encoder names, comma-separated (default: all)."),
    ] = None,
    layers: Annotated[str, typer.Option("--layers", help="all, last, mix, N, N,M or N-M.")] = "all",
    pooling: Annotated[str, typer.Option("--pooling", help="mean, max or mean,max.")] = "mean",
    level: Annotated[
        str, typer.Option("--level", help="recording, or window (attention probe).")
    ] = "recording",
    probe_kind: Annotated[
        str,
        typer.Option(
            "--probe", "-p", help="linear, ridge, logistic, mlp, layermix, attention (comma-separated)."
        ),
    ] = "linear",
    folds: Annotated[int, typer.Option("--folds", help="Outer CV folds.")] = 5,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    n_boot: Annotated[int, typer.Option("--n-boot", help="Bootstrap resamples per CI.")] = 1000,
    where: Annotated[str | None, typer.Option("--where", help="SQL filter on the recordings.")] = None,
    save: Annotated[
        bool, typer.Option("--save/--no-save", help="Save the best probe to OUT/<task>/model.")
    ] = True,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Cross-validate probes on stored embeddings (grouped folds, bootstrap CIs, baseline) and save the best."""
    from embedstore.probes.benchmark import ProbeOptions, load_task, run_probe
    from embedstore.probes.report import write_report
    from embedstore.store import open_store

    st = open_store(store)
    t = load_task(
        st,
        task,
        labels=labels,
        target=target,
        group_by=group_by,
        on=on,
        pairs=pairs,
        pairs_from=pairs_from,
        within=within,
        min_diff=min_diff,
        lower_is_better=lower_is_better,
        where=where,
    )
    err = err_console()
    log = None if json_out else (lambda m: err.print(m, markup=False))
    if log:
        for k, v in t.info.items():
            log(f"{k}: {v}")
    opts = ProbeOptions(n_splits=folds, seed=seed, n_boot=n_boot)
    run = run_probe(
        st,
        t,
        encoders=_split(encoder),
        layers=layers,
        poolings=_split(pooling) or ["mean"],
        level=level,
        probes=_split(probe_kind) or ["linear"],
        opts=opts,
        where=where,
        save_dir=(out / task / "model") if save else None,
        progress=log,
    )
    meta = {
        "store": st.uri,
        "task": task,
        "target": ", ".join(t.target_names),
        "group_by": t.group_by,
        "recordings": t.n,
        "folds": folds,
        "seed": seed,
        "bootstrap": n_boot,
        **t.info,
    }
    notes = []
    if "layer_weights" in run.info:
        for k, w in run.info["layer_weights"].items():
            notes.append(f"layer-mix weights {k}: " + ", ".join(f"{a}: {b:.2f}" for a, b in w.items()))
    paths = write_report(
        out, run.rows, title=f"Probe report: {task}", meta=meta, notes=notes, tables=run.predictions
    )
    summary = _summary_rows(run.rows)
    if json_out:
        print_json(
            {
                "report": {k: str(v) for k, v in paths.items()},
                "best": summary,
                "models": run.models,
                "recordings": t.n,
                "rows": len(run.rows),
            }
        )
        return
    _print_summary(summary, paths, run.models)


@handle_errors
def benchmark(
    config: Annotated[Path, typer.Option("--config", "-c", help="Benchmark grid (TOML or JSON).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Report folder.")],
    store: Annotated[
        Path | None, typer.Option("--store", "-s", help="Store directory (default: the config's 'store').")
    ] = None,
    save: Annotated[bool, typer.Option("--save/--no-save", help="Save each task's best probe.")] = True,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Run an encoder x layer x pooling x probe x task grid and write one report."""
    from embedstore.errors import ConfigError
    from embedstore.probes.benchmark import read_config, run_benchmark
    from embedstore.probes.report import write_report
    from embedstore.store import open_store

    cfg = read_config(config)
    base = config.resolve().parent
    if store is None:
        if not cfg.get("store"):
            raise ConfigError("no store given", hint='pass --store or set store = "..." in the config')
        sp = Path(cfg["store"])
        store = sp if sp.is_absolute() else base / sp
    st = open_store(store)
    err = err_console()
    log = None if json_out else (lambda m: err.print(m, markup=False))
    runs = run_benchmark(st, cfg, base_dir=base, save_dir=out if save else None, progress=log)
    rows = [r for run in runs for r in run.rows]
    models = {k: v for run in runs for k, v in run.models.items()}
    tables = {f"{name}_{run.task.name}": df for run in runs for name, df in run.predictions.items()}
    meta = {
        "store": st.uri,
        "config": str(config),
        "tasks": ", ".join(str(t.get("name")) for t in cfg["tasks"]),
    }
    paths = write_report(out, rows, title="Probe benchmark", meta=meta, tables=tables)
    summary = _summary_rows(rows)
    if json_out:
        print_json(
            {
                "report": {k: str(v) for k, v in paths.items()},
                "best": summary,
                "models": models,
                "rows": len(rows),
            }
        )
        return
    _print_summary(summary, paths, models)


@handle_errors
def predict(
    probe_dir: Annotated[
        Path, typer.Option("--probe", help="Saved probe folder (config.json + model.safetensors).")
    ],
    query: Annotated[
        list[Path] | None, typer.Option("--query", "-q", help="Audio file(s) to embed and predict.")
    ] = None,
    rec_id: Annotated[
        list[str] | None, typer.Option("--id", help="Stored recording(s): id, path, file name or stem.")
    ] = None,
    store: Annotated[
        Path | None,
        typer.Option(
            "--store",
            "-s",
            help="Store whose setup embeds the queries (default: the store the probe was trained on).",
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print predictions as JSON.")] = False,
) -> None:
    """Predict with a saved probe on new audio (embedded exactly like the store) or on stored recordings."""
    from embedstore.errors import ConfigError
    from embedstore.probes.persist import Probe, file_features, predictions_json, store_features
    from embedstore.store import open_store

    pr = Probe.load(probe_dir)
    if not query and not rec_id:
        raise ConfigError("nothing to predict", hint="pass --query file.flac or --id <recording>")
    st = open_store(store if store is not None else pr.config["store"])
    results = []
    for q in query or []:
        if not Path(q).exists():
            raise FileNotFoundError(2, "No such file", str(q))
        feats, mask = file_features(pr, st, q)
        res = pr.predict(feats, mask=mask)
        results.append({"input": str(q), **predictions_json(pr, res, 0)})
    if rec_id:
        recs = [st.recording(k) for k in rec_id]
        feats, mask = store_features(pr, st, [r["recording_id"] for r in recs])
        res = pr.predict(feats, mask=mask)
        for i, (k, r) in enumerate(zip(rec_id, recs)):
            results.append({"input": k, "recording_id": r["recording_id"], **predictions_json(pr, res, i)})
    payload = {
        "probe": str(probe_dir),
        "task": pr.config["task"],
        "setup": pr.config["setup_key"],
        "predictions": results,
    }
    if json_out:
        print_json(payload)
        return
    c = console()
    c.print(f"probe {probe_dir} ({pr.config['task']}, {pr.config['setup_key']})", markup=False)
    for r in results:
        parts = []
        for head, d in r.items():
            if head in ("input", "recording_id"):
                continue
            if "prediction" in d and not isinstance(d["prediction"], dict):
                parts.append(f"{head}: {d['prediction']}")
            elif "prediction" in d:
                parts.append(
                    f"{head}: " + ", ".join(f"{k}={v:.3f}" for k, v in list(d["prediction"].items())[:6])
                )
            elif "scores" in d:
                top = sorted(d["scores"].items(), key=lambda kv: -kv[1])[:3]
                parts.append(f"{head}: " + ", ".join(f"{k}={v:.2f}" for k, v in top))
            elif "score" in d:
                parts.append(f"{head} score: {d['score']:.3f}")
        c.print(f"{r['input']}: " + "; ".join(parts), markup=False)


def register(app: typer.Typer) -> None:
    app.command("probe")(probe)
    app.command("benchmark")(benchmark)
    app.command("predict")(predict)
