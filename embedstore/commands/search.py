"""`embedstore search`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from embedstore import config
from embedstore.commands._common import console, handle_errors, print_json


@handle_errors
def search(
    store: Annotated[Path, typer.Option("--store", "-s", help="Store directory.")] = Path(
        config.DEFAULT_STORE
    ),
    query: Annotated[Path | None, typer.Option("--query", "-q", help="Query audio file.")] = None,
    rec_id: Annotated[
        str | None, typer.Option("--id", help="Stored recording (id, path, file name or stem).")
    ] = None,
    k: Annotated[int, typer.Option("-k", help="Number of hits.")] = 10,
    where: Annotated[
        str | None, typer.Option("--where", help="SQL filter on metadata, e.g. \"composer = 'Chopin'\".")
    ] = None,
    encoder: Annotated[str | None, typer.Option("--encoder", "-e", help="Setup key or encoder name.")] = None,
    layer: Annotated[str | None, typer.Option(help="Layer index or name (default: last).")] = None,
    pooling: Annotated[str, typer.Option(help="Recording-level pooling: mean or max.")] = "mean",
    exclude_same_recording: Annotated[
        bool, typer.Option("--exclude-same-recording", help="Drop the query's own recording.")
    ] = False,
    start: Annotated[float | None, typer.Option("--start", help="Passage start, seconds.")] = None,
    end: Annotated[float | None, typer.Option("--end", help="Passage end, seconds.")] = None,
    windows: Annotated[
        bool, typer.Option("--windows", help="Return window hits, not best window per recording.")
    ] = False,
    backend: Annotated[
        str, typer.Option(help="auto, exact, faiss, faiss-hnsw, faiss-ivfpq, faiss-ivf or lance.")
    ] = "auto",
    memory_budget: Annotated[
        str, typer.Option("--memory-budget", help="Memory the index may use, e.g. 2GB (auto/faiss backends).")
    ] = "4GiB",
    mode: Annotated[
        str, typer.Option(help="plain or interpretation (remove what the piece explains).")
    ] = "plain",
    any_piece: Annotated[
        bool, typer.Option("--any-piece", help="Interpretation mode: search across pieces.")
    ] = False,
    piece_column: Annotated[str, typer.Option(help="Metadata column naming the piece.")] = "piece_id",
    refine: Annotated[
        bool | None,
        typer.Option(
            "--refine/--no-refine",
            help="Passages: frame-accurate start/end by subsequence DTW (default: when frames are stored).",
        ),
    ] = None,
    features: Annotated[
        str,
        typer.Option(help="embeddings, or curves (interpretation mode: tempo/loudness curves of one piece)."),
    ] = "embeddings",
    json_out: Annotated[bool, typer.Option("--json", help="Print hits as JSON.")] = False,
) -> None:
    """Find the performances (or passages) most similar to a query recording."""
    from embedstore.search import search as do_search

    lay: int | str | None = int(layer) if layer is not None and layer.lstrip("-").isdigit() else layer
    res = do_search(
        store,
        query_path=query,
        recording_id=rec_id,
        encoder=encoder,
        layer=lay,
        pooling=pooling,
        k=k,
        where=where,
        exclude_same_recording=exclude_same_recording,
        start_s=start,
        end_s=end,
        windows=windows,
        backend=backend,
        mode=mode,
        any_piece=any_piece,
        piece_column=piece_column,
        refine=refine,
        features=features,
        memory_budget=memory_budget,
    )
    if json_out:
        print_json([h.as_dict() for h in res.hits])
        return
    from rich.table import Table

    t = Table(
        "#",
        "score",
        "recording",
        "passage (s)",
        "piece",
        "performer",
        title=f"{len(res.hits)} hits in {res.space} ({res.backend}, {res.timings['total'] * 1000:.0f} ms)",
    )
    for i, h in enumerate(res.hits, 1):
        m = h.metadata
        t.add_row(
            str(i),
            f"{h.score:.3f}",
            m.get("file_name") or h.recording_id,
            f"{h.start_s:.2f}-{h.end_s:.2f}"
            + (f" (confidence {h.alignment['confidence']:.2f})" if h.alignment else ""),
            str(m.get("piece_id", m.get("title", "")) or ""),
            str(m.get("performer_code", "") or ""),
        )
    console().print(t)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the Typer app."""
    app.command("search")(search)
