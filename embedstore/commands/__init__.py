"""Typer command groups, one module each (index, search, info, probe, project, frames, ...).

A group module exposes ``register(app: typer.Typer) -> None`` and is listed in
:data:`embedstore.cli.COMMAND_GROUPS`. A command parses its options (``Annotated`` Typer options, defaults from
:mod:`embedstore.config`), calls one library function and prints; it imports the library inside its function (the
CLI's one lazy boundary). Shared helpers (errors as ``error:``/``hint:`` lines, JSON output) are in ``_common``.
"""
