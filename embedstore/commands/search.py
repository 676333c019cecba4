"""`embedstore search`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from embedstore import config
from embedstore.commands._common import StorageOpt, console, handle_errors, print_json, use_storage_options


@handle_errors
def search(
    store: Annotated[
        Path, typer.Option("--store", "-s", help="Store directory, or s3://, gs://, az:// URI.")
    ] = Path(config.DEFAULT_STORE),
    query: Annotated[
        list[Path] | None,
        typer.Option("--query", "-q", help="Query audio file or folder (repeatable: one result per query)."),
    ] = None,
    rec_id: Annotated[
        list[str] | None,
        typer.Option("--id", help="Stored recording: id, path, file name or stem (repeatable)."),
    ] = None,
    queries_from: Annotated[
        Path | None, typer.Option("--queries-from", help="Text file: one query path or recording id a line.")
    ] = None,
    all_recordings: Annotated[
        bool, typer.Option("--all", help="Every stored recording as a query, against the rest.")
    ] = False,
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
    json_out: Annotated[
        bool, typer.Option("--json", help="Print hits as JSON (several queries: one JSON object a line).")
    ] = False,
    storage_option: StorageOpt = None,
) -> None:
    """Find the performances (or passages) most similar to one query recording, or to many at once."""
    use_storage_options(storage_option)
    lay: int | str | None = int(layer) if layer is not None and layer.lstrip("-").isdigit() else layer
    queries, ids = list(query or []), list(rec_id or [])
    single = len(queries) + len(ids) == 1 and not all_recordings and queries_from is None
    options = dict(
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
    if not single or (queries and queries[0].is_dir()):
        from embedstore.search.batch import search_queries

        results = search_queries(
            store,
            paths=queries,
            recording_ids=ids,
            queries_from=queries_from,
            all_recordings=all_recordings,
            **options,
        )
        _print_many(results, json_out)
        return
    from embedstore.search import search as do_search

    res = do_search(
        store,
        query_path=queries[0] if queries else None,
        recording_id=ids[0] if ids else None,
        **options,  # type: ignore[arg-type]
    )
    for w in res.warnings:  # stderr, so --json output stays one JSON document
        typer.echo(f"warning: {w}", err=True)
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


def _print_many(results: list, json_out: bool) -> None:
    """One JSON object a line (``--json``, warnings included), else one table: query, rank, hit."""
    for r in results:
        for w in r.warnings:
            typer.echo(f"warning: {w}", err=True)
    if json_out:
        import sys

        from embedstore.utils import dumps

        for r in results:
            sys.stdout.write(dumps(r.as_dict(), indent=None) + "\n")
        sys.stdout.flush()
        return
    from rich.table import Table

    total = (
        results[0].timings.get("batch_total", sum(r.timings["total"] for r in results)) if results else 0.0
    )
    t = Table(
        "query",
        "#",
        "score",
        "recording",
        "passage (s)",
        "piece",
        title=f"{len(results)} queries in {results[0].space if results else '-'} "
        f"({results[0].backend if results else '-'}, {total * 1000:.0f} ms)",
    )
    for r in results:
        name = Path(str(r.query.get("path") or r.query.get("recording_id") or "")).name
        for i, h in enumerate(r.hits, 1):
            m = h.metadata
            t.add_row(
                name if i == 1 else "",
                str(i),
                f"{h.score:.3f}",
                m.get("file_name") or h.recording_id,
                f"{h.start_s:.2f}-{h.end_s:.2f}",
                str(m.get("piece_id", m.get("title", "")) or ""),
            )
    console().print(t)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the Typer app."""
    app.command("search")(search)
