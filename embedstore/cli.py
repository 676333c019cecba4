"""The ``embedstore`` command line (Typer).

Thin: each command group lives in ``embedstore/commands/<group>.py``, exposes ``register(app)`` and calls library
functions. Every group listed in :data:`COMMAND_GROUPS` must load: a missing or broken group module stops the
program at start-up with :class:`CommandGroupError` instead of leaving a command silently absent.

The commands import the library (and its heavy dependencies: torch, lancedb, pandas...) inside their functions,
the CLI's one lazy boundary, so ``embedstore --help`` imports none of them and stays fast.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import typer

from embedstore.errors import EmbedstoreError

__all__ = ["COMMAND_GROUPS", "CommandGroupError", "build_app", "app", "main"]

#: Command-group modules under ``embedstore.commands``; each exposes ``register(app)``.
COMMAND_GROUPS = ("index", "search", "info", "probe", "project", "frames", "serve", "align", "verify")


class CommandGroupError(EmbedstoreError):
    """A command-group module is missing, fails to import, or has no ``register(app)``."""


def _load_group(group: str, app: typer.Typer) -> None:
    name = f"embedstore.commands.{group}"
    try:
        module = importlib.import_module(name)
    except Exception as e:
        raise CommandGroupError(
            f"command group {group!r} ({name}) failed to import: {type(e).__name__}: {e}",
            hint="fix or restore the module, or remove the group from embedstore.cli.COMMAND_GROUPS",
        ) from e
    register = getattr(module, "register", None)
    if not callable(register):
        raise CommandGroupError(
            f"command group {group!r} ({name}) has no register(app) function",
            hint="define register(app: typer.Typer) -> None that adds the group's commands",
        )
    register(app)


def build_app(groups: Sequence[str] = COMMAND_GROUPS) -> typer.Typer:
    """The Typer application with every command group registered.

    Parameters
    ----------
    groups : sequence of str
        Module names under ``embedstore.commands``.

    Returns
    -------
    typer.Typer

    Raises
    ------
    CommandGroupError
        When a group's module is missing, fails to import (the original error is chained) or has no
        ``register(app)``.
    """
    app = typer.Typer(
        name="embedstore",
        help="A searchable store of solo-piano performance embeddings.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        # plain click help: rendering help through rich costs ~0.5 s of imports (bench/results/cli_startup.md)
        rich_markup_mode=None,
    )
    for group in groups:
        _load_group(group, app)
    return app


#: The application of the ``embedstore`` console script and of ``python cli.py`` in a checkout.
app = build_app()


def main() -> None:
    """Console-script entry point: run :data:`app` on ``sys.argv``."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
