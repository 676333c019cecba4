"""`embedstore verify` and `embedstore repair`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from embedstore import config
from embedstore.commands._common import console, handle_errors, print_json

StoreOpt = Annotated[Path, typer.Option("--store", "-s", help="Store directory (LanceDB).")]


@handle_errors
def verify(
    store: StoreOpt = Path(config.DEFAULT_STORE),
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check every invariant of a store (read-only); list what fails and exit 1 if anything does."""
    from embedstore.store import open_store
    from embedstore.store.verify import verify_store

    rep = verify_store(open_store(store))
    if json_out:
        print_json(rep.as_dict())
    else:
        c = console()
        for p in rep.problems:
            c.print(f"[red]{p.kind}[/]: {p.detail}")
        for n in rep.notes:
            c.print(f"note: {n}")
        c.print(
            f"{rep.store}: every invariant holds"
            if rep.ok
            else f"{len(rep.problems)} problems; fix them with `embedstore repair --store {store}`"
        )
    if not rep.ok:
        raise typer.Exit(1)


@handle_errors
def repair(
    store: StoreOpt = Path(config.DEFAULT_STORE),
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Fix what `embedstore verify` finds (under the store's write lock) and say what was done."""
    from embedstore.store import open_store
    from embedstore.store.verify import repair_locked

    actions, after = repair_locked(open_store(store))
    if json_out:
        print_json({"actions": actions, **after.as_dict()})
    else:
        c = console()
        for a in actions:
            c.print(f"repaired: {a}")
        c.print("nothing to repair" if not actions else f"{len(actions)} repairs")
        for p in after.problems:
            c.print(f"[red]still failing[/] {p.kind}: {p.detail}")
    if not after.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the Typer app."""
    app.command("verify")(verify)
    app.command("repair")(repair)
