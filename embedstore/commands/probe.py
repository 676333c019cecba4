"""`embedstore probe`, `embedstore benchmark` and `embedstore predict`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from embedstore.commands._common import (
    StorageOpt,
    console,
    err_console,
    handle_errors,
    print_json,
    use_storage_options,
)
from embedstore.config import DEFAULT_STORE


def _split(v: str | None) -> list[str] | None:
    """A comma-separated option as a list (None when not given)."""
    if v is None:
        return None
    return [s.strip() for s in v.split(",") if s.strip()]


def _print_summary(result: dict) -> None:
    """The best probe per task/head as a table, then the report and the saved probes."""
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
    for s in result["best"]:
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
    c.print(f"report: {result['report'].get('report.md')}")
    for task, p in result["models"].items():
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
    store: Annotated[
        Path, typer.Option("--store", "-s", help="Store directory, or s3://, gs://, az:// URI.")
    ] = Path(DEFAULT_STORE),
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
    storage_option: StorageOpt = None,
) -> None:
    """Cross-validate probes on stored embeddings (grouped folds, bootstrap CIs, baseline) and save the best."""
    use_storage_options(storage_option)
    from embedstore.probes.workflow import probe_report

    err = err_console()
    result = probe_report(
        store,
        task,
        out,
        labels=labels,
        on=on,
        target=target,
        pairs=pairs,
        pairs_from=pairs_from,
        within=within,
        min_diff=min_diff,
        lower_is_better=lower_is_better,
        group_by=group_by,
        encoders=_split(encoder),
        layers=layers,
        poolings=_split(pooling) or ["mean"],
        level=level,
        probes=_split(probe_kind) or ["linear"],
        folds=folds,
        seed=seed,
        n_boot=n_boot,
        where=where,
        save=save,
        progress=None if json_out else (lambda m: err.print(m, markup=False)),
    )
    if json_out:
        print_json(result)
        return
    _print_summary(result)


@handle_errors
def benchmark(
    config: Annotated[Path, typer.Option("--config", "-c", help="Benchmark grid (TOML or JSON).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Report folder.")],
    store: Annotated[
        Path | None, typer.Option("--store", "-s", help="Store directory (default: the config's 'store').")
    ] = None,
    save: Annotated[bool, typer.Option("--save/--no-save", help="Save each task's best probe.")] = True,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    storage_option: StorageOpt = None,
) -> None:
    """Run an encoder x layer x pooling x probe x task grid and write one report."""
    use_storage_options(storage_option)
    from embedstore.probes.workflow import benchmark_report

    err = err_console()
    log = None if json_out else (lambda m: err.print(m, markup=False))
    result = benchmark_report(config, out, store=store, save=save, progress=log)
    if json_out:
        print_json(result)
        return
    _print_summary(result)


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
    storage_option: StorageOpt = None,
) -> None:
    """Predict with a saved probe on new audio (embedded exactly like the store) or on stored recordings."""
    use_storage_options(storage_option)
    from embedstore.probes.workflow import predict_with_probe, prediction_text

    payload = predict_with_probe(probe_dir, queries=query or [], recording_ids=rec_id or [], store=store)
    if json_out:
        print_json(payload)
        return
    c = console()
    c.print(f"probe {probe_dir} ({payload['task']}, {payload['setup']})", markup=False)
    for r in payload["predictions"]:
        c.print(prediction_text(r), markup=False)


def register(app: typer.Typer) -> None:
    """Add ``probe``, ``benchmark`` and ``predict`` to the app."""
    app.command("probe")(probe)
    app.command("benchmark")(benchmark)
    app.command("predict")(predict)
