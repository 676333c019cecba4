"""The alignment notebook runs end to end on generated audio (executed with nbclient)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_notebook_quickstart import run_notebook

NB = Path(__file__).resolve().parent.parent / "notebooks" / "alignment.ipynb"


@pytest.mark.slow
def test_alignment_notebook_executes(tmp_path):
    nb = run_notebook(NB, tmp_path, env={"EMBEDSTORE_NB_WORKDIR": str(tmp_path)})
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"
    ]
    assert not errors
    assert (tmp_path / "alignment.png").stat().st_size > 10_000
    assert (tmp_path / "curves.png").stat().st_size > 10_000
    assert len(list((tmp_path / "beats").glob("*.csv"))) == 2
