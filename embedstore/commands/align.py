"""`embedstore align`, `embedstore passage`, `embedstore curves` and `embedstore style`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from embedstore.commands._common import StorageOpt, console, handle_errors, print_json, use_storage_options

StoreOpt = Annotated[Path | None, typer.Option("--store", "-s", help="Store directory (for stored ids).")]


@handle_errors
def align(
    sources: Annotated[
        list[str], typer.Argument(help="A and B (files or stored ids), or REF with --to-store.")
    ],
    store: StoreOpt = None,
    to_store: Annotated[
        Path | None, typer.Option("--to-store", help="Align REF to every selected recording of this store.")
    ] = None,
    where: Annotated[str | None, typer.Option("--where", help="SQL filter for --to-store.")] = None,
    transfer: Annotated[
        Path | None, typer.Option("--transfer", help="REF's annotations (CSV/TSV/TXT/JSON) to carry over.")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Time map file (.json/.csv), or the folder for --to-store output."),
    ] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write the alignment figure (PNG).")] = None,
    ends: Annotated[
        str, typer.Option(help="free (align the shared music) or fixed (start to end).")
    ] = "free",
    outside: Annotated[
        str, typer.Option(help="Annotations outside the shared music: drop or extrapolate.")
    ] = "drop",
    min_confidence: Annotated[
        float, typer.Option("--min-confidence", help="--to-store: skip recordings aligned less confidently.")
    ] = 0.0,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    storage_option: StorageOpt = None,
) -> None:
    """Align two performances (time map A -> B), or carry REF's annotations to a store's recordings."""
    use_storage_options(storage_option)
    from embedstore.errors import ConfigError, check_choice

    check_choice("ends", ends, ("free", "fixed"))
    check_choice("outside", outside, ("drop", "extrapolate"))
    if to_store is not None:
        if len(sources) != 1:
            raise ConfigError(
                "with --to-store give exactly one reference", hint="embedstore align REF --to-store S ..."
            )
        if transfer is None or out is None:
            raise ConfigError(
                "--to-store needs --transfer (REF's annotations) and --out (a folder)",
                hint="embedstore align REF.flac --to-store S --where \"piece_id = 'X'\" --transfer beats.csv --out beats/",
            )
        from embedstore.performance.align import transfer_to_store
        from embedstore.store import open_store

        report = transfer_to_store(
            open_store(to_store),
            sources[0],
            annotations=transfer,
            out_dir=out,
            where=where,
            ends=ends,
            outside=outside,
            min_confidence=min_confidence,
        )
        if json_out:
            print_json(report)
            return
        from rich.table import Table

        t = Table(
            "recording", "confidence", "annotations", "dropped", "note", title=f"{len(report)} recordings"
        )
        for r in report:
            t.add_row(
                str(r.get("file_name")),
                f"{r['confidence']:.2f}" if "confidence" in r else "-",
                str(r.get("n", "-")),
                str(r.get("dropped", "-")),
                r["skipped"] or "",
            )
        console().print(t)
        return
    if len(sources) != 2:
        raise ConfigError("give two recordings A and B", hint="embedstore align A.flac B.flac --json")
    from embedstore.performance.align import align_pair
    from embedstore.store import open_store

    res = align_pair(sources[0], sources[1], store=open_store(store) if store else None, ends=ends, plot=plot)
    tm = res.alignment.time_map
    if out is not None:
        tm.to_csv(out) if out.suffix.lower() == ".csv" else tm.to_json(out)
    if json_out:
        print_json(res.as_dict())
        return
    a0, a1 = tm.valid_a
    b0, b1 = tm.valid_b
    console().print(
        f"{res.path_a.name} {a0:.2f}-{a1:.2f} s  ->  {res.path_b.name} {b0:.2f}-{b1:.2f} s; "
        f"tempo B/A {1 / tm.slope:.3f}; cost {res.alignment.cost:.3f}, confidence {res.alignment.confidence:.2f}"
        + (f"; time map {out}" if out else "")
        + (f"; plot {res.plot}" if res.plot else "")
    )


@handle_errors
def passage(
    store: Annotated[
        Path, typer.Option("--store", "-s", help="Store directory, or s3://, gs://, az:// URI.")
    ] = Path("embedstore.lance"),
    query: Annotated[Path | None, typer.Option("--query", "-q", help="Query audio file.")] = None,
    rec_id: Annotated[str | None, typer.Option("--id", help="Stored recording as the query.")] = None,
    start: Annotated[float, typer.Option("--start", help="Passage start, seconds.")] = 0.0,
    end: Annotated[float, typer.Option("--end", help="Passage end, seconds.")] = 10.0,
    k: Annotated[int, typer.Option("-k", help="Number of hits.")] = 10,
    where: Annotated[str | None, typer.Option("--where", help="SQL filter on metadata.")] = None,
    encoder: Annotated[
        str | None, typer.Option("--encoder", "-e", help="Setup key for the candidates.")
    ] = None,
    candidates: Annotated[int, typer.Option(help="Window candidates from the vector index.")] = 50,
    exclude_same_recording: Annotated[
        bool, typer.Option("--exclude-same-recording", help="Drop the query's own recording.")
    ] = False,
    all_regions: Annotated[
        bool, typer.Option("--all-regions", help="One hit per candidate region, not per recording.")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    storage_option: StorageOpt = None,
) -> None:
    """Find a passage frame-accurately: window candidates, then subsequence DTW around them."""
    use_storage_options(storage_option)
    from embedstore.performance.passages import passage_search
    from embedstore.store import open_store

    res = passage_search(
        open_store(store),
        query_path=query,
        recording_id=rec_id,
        start_s=start,
        end_s=end,
        k=k,
        where=where,
        encoder=encoder,
        candidates=candidates,
        exclude_same_recording=exclude_same_recording,
        per_recording=not all_regions,
    )
    if json_out:
        print_json([h.as_dict() for h in res.hits])
        return
    from rich.table import Table

    t = Table(
        "#", "confidence", "cost", "recording", "passage (s)", "window (s)", title=f"{len(res.hits)} hits"
    )
    for i, h in enumerate(res.hits, 1):
        t.add_row(
            str(i),
            f"{h.confidence:.2f}",
            f"{h.cost:.3f}",
            str(h.metadata.get("file_name") or h.recording_id),
            f"{h.start_s:.2f}-{h.end_s:.2f}",
            f"{h.window_start_s:.1f}-{h.window_end_s:.1f}",
        )
    console().print(t)


@handle_errors
def curves(
    store: Annotated[
        Path, typer.Option("--store", "-s", help="Store directory, or s3://, gs://, az:// URI.")
    ] = Path("embedstore.lance"),
    where: Annotated[
        str, typer.Option("--where", help="SQL filter selecting one piece's performances.")
    ] = "",
    reference: Annotated[
        str | None, typer.Option("--reference", help="Reference recording (id or name).")
    ] = None,
    grid: Annotated[
        Path | None, typer.Option("--grid", help="Reference annotations (beats/bars) as the grid.")
    ] = None,
    label: Annotated[
        str | None, typer.Option("--label", help="Use only grid annotations with this label (db).")
    ] = None,
    grid_s: Annotated[
        float, typer.Option("--grid-s", help="Uniform grid step without --grid, seconds.")
    ] = 1.0,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the curves as JSON.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    storage_option: StorageOpt = None,
) -> None:
    """Tempo and loudness curves of a piece's performances on a reference's grid, with their correlations."""
    use_storage_options(storage_option)
    from embedstore.errors import ConfigError

    if not where:
        raise ConfigError(
            "--where must select the performances of one piece", hint="--where \"piece_id = 'X'\""
        )
    from embedstore.performance.curves import curves_report
    from embedstore.store import open_store

    doc = curves_report(
        open_store(store),
        where=where,
        reference=reference,
        grid=grid,
        grid_label=label,
        grid_s=grid_s,
        out=out,
    )
    ref = doc["reference"]
    if json_out:
        print_json(doc)
        return
    from rich.table import Table

    t = Table(
        "recording",
        "tempo corr",
        "loudness corr",
        "median tempo",
        "dynamic range (phon)",
        title=f"reference {ref}",
    )
    for r in doc["recordings"]:
        t.add_row(
            str(r["file_name"]),
            f"{r['tempo_corr']:.2f}" if r["tempo_corr"] is not None else "-",
            f"{r['loudness_corr']:.2f}" if r["loudness_corr"] is not None else "-",
            f"{r['style']['tempo']:.3g}",
            f"{r['style']['dynamic_range']:.1f}",
        )
    console().print(t)


@handle_errors
def style(
    store: Annotated[
        Path, typer.Option("--store", "-s", help="Store directory, or s3://, gs://, az:// URI.")
    ] = Path("embedstore.lance"),
    where: Annotated[str | None, typer.Option("--where", help="SQL filter on metadata.")] = None,
    piece_column: Annotated[str, typer.Option(help="Metadata column naming the piece.")] = "piece_id",
    grid_s: Annotated[
        float, typer.Option("--grid-s", help="Grid step on each piece's reference, seconds.")
    ] = 1.0,
    write_space: Annotated[
        bool,
        typer.Option(
            "--write-space", help="Store the z-scored statistics as the space style.L0.recording-mean."
        ),
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    storage_option: StorageOpt = None,
) -> None:
    """Style statistics per performance (rubato, tempo and dynamic range...) relative to each piece's consensus."""
    use_storage_options(storage_option)
    from embedstore.performance.style import style_report
    from embedstore.store import open_store

    tab, space = style_report(
        open_store(store), where=where, piece_column=piece_column, grid_s=grid_s, write_space=write_space
    )
    if json_out:
        print_json({"space": space.space_id if space else None, "rows": tab.to_dict(orient="records")})
        return
    from rich.table import Table

    t = Table(
        "recording",
        "piece",
        "tempo",
        "rubato",
        "loudness",
        "dyn. range",
        title="style statistics (relative to the piece)",
    )
    for _, r in tab.iterrows():
        t.add_row(
            str(r["file_name"]),
            str(r["piece"]),
            f"{r['tempo_rel']:+.3f}",
            f"{r['rubato_rel']:.3f}",
            f"{r['loudness_rel']:+.1f}",
            f"{r['dynamic_range']:.1f}",
        )
    console().print(t)
    if space is not None:
        console().print(f"wrote space {space.space_id} ({len(tab)} recordings)")


def register(app: typer.Typer) -> None:
    """Add the commands of this group to the app."""
    app.command("align")(align)
    app.command("passage")(passage)
    app.command("curves")(curves)
    app.command("style")(style)
