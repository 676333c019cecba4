#!/usr/bin/env python3
"""Run the embedstore command line from a checkout, without installing it: ``python cli.py --help``.

The same Typer application as the ``embedstore`` console script (:data:`embedstore.cli.app`), always from the
checkout this file sits in (it comes first on ``sys.path``), whatever the current directory.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from embedstore.cli import app, main  # noqa: E402  (after the checkout is put first on the path)

__all__ = ["app", "main"]

if __name__ == "__main__":
    main()
