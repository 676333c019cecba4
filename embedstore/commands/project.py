"""`embedstore project` (train a contrastive projection and write the projected table) and
`embedstore evaluate-retrieval` (MAP, MRR, MR1, P@k of a space against a metadata column)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from embedstore.commands._common import StorageOpt, console, handle_errors, print_json, use_storage_options
from embedstore.config import DEFAULT_STORE


def _layer(layer: str | None) -> int | str | None:
    """A layer option: an index (possibly negative) or a name."""
    return int(layer) if layer is not None and layer.lstrip("-").isdigit() else layer


@handle_errors
def project(
    store: Annotated[
        Path, typer.Option("--store", "-s", help="Store directory, or s3://, gs://, az:// URI.")
    ] = Path(DEFAULT_STORE),
    label: Annotated[str | None, typer.Option("--label", "-l", help="Metadata column to learn from.")] = None,
    loss: Annotated[
        str,
        typer.Option(
            help="weighted-contrastive, rank-n-contrast (continuous labels), supcon or triplet (classes)."
        ),
    ] = "weighted-contrastive",
    encoder: Annotated[str | None, typer.Option("--encoder", "-e", help="Setup key or encoder name.")] = None,
    layer: Annotated[str | None, typer.Option(help="Layer index or name (default: last).")] = None,
    level: Annotated[
        str, typer.Option(help="Train on 'recording' (pooled) or 'window' vectors.")
    ] = "recording",
    pooling: Annotated[str, typer.Option(help="Recording-level pooling: mean or max.")] = "mean",
    group_by: Annotated[
        str,
        typer.Option(
            "--group-by",
            help="Grouping of the validation split and the report's "
            "folds (piece_id, performer_code, recording_id).",
        ),
    ] = "piece_id",
    where: Annotated[str | None, typer.Option(help="SQL filter on the recordings used for training.")] = None,
    head: Annotated[str, typer.Option(help="linear or mlp (2 layers).")] = "linear",
    dim: Annotated[int, typer.Option(help="Output dimension.")] = 32,
    hidden: Annotated[int, typer.Option(help="MLP hidden width.")] = 256,
    bins: Annotated[int, typer.Option(help="Label bins (weighted-contrastive; binned class labels).")] = 5,
    binning: Annotated[str, typer.Option(help="uniform or quantile bins.")] = "uniform",
    margin: Annotated[
        float | None, typer.Option(help="Margin m (weighted-contrastive 0.5, triplet 0.2).")
    ] = None,
    temperature: Annotated[
        float | None, typer.Option(help="Temperature (supcon 0.1, rank-n-contrast 0.5).")
    ] = None,
    mining: Annotated[str, typer.Option(help="Triplet mining: hard, semihard, all or batch-hard.")] = "hard",
    epochs: Annotated[int, typer.Option(help="Maximum epochs.")] = 200,
    patience: Annotated[int, typer.Option(help="Early-stopping patience (epochs).")] = 20,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 64,
    lr: Annotated[float, typer.Option(help="Learning rate (AdamW).")] = 1e-2,
    seed: Annotated[int, typer.Option()] = 0,
    name: Annotated[
        str | None, typer.Option(help="Projection name (new setup key: <setup>--<name>).")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Folder for the projection (default <store>/projections/<name>)."),
    ] = None,
    from_dir: Annotated[
        Path | None, typer.Option("--from", help="Apply a saved projection instead of training.")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace projected spaces of the same name.")
    ] = False,
    report: Annotated[
        bool,
        typer.Option(
            "--report/--no-report", help="Grouped-CV report: probe and retrieval metrics before vs after."
        ),
    ] = True,
    folds: Annotated[int, typer.Option(help="Folds of the report.")] = 5,
    map_method: Annotated[str, typer.Option("--map", help="2-D map: tsne, umap, pca or none.")] = "tsne",
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    storage_option: StorageOpt = None,
) -> None:
    """Train a contrastive projection on stored embeddings and write the projected vectors as a new space."""
    use_storage_options(storage_option)
    from embedstore.projections.train import TrainConfig
    from embedstore.projections.workflow import project_store, project_summary_text

    config = TrainConfig(
        loss=loss,
        head=head,
        out_dim=dim,
        hidden_dim=hidden,
        n_bins=bins,
        binning=binning,
        margin=margin,
        temperature=temperature,
        mining=mining,
        lr=lr,
        batch_size=batch_size,
        max_epochs=epochs,
        patience=patience,
        seed=seed,
    )
    summary = project_store(
        store,
        label=label,
        config=config,
        encoder=encoder,
        layer=_layer(layer),
        level=level,
        pooling=pooling,
        group_by=group_by,
        where=where,
        name=name,
        out=out,
        from_dir=from_dir,
        overwrite=overwrite,
        report=report,
        folds=folds,
        map_method=map_method,
    )
    if json_out:
        print_json(summary)
        return
    console().print(project_summary_text(summary))


@handle_errors
def evaluate_retrieval(
    store: Annotated[
        Path, typer.Option("--store", "-s", help="Store directory, or s3://, gs://, az:// URI.")
    ] = Path(DEFAULT_STORE),
    relevant_by: Annotated[
        str,
        typer.Option(
            "--relevant-by",
            help="Metadata column: items sharing the query's value are relevant (piece_id, performer_code).",
        ),
    ] = "piece_id",
    within: Annotated[
        str | None,
        typer.Option(help="Only rank candidates with the query's value of this column (e.g. piece_id)."),
    ] = None,
    across: Annotated[
        str | None, typer.Option(help="Only rank candidates with another value of this column.")
    ] = None,
    mode: Annotated[
        str, typer.Option(help="raw, or interpretation (remove the per-piece mean first).")
    ] = "raw",
    space: Annotated[
        str | None, typer.Option(help="Space id (see `embedstore info`); else --encoder/--layer/...")
    ] = None,
    encoder: Annotated[str | None, typer.Option("--encoder", "-e", help="Setup key or encoder name.")] = None,
    layer: Annotated[str | None, typer.Option(help="Layer index or name (default: last).")] = None,
    level: Annotated[str, typer.Option(help="recording or window.")] = "recording",
    pooling: Annotated[str, typer.Option(help="Recording-level pooling: mean or max.")] = "mean",
    where: Annotated[str | None, typer.Option(help="SQL filter on the recordings evaluated.")] = None,
    piece_column: Annotated[
        str, typer.Option(help="Interpretation mode: column naming the piece.")
    ] = "piece_id",
    method: Annotated[
        str, typer.Option(help="Interpretation mode: piece-mean or piece-zscore.")
    ] = "piece-mean",
    metric: Annotated[str, typer.Option(help="cosine or euclidean.")] = "cosine",
    fmt: Annotated[str, typer.Option("--format", "-f", help="md or json.")] = "md",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the report to this file.")] = None,
    per_query: Annotated[
        bool, typer.Option("--per-query/--summary", help="Markdown: include one row per query.")
    ] = True,
    features: Annotated[
        str,
        typer.Option(
            help="embeddings, or curves (style statistics from alignment curves; computed if missing)."
        ),
    ] = "embeddings",
    storage_option: StorageOpt = None,
) -> None:
    """Score retrieval in a space: MAP, MRR, MR1 (mean rank of the first relevant), P@1/5/10, with chance levels."""
    use_storage_options(storage_option)
    from embedstore.errors import check_choice
    from embedstore.projections.workflow import retrieval_report

    check_choice("features", features, ("embeddings", "curves"))
    if features == "curves":  # style statistics from alignment curves, stored as a space (made if missing)
        from embedstore.performance.style import ensure_style_space
        from embedstore.store import open_store

        space = ensure_style_space(open_store(store), piece_column=piece_column).space_id
    res, text = retrieval_report(
        store,
        fmt=fmt,
        per_query=per_query,
        out=out,
        relevant_by=relevant_by,
        within=within,
        across=across,
        mode=mode,
        space=space,
        encoder=encoder,
        layer=_layer(layer),
        level=level,
        pooling=pooling,
        where=where,
        piece_column=piece_column,
        method=method,
        metric=metric,
    )
    if out is not None:
        console().print(f"MAP {res['mean']['map']:.3f} (chance {res['chance']['map']:.3f}); wrote {out}")
        return
    typer.echo(text, nl=False)


def register(app: typer.Typer) -> None:
    """Add ``project`` and ``evaluate-retrieval`` to the app."""
    app.command("project")(project)
    app.command("evaluate-retrieval")(evaluate_retrieval)
