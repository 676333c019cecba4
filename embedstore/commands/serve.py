"""`embedstore serve`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from embedstore import config
from embedstore.commands._common import StorageOpt, console, handle_errors, use_storage_options


@handle_errors
def serve(
    store: Annotated[
        Path, typer.Option("--store", "-s", help="Store directory, or s3://, gs://, az:// URI.")
    ] = Path(config.DEFAULT_STORE),
    host: Annotated[
        str, typer.Option(help="Address to listen on; the default lets only this machine connect.")
    ] = config.SERVE_HOST,
    port: Annotated[int, typer.Option(help="TCP port.")] = config.SERVE_PORT,
    max_upload_mb: Annotated[
        float, typer.Option("--max-upload-mb", help="Largest audio file accepted as a query, MB.")
    ] = config.SERVE_MAX_UPLOAD_BYTES / 2**20,
    storage_option: StorageOpt = None,
) -> None:
    """Explore a store in the browser: find a recording, hear its nearest performances, see the map."""
    use_storage_options(storage_option)
    from embedstore.serve import run_server

    run_server(
        store,
        host=host,
        port=port,
        max_upload_bytes=int(max_upload_mb * 2**20),
        echo=lambda s: console().print(s, markup=False),
    )


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
