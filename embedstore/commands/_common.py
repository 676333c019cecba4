"""Helpers shared by the command groups: one-line errors with hints, JSON output, consoles."""

from __future__ import annotations

import functools
import sys
from typing import Any

import typer

from embedstore.utils import dumps


def _console(stderr: bool = False):
    import os
    import sys

    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if (hasattr(stream, "isatty") and stream.isatty()) else int(os.environ.get("COLUMNS", 160))
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=width)


def handle_errors(fn):
    """Turn EmbedstoreError (and a few common user errors) into `error: ...` / `hint: ...` and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from embedstore.errors import EmbedstoreError

        try:
            return fn(*args, **kwargs)
        except EmbedstoreError as e:
            err = _console(stderr=True)
            err.print(f"[bold red]error:[/] {e}", markup=True)
            if getattr(e, "hint", None):
                err.print(f"[yellow]hint:[/] {e.hint}", markup=True)
            raise typer.Exit(2) from None
        except FileNotFoundError as e:
            _console(stderr=True).print(f"[bold red]error:[/] file not found: {e.filename or e}", markup=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            _console(stderr=True).print("interrupted; re-run the same command to resume", markup=False)
            raise typer.Exit(130) from None

    return wrapper


def print_json(obj: Any) -> None:
    sys.stdout.write(dumps(obj) + "\n")
    sys.stdout.flush()


def console():
    return _console(stderr=False)


def err_console():
    return _console(stderr=True)
