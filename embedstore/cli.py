"""The ``embedstore`` command line (Typer). Thin: each command group lives in ``embedstore/commands/<group>.py``
and calls library functions. Heavy libraries are imported inside the commands, so ``embedstore --help`` is fast.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="embedstore",
    help="A searchable store of solo-piano performance embeddings.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: command-group modules; each exposes ``register(app)``.
COMMAND_GROUPS = ("index", "search", "info", "probe", "project", "frames", "serve")

for _group in COMMAND_GROUPS:
    _name = f"embedstore.commands.{_group}"
    try:
        _mod = importlib.import_module(_name)
    except ModuleNotFoundError as _e:  # a group still being written is simply absent
        if _e.name != _name:
            raise
        continue
    _mod.register(app)


def main() -> None:  # console-script entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
