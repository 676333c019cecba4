"""`embedstore index` and `embedstore rejects`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from embedstore import config
from embedstore.commands._common import (
    StorageOpt,
    console,
    err_console,
    handle_errors,
    print_json,
    use_storage_options,
)

StoreOpt = Annotated[
    Path, typer.Option("--store", "-s", help="Store directory (LanceDB), or s3://, gs://, az:// URI.")
]


@handle_errors
def index(
    paths: Annotated[list[Path], typer.Argument(help="Folders and/or audio files to index (recursive).")],
    store: StoreOpt = Path(config.DEFAULT_STORE),
    encoder: Annotated[
        str,
        typer.Option(
            "--encoder", "-e", help="Encoder name (see `embedstore encoders`) or hf:/path/to/model."
        ),
    ] = "chroma",
    metadata: Annotated[
        Path | None,
        typer.Option("--metadata", "-m", help="CSV/JSON sidecar joined by path, file name or stem."),
    ] = None,
    window: Annotated[float, typer.Option(help="Analysis window, seconds.")] = config.DEFAULT_WINDOW_S,
    hop: Annotated[float, typer.Option(help="Hop between windows, seconds.")] = config.DEFAULT_HOP_S,
    pooling: Annotated[
        str, typer.Option(help="Recording-level poolings, comma-separated (mean,max).")
    ] = "mean,max",
    model_path: Annotated[
        Path | None,
        typer.Option(help="Local from_pretrained directory for a registered transformers encoder."),
    ] = None,
    dtype: Annotated[
        str | None, typer.Option(help="auto, float32 or bfloat16 (transformers encoders).")
    ] = None,
    mode: Annotated[
        str | None,
        typer.Option(
            help="auto, eager, compile or int8 (transformers encoders; see bench/results/encoder_modes.md)."
        ),
    ] = None,
    batch_files: Annotated[int, typer.Option(help="Files per reader/writer batch.")] = 16,
    batch_windows: Annotated[int, typer.Option(help="Windows per encoder forward pass.")] = 32,
    workers: Annotated[int | None, typer.Option(help="Decoding threads or processes.")] = None,
    decode: Annotated[
        str, typer.Option(help="Local engine: decode in 'threads' or worker 'processes' (no shared GIL).")
    ] = "threads",
    max_duration: Annotated[
        float, typer.Option(help="Reject files longer than this many seconds.")
    ] = config.DEFAULT_MAX_DURATION_S,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
    frames: Annotated[
        bool | None,
        typer.Option(
            "--frames/--no-frames",
            help="Store frame sequences for alignment (frame-accurate passages, curves); default on for chroma.",
        ),
    ] = None,
    prune: Annotated[
        bool,
        typer.Option("--prune", help="Remove recordings whose file is gone (they are reported either way)."),
    ] = False,
    engine: Annotated[
        str,
        typer.Option(help="local: threads in this process; ray: a Ray Data pipeline (needs the ray extra)."),
    ] = "local",
    ray_address: Annotated[
        str | None,
        typer.Option(
            help="With --engine ray: 'auto' or ray://host:10001 joins a cluster; default starts Ray here."
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    storage_option: StorageOpt = None,
) -> None:
    """Index a collection: decode, embed (every layer, per window and pooled) and store. Resumable."""
    from rich.markup import escape

    use_storage_options(storage_option)
    from embedstore.pipeline import index_paths

    kw = {}
    if model_path is not None:
        kw["model_path"] = str(model_path)
    if dtype is not None:
        kw["dtype"] = dtype
    if mode is not None:
        kw["mode"] = mode
    rep = index_paths(
        paths,
        store,
        encoder,
        window_s=window,
        hop_s=hop,
        metadata=metadata,
        poolings=tuple(p.strip() for p in pooling.split(",") if p.strip()),
        batch_files=batch_files,
        batch_windows=batch_windows,
        workers=workers,
        max_duration_s=max_duration,
        progress=progress and not json_out,
        encoder_kwargs=kw,
        frames=frames,
        prune=prune,
        engine=engine,  # type: ignore[arg-type]  # validated by index_paths
        ray_address=ray_address,
        decode=decode,  # type: ignore[arg-type]  # validated by index_paths
    )
    d = rep.as_dict()
    if json_out:
        print_json(d)
    else:
        c = console()
        c.print(
            f"[bold]{rep.setup_key}[/]: {len(rep.added)} added ({len(rep.replaced)} changed files re-indexed), "
            f"{len(rep.skipped)} already indexed, {len(rep.duplicates)} duplicates, "
            f"{len(rep.rejected)} rejected; {rep.windows} windows, {rep.audio_s / 60:.1f} min of audio"
        )
        if rep.cleaned_partial:
            c.print(f"resumed: removed partial rows of {rep.cleaned_partial} interrupted recordings")
        for a in rep.repaired:
            c.print(f"repaired: {a}", markup=False)
        if not rep.added and rep.files_seen and len(rep.skipped) == rep.files_seen:
            c.print("nothing to do: every file is already indexed")
        t = d["timings_s"]
        stages = ", ".join(f"{k} {v:.2f}s" for k, v in t.items())
        c.print(f"timing: {stages}" + (f"; {d['realtime_factor']}x realtime" if d["realtime_factor"] else ""))
        for p, q in rep.duplicates:
            c.print(f"duplicate {p}: same content as {q}", markup=False)
        for r in rep.rejected:
            c.print(f"[yellow]rejected[/] {escape(r.path)}: {r.reason} ({escape(r.message)})")
        for p, why in rep.not_files:
            c.print(f"skipped {p}: {why}", markup=False)
        for a, b in rep.moved:
            c.print(f"moved {a} -> {b} (recording kept)", markup=False)
        for p in rep.overwritten:
            c.print(f"overwritten {p}: its old recording was removed", markup=False)
        if rep.missing:
            verb = "removed" if prune else "kept (remove them with --prune)"
            c.print(f"{len(rep.missing)} recordings whose file is gone: {verb}")
            for p in rep.missing[:20]:
                c.print(f"  missing {p}", markup=False)
        for w in rep.warnings:
            err_console().print(f"warning: {w}", markup=False)
    if not rep.ok:
        err_console().print("error: nothing could be indexed", markup=False)
        raise typer.Exit(1)


@handle_errors
def rejects(
    store: StoreOpt = Path(config.DEFAULT_STORE),
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    storage_option: StorageOpt = None,
) -> None:
    """List files that could not be indexed, with the reason."""
    use_storage_options(storage_option)
    from embedstore.store import open_store

    df = open_store(store).rejects()
    rows = df.to_dict("records")
    if json_out:
        print_json(rows)
        return
    from rich.table import Table

    if not rows:
        console().print("no rejected files")
        return
    t = Table("file", "reason", "message", "setup", title=f"{len(rows)} rejected files")
    for r in rows:
        t.add_row(r["path"], r["reason"], r["message"], r["setup_key"])
    console().print(t)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the Typer app."""
    app.command("index")(index)
    app.command("rejects")(rejects)
