"""`embedstore info`, `embedstore encoders` and `embedstore demo`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from embedstore import config
from embedstore.commands._common import StorageOpt, console, handle_errors, print_json, use_storage_options


@handle_errors
def info(
    store: Annotated[
        Path, typer.Option("--store", "-s", help="Store directory, or s3://, gs://, az:// URI.")
    ] = Path(config.DEFAULT_STORE),
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    storage_option: StorageOpt = None,
) -> None:
    """Summarise a store: recordings, encoder setups, layers, windows, versions, rejects."""
    use_storage_options(storage_option)
    from embedstore.store import open_store

    d = open_store(store).info()
    if json_out:
        print_json(d)
        return
    from rich.table import Table

    c = console()
    c.print(
        f"[bold]{d['store']}[/]: {d['recordings']} recordings, {d['total_duration_s'] / 60:.1f} min, "
        f"{d['rejects']} rejected files"
    )
    if d["metadata_columns"]:
        c.print("metadata columns: " + ", ".join(d["metadata_columns"]))
    t = Table(
        "setup", "encoder", "model", "window/hop (s)", "dim", "layers", "poolings", "recordings", "windows"
    )
    for s in d["setups"]:
        t.add_row(
            s["setup"],
            s["encoder"],
            str(s["model_id"]),
            f"{s['window_s']:g}/{s['hop_s']:g}",
            str(s["dim"]),
            str(s["layers"]),
            ",".join(s["poolings"]),
            str(s["recordings"]),
            str(s["windows"]),
        )
    c.print(t)


@handle_errors
def encoders(json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List available encoders with their dimensions, layers and sample rates."""
    from embedstore.encoders import available_encoders

    rows = [
        {
            "name": n,
            "kind": e.kind,
            "sample_rate": e.sample_rate,
            "dim": e.dim,
            "layers": e.n_layers,
            "model_id": e.model_id,
            "description": e.description,
        }
        for n, e in sorted(available_encoders().items())
    ]
    if json_out:
        print_json(rows)
        return
    from rich.table import Table

    t = Table("name", "kind", "rate (Hz)", "dim", "layers", "model", "description")
    for r in rows:
        t.add_row(
            str(r["name"]),
            str(r["kind"]),
            str(r["sample_rate"]),
            str(r["dim"] or "?"),
            str(r["layers"] or "?"),
            str(r["model_id"]),
            str(r["description"]),
        )
    console().print(t)
    console().print("Any local transformers model directory also works: --encoder hf:/path/to/model")


@handle_errors
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the generated collection and store.")] = Path(
        "embedstore-demo"
    ),
    encoder: Annotated[str, typer.Option("--encoder", "-e")] = "chroma",
    pieces: Annotated[int, typer.Option(help="Number of synthetic pieces.")] = 4,
    performers: Annotated[int, typer.Option(help="Number of synthetic performers.")] = 3,
) -> None:
    """Generate a small synthetic piano collection, index it and search it (no data or server needed)."""
    from embedstore.demo import run_demo

    run_demo(out, encoder=encoder, n_pieces=pieces, n_performers=performers, echo=console().print)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the Typer app."""
    app.command("info")(info)
    app.command("encoders")(encoders)
    app.command("demo")(demo)
