"""Helpers shared by the command groups: one-line errors with hints, JSON output, consoles.

A command is thin: it parses its options, calls one library function and prints. Wrapped in
:func:`handle_errors`, a foreseeable problem (an :class:`~embedstore.errors.EmbedstoreError`, a missing file,
Ctrl-C) reaches the user as ``error: ...`` / ``hint: ...`` and an exit code, never as a traceback.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer

from embedstore.errors import EmbedstoreError
from embedstore.utils import dumps

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console

__all__ = [
    "handle_errors",
    "print_json",
    "console",
    "err_console",
    "dumps",
    "StorageOpt",
    "use_storage_options",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
]

#: Exit code of a command refused with ``error: ...``, and of one interrupted by Ctrl-C.
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130

#: ``--storage-option key=value`` (repeatable) of every command that takes ``--store``.
StorageOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--storage-option",
        help="Object-store option for an s3://, gs:// or az:// --store, key=value (repeatable), e.g. "
        "aws_endpoint=http://127.0.0.1:9000; credentials also come from the usual environment variables.",
    ),
]

P = ParamSpec("P")
R = TypeVar("R")


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if (hasattr(stream, "isatty") and stream.isatty()) else int(os.environ.get("COLUMNS", 160))
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=width)


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorate a command so that foreseeable problems become one-line messages and an exit code.

    Parameters
    ----------
    fn : callable
        The command function.

    Returns
    -------
    callable
        The same command: an :class:`~embedstore.errors.EmbedstoreError` prints ``error: <message>`` and
        ``hint: <hint>`` on stderr and exits with :data:`EXIT_ERROR`, as does a missing file; Ctrl-C says how to
        resume and exits with :data:`EXIT_INTERRUPTED`.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except EmbedstoreError as e:
            err = _console(stderr=True)
            err.print(f"[bold red]error:[/] {e}", markup=True)
            if getattr(e, "hint", None):
                err.print(f"[yellow]hint:[/] {e.hint}", markup=True)
            raise typer.Exit(EXIT_ERROR) from None
        except FileNotFoundError as e:
            _console(stderr=True).print(f"[bold red]error:[/] file not found: {e.filename or e}", markup=True)
            raise typer.Exit(EXIT_ERROR) from None
        except KeyboardInterrupt:
            _console(stderr=True).print("interrupted; re-run the same command to resume", markup=False)
            raise typer.Exit(EXIT_INTERRUPTED) from None

    return wrapper


def use_storage_options(items: list[str] | None) -> None:
    """Apply ``--storage-option key=value`` items to every remote store this command opens (a bad item is a
    :class:`~embedstore.errors.ConfigError`)."""
    if items:
        from embedstore.store.location import parse_storage_options, set_default_storage_options

        set_default_storage_options(parse_storage_options(items))


def print_json(obj: Any) -> None:
    """Write ``obj`` to stdout as indented JSON (:func:`embedstore.utils.dumps`) and a newline."""
    sys.stdout.write(dumps(obj) + "\n")
    sys.stdout.flush()


def console() -> Console:
    """A rich console on stdout (160 columns wide when not a terminal, or ``$COLUMNS``)."""
    return _console(stderr=False)


def err_console() -> Console:
    """A rich console on stderr, for progress and warnings."""
    return _console(stderr=True)
