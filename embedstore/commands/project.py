"""`embedstore project` (train a contrastive projection and write the projected table) and
`embedstore evaluate-retrieval` (MAP, MRR, MR1, P@k of a space against a metadata column)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from embedstore.commands._common import console, dumps, handle_errors, print_json

_SHORT = {"weighted-contrastive": "wcl", "rank-n-contrast": "rnc", "supcon": "supcon", "triplet": "triplet"}


def _layer(layer: str | None) -> int | str | None:
    return int(layer) if layer is not None and layer.lstrip("-").isdigit() else layer


@handle_errors
def project(
    store: Annotated[Path, typer.Option("--store", "-s", help="Store directory.")] = Path("embedstore.lance"),
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
) -> None:
    """Train a contrastive projection on stored embeddings and write the projected vectors as a new space."""
    from embedstore.errors import ConfigError, check_choice
    from embedstore.projections.persist import Projection, write_projection
    from embedstore.projections.train import TrainConfig, fit_on_store, load_training_data
    from embedstore.store import Store, slug

    check_choice("level", level, ("recording", "window"))
    check_choice("map", map_method, ("tsne", "umap", "pca", "none"))
    st = Store(store, create=False)
    summary: dict = {"store": st.uri}
    if from_dir is not None:
        proj = Projection.load(from_dir)
        sid = proj.input_provenance.get("space_id")
        src = (
            st.space(sid)
            if sid and any(s.space_id == sid for s in st.spaces())
            else st.find_space(encoder=encoder, layer=_layer(layer), level=level, pooling=pooling)
        )
        nm = name or Path(from_dir).name
        spaces = write_projection(
            st, proj, name=nm, path=from_dir, source=src, overwrite=overwrite, where=where
        )
        summary.update(
            projection=str(Path(from_dir).resolve()),
            source_space=src.space_id,
            spaces=[s.space_id for s in spaces],
        )
    else:
        if not label:
            raise ConfigError(
                "--label is required to train a projection", hint="or apply one with --from DIR"
            )
        cfg = TrainConfig(
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
        ).validate()
        src = st.find_space(encoder=encoder, layer=_layer(layer), level=level, pooling=pooling)
        if src.provenance.get("kind") == "projection":
            raise ConfigError(
                f"{src.space_id} is already a projection", hint="pick the source encoder's setup"
            )
        nm = name or slug(f"{_SHORT[loss]}-{label}-L{src.layer}")
        if out is None:
            if "://" in st.uri:
                raise ConfigError("the store is remote; say where to save the projection with --out DIR")
            out = Path(st.uri) / "projections" / nm
        if (out / "model.safetensors").exists() and not overwrite:
            raise ConfigError(
                f"a projection already exists at {out}", hint="pass --overwrite or another --name"
            )
        proj = fit_on_store(st, src, label, group_by=group_by, where=where, config=cfg)
        proj.save(out)
        spaces = write_projection(st, proj, name=nm, path=out, source=src, overwrite=overwrite)
        h = proj.history
        summary.update(
            projection=str(Path(out).resolve()),
            source_space=src.space_id,
            spaces=[s.space_id for s in spaces],
            label=proj.label,
            best_epoch=h["best_epoch"],
            epochs_run=h["epochs_run"],
            n_train=h["n_train"],
            n_val=h["n_val"],
            early_stopping_on=h["early_stopping_on"],
        )
        if report:
            from embedstore.projections.report import evaluate_projection, plot_map, report_markdown

            es, labels, groups = load_training_data(st, src, label, group_by=group_by, where=where)
            res = evaluate_projection(
                es.vectors, labels, groups, config=cfg, n_splits=folds, seed=seed, label_column=label
            )
            res["source_space"] = src.space_id
            res["group_by"] = group_by
            (out / "report.json").write_text(dumps(res) + "\n")
            (out / "report.md").write_text(report_markdown(res, title=f"Projection {nm}: before vs after"))
            summary["report"] = {k: res.get(k) for k in ("probe", "retrieval")}
            summary["report_files"] = [str(out / "report.md"), str(out / "report.json")]
            if map_method != "none" and len(es) >= 3:
                from embedstore.projections.train import _missing

                keep = ~_missing(labels)
                png = plot_map(
                    es.vectors[keep],
                    proj.transform(es.vectors[keep]),
                    labels[keep],
                    out / "map.png",
                    method=map_method,
                    label_name=label,
                    seed=seed,
                    title=f"{src.space_id} → {nm} (points include training data)",
                )
                summary["report_files"].append(str(png))
    if json_out:
        print_json(summary)
        return
    c = console()
    c.print(f"projection: {summary['projection']}")
    c.print(f"source space: {summary['source_space']}")
    c.print("wrote spaces: " + ", ".join(summary["spaces"]))
    if "best_epoch" in summary:
        c.print(
            f"training: best epoch {summary['best_epoch']} of {summary['epochs_run']} "
            f"(n_train={summary['n_train']}, n_val={summary['n_val']}, early stopping on "
            f"{summary['early_stopping_on']})"
        )
    rep = summary.get("report") or {}
    if rep.get("probe"):
        p = rep["probe"]
        c.print(
            f"probe {p['metric']} on held-out groups: raw {_est(p['raw'])}  projected {_est(p['projected'])}  "
            f"difference {_est(p['difference'])}"
        )
    if rep.get("retrieval"):
        r = rep["retrieval"]
        c.print(
            f"retrieval MAP on held-out groups: raw {_est(r['map_raw'])}  projected {_est(r['map_projected'])}  "
            f"chance {r['map_chance']:.3f}"
        )
    for f in summary.get("report_files", []):
        c.print(f"wrote {f}")


def _est(d: dict) -> str:
    from embedstore.projections.report import _ci

    return _ci(d)


@handle_errors
def evaluate_retrieval(
    store: Annotated[Path, typer.Option("--store", "-s", help="Store directory.")] = Path("embedstore.lance"),
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
) -> None:
    """Score retrieval in a space: MAP, MRR, MR1 (mean rank of the first relevant), P@1/5/10, with chance levels."""
    from embedstore.errors import check_choice
    from embedstore.projections.retrieval import evaluate_store_retrieval, retrieval_markdown
    from embedstore.store import Store

    check_choice("format", fmt, ("md", "json"))
    st = Store(store, create=False)
    res = evaluate_store_retrieval(
        st,
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
    text = dumps(res) + "\n" if fmt == "json" else retrieval_markdown(res, per_query=per_query)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        console().print(f"MAP {res['mean']['map']:.3f} (chance {res['chance']['map']:.3f}); wrote {out}")
        return
    typer.echo(text, nl=False)


def register(app: typer.Typer) -> None:
    app.command("project")(project)
    app.command("evaluate-retrieval")(evaluate_retrieval)
