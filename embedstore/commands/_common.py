"""Helpers shared by the command groups: one-line errors with hints, JSON output, consoles."""

from __future__ import annotations

import functools
import json
import sys
from typing import Any

import typer


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


def _default(o: Any):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if hasattr(o, "as_dict"):
        return o.as_dict()
    if hasattr(o, "__fspath__"):
        return str(o)
    return str(o)


def dumps(obj: Any) -> str:
    """JSON with numpy types handled and NaN written as null."""
    import math

    def clean(x):
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {str(k): clean(v) for k, v in x.items()}
        if isinstance(x, list | tuple):
            return [clean(v) for v in x]
        return x

    return json.dumps(clean(json.loads(json.dumps(obj, default=_default))), indent=2, ensure_ascii=False)


def print_json(obj: Any) -> None:
    sys.stdout.write(dumps(obj) + "\n")
    sys.stdout.flush()


def console():
    return _console(stderr=False)


def err_console():
    return _console(stderr=True)
